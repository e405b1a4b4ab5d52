package devices

import (
	"hash/maphash"
	"maps"
	"net/netip"
	"sync/atomic"
)

// The SIP hot path reads two indexes: (realm, username) -> device and
// source IP -> IP-auth device. Each is split into shards; a shard is an
// immutable map behind an atomic.Pointer. Readers do one atomic load and one
// map lookup: no lock, no allocation, never blocked by a writer. The single
// writer (Store.mu) copies only the shards it touches, so a write costs
// O(devices/indexShards), not O(devices).

const indexShards = 64 // power of two

// userKeyMax bounds a user-index key: 2 bytes of realm length, the realm
// (schema: at most 253 characters, so 253*4 bytes of UTF-8) and the username
// (at most 32 characters). Longer input cannot match a stored device.
const userKeyMax = 2 + 253*4 + 32*4

// userKey writes the index key of (realm, username) into dst, ASCII
// lower-cased: a 2-byte big-endian realm length, the realm, the username. The
// length prefix keeps ("a", "bc") and ("ab", "c") apart whatever the bytes.
func userKey(dst []byte, realm, username string) (int, bool) {
	n := 2 + len(realm) + len(username)
	if realm == "" || username == "" || n > len(dst) {
		return 0, false
	}
	dst[0] = byte(len(realm) >> 8)
	dst[1] = byte(len(realm))
	lowerInto(dst[2:], realm)
	lowerInto(dst[2+len(realm):], username)
	return n, true
}

// indexEdit is one change to an index: dev nil deletes the key.
type indexEdit[K comparable] struct {
	key K
	dev *Device
}

type userIndex struct {
	seed   maphash.Seed
	shards [indexShards]atomic.Pointer[map[string]*Device]
}

func newUserIndex() *userIndex { return &userIndex{seed: maphash.MakeSeed()} }

func (x *userIndex) shard(key []byte) *atomic.Pointer[map[string]*Device] {
	return &x.shards[x.slot(key)]
}

func (x *userIndex) slot(key []byte) int { return int(maphash.Bytes(x.seed, key) & (indexShards - 1)) }

// bulkEdits is where an index edit counts as a bulk load.
const bulkEdits = 4 * indexShards

// get looks a key up; string(key) in the map index does not allocate.
func (x *userIndex) get(key []byte) *Device {
	m := x.shard(key).Load()
	if m == nil {
		return nil
	}
	return (*m)[string(key)]
}

// apply performs edits (deletes first, then puts) shard by shard. Writers
// only, serialised by the store.
func (x *userIndex) apply(dels, puts []indexEdit[string]) {
	// A bulk load (a start with a million devices, an import) sizes each
	// shard's map for what it is about to hold: growing them one rehash
	// at a time was a fifth of a restart.
	var grow *[indexShards]int
	if len(puts) >= bulkEdits {
		grow = new([indexShards]int)
		for _, e := range puts {
			grow[x.slot([]byte(e.key))]++
		}
	}
	touched := map[*atomic.Pointer[map[string]*Device]]map[string]*Device{}
	next := func(key string) map[string]*Device {
		i := x.slot([]byte(key))
		sh := &x.shards[i]
		m, ok := touched[sh]
		if !ok {
			cur := sh.Load()
			switch {
			case grow != nil:
				n := grow[i]
				if cur != nil {
					n += len(*cur)
				}
				m = make(map[string]*Device, n)
				if cur != nil {
					maps.Copy(m, *cur)
				}
			case cur != nil:
				m = maps.Clone(*cur)
			default:
				m = map[string]*Device{}
			}
			touched[sh] = m
		}
		return m
	}
	for _, e := range dels {
		delete(next(e.key), e.key)
	}
	for _, e := range puts {
		next(e.key)[e.key] = e.dev
	}
	for sh, m := range touched {
		sh.Store(&m)
	}
}

type ipIndex struct {
	seed   maphash.Seed
	shards [indexShards]atomic.Pointer[map[netip.Addr]*Device]
}

func newIPIndex() *ipIndex { return &ipIndex{seed: maphash.MakeSeed()} }

// ipKey is the form addresses are indexed under: IPv4-mapped IPv6 unmapped,
// zone dropped.
func ipKey(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

func (x *ipIndex) shard(a netip.Addr) *atomic.Pointer[map[netip.Addr]*Device] {
	b := a.As16()
	return &x.shards[maphash.Bytes(x.seed, b[:])&(indexShards-1)]
}

func (x *ipIndex) get(a netip.Addr) *Device {
	if !a.IsValid() {
		return nil
	}
	a = ipKey(a)
	m := x.shard(a).Load()
	if m == nil {
		return nil
	}
	return (*m)[a]
}

func (x *ipIndex) apply(dels, puts []indexEdit[netip.Addr]) {
	touched := map[*atomic.Pointer[map[netip.Addr]*Device]]map[netip.Addr]*Device{}
	next := func(key netip.Addr) map[netip.Addr]*Device {
		sh := x.shard(key)
		m, ok := touched[sh]
		if !ok {
			if cur := sh.Load(); cur != nil {
				m = maps.Clone(*cur)
			} else {
				m = map[netip.Addr]*Device{}
			}
			touched[sh] = m
		}
		return m
	}
	for _, e := range dels {
		delete(next(e.key), e.key)
	}
	for _, e := range puts {
		next(e.key)[e.key] = e.dev
	}
	for sh, m := range touched {
		sh.Store(&m)
	}
}

// accountSnap is the immutable set of accounts (few, written rarely):
// replaced as a whole on every account write.
type accountSnap struct {
	byID    map[string]*Account
	byRealm map[string]*Account // lower-cased realm
}

func (a *accountSnap) with(acct *Account, old *Account) *accountSnap {
	n := &accountSnap{byID: maps.Clone(a.byID), byRealm: maps.Clone(a.byRealm)}
	if old != nil {
		delete(n.byID, old.ID)
		delete(n.byRealm, old.Realm)
	}
	if acct != nil {
		n.byID[acct.ID] = acct
		if acct.Realm != "" {
			n.byRealm[acct.Realm] = acct
		}
	}
	return n
}

// edits turns device changes into index edits.
func indexEdits(changes []Change) (udel, uput []indexEdit[string], idel, iput []indexEdit[netip.Addr]) {
	var buf [userKeyMax]byte
	if len(changes) >= bulkEdits {
		// Nearly always one put per new device: no regrowing at a start.
		uput = make([]indexEdit[string], 0, len(changes))
	}
	for _, c := range changes {
		if d := c.Old; d != nil {
			if n, ok := userKey(buf[:], d.Realm, d.Username); ok {
				udel = append(udel, indexEdit[string]{key: string(buf[:n])})
			}
			if isIPAuth(d) {
				idel = append(idel, indexEdit[netip.Addr]{key: d.IP})
			}
		}
	}
	for _, c := range changes {
		if d := c.New; d != nil {
			if n, ok := userKey(buf[:], d.Realm, d.Username); ok {
				uput = append(uput, indexEdit[string]{key: string(buf[:n]), dev: d})
			}
			if isIPAuth(d) {
				iput = append(iput, indexEdit[netip.Addr]{key: d.IP, dev: d})
			}
		}
	}
	return udel, uput, idel, iput
}

// isIPAuth tells whether d belongs in the IP index.
func isIPAuth(d *Device) bool { return d.Method == "ip" && d.IP.IsValid() }
