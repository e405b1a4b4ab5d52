package devices

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("devices: store closed")

// Options configures a Store.
type Options struct {
	// Path of the database file, e.g. <data dir>/sipedge.db.
	Path string
}

// Store is the persistent directory of accounts, devices and tokens, with
// in-memory indexes rebuilt from disk at Open. Every write is durable (fsync'd)
// before the method returns. Safe for concurrent use.
//
// Concurrency: writes are serialised by mu and go to disk first; the
// in-memory state changes only after the commit succeeded. The hot-path
// lookups (ByUser, ByIP, AccountByRealm, Account) read immutable snapshots
// through atomic pointers and never wait. The admin listings take a read
// lock that writers hold only while swapping in-memory entries, never
// during disk I/O.
type Store struct {
	db *bolt.DB

	mu     sync.Mutex // serialises writers
	closed bool

	accts atomic.Pointer[accountSnap]
	users *userIndex
	ips   *ipIndex

	rw      sync.RWMutex                  // guards the maps below; writers also hold mu
	devices map[string]map[string]*Device // account id -> device id -> device
	macs    map[string]*Device            // NormalizeMAC(mac_address) -> device
	tokens  map[[32]byte]Token            // sha256(secret) -> token

	subMu sync.Mutex
	subs  atomic.Pointer[[]func(Change)]
}

// Open opens (creating if needed) the store and rebuilds the indexes.
func Open(opts Options) (*Store, error) {
	if opts.Path == "" {
		return nil, errors.New("devices: Options.Path is empty")
	}
	db, err := openDB(opts.Path)
	if err != nil {
		return nil, err
	}
	s := &Store{
		db:      db,
		users:   newUserIndex(),
		ips:     newIPIndex(),
		devices: map[string]map[string]*Device{},
		macs:    map[string]*Device{},
		tokens:  map[[32]byte]Token{},
	}
	s.accts.Store(&accountSnap{byID: map[string]*Account{}, byRealm: map[string]*Account{}})
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("devices: load %s: %w", opts.Path, err)
	}
	return s, nil
}

// load rebuilds every in-memory structure from disk.
func (s *Store) load() error {
	snap := &accountSnap{byID: map[string]*Account{}, byRealm: map[string]*Account{}}
	var changes []Change
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			pub, m, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("account %s: %w", k, err)
			}
			a := newAccount(pub, m)
			snap.byID[a.ID] = a
			if a.Realm != "" {
				snap.byRealm[a.Realm] = a
			}
			return nil
		})
		if err != nil {
			return err
		}
		changes, err = s.loadDevices(tx.Bucket(bucketHot), snap)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			var t Token
			if len(k) != 32 {
				return fmt.Errorf("token key of %d bytes", len(k))
			}
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("token: %w", err)
			}
			s.tokens[[32]byte(k)] = t
			return nil
		})
	})
	if err != nil {
		return err
	}
	s.accts.Store(snap)
	// Each account's map sized for its devices, not grown to it.
	per := make(map[string]int, len(snap.byID))
	for _, c := range changes {
		per[c.New.AccountID]++
	}
	for id := range snap.byID {
		s.devices[id] = make(map[string]*Device, per[id])
	}
	s.applyDevices(changes)
	return nil
}

// loadDevices decodes every hot record, on every CPU: at a million devices
// the decoding is most of a restart. Records are visited in key order and
// the result keeps it. The documents themselves stay on disk.
func (s *Store) loadDevices(b *bolt.Bucket, snap *accountSnap) ([]Change, error) {
	// Records in chunks of a fixed size, each decoded by one worker: one
	// slice of a million records grown by doubling was moved ~20 times.
	const chunk = 4096
	var recs [][][2][]byte // bbolt's memory, valid while the transaction is
	err := b.ForEach(func(k, v []byte) error {
		if n := len(recs); n == 0 || len(recs[n-1]) == chunk {
			recs = append(recs, make([][2][]byte, 0, chunk))
		}
		recs[len(recs)-1] = append(recs[len(recs)-1], [2][]byte{k, v})
		return nil
	})
	if err != nil {
		return nil, err
	}
	devs := make([][]*Device, len(recs))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for c := range recs {
		g.Go(func() error {
			out := make([]*Device, 0, len(recs[c]))
			for _, r := range recs[c] {
				h, err := parseHot(r[1])
				if err != nil {
					return fmt.Errorf("device %s: %w", r[0], err)
				}
				acct := snap.byID[h.AccountID]
				if acct == nil {
					continue // orphan of an interrupted account delete: invisible
				}
				d := newDevice(acct, h)
				d.src = s
				out = append(out, d)
			}
			devs[c] = out
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	n := 0
	for _, out := range devs {
		n += len(out)
	}
	changes := make([]Change, 0, n)
	for _, out := range devs {
		for _, d := range out {
			changes = append(changes, Change{New: d})
		}
	}
	return changes, nil
}

// storedDoc decodes a device's document as stored now; nil when there is
// none or the store cannot be read (closed).
func (s *Store) storedDoc(accountID, id string) map[string]any {
	if s == nil {
		return nil
	}
	var pub map[string]any
	_ = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketDevices).Get(deviceKey(accountID, id)); v != nil {
			pub, _, _ = decodeRecord(v)
		}
		return nil
	})
	return pub
}

// Close closes the database. Lookups keep answering from memory; writes
// return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// ---- accounts --------------------------------------------------------------

// newAccount builds an Account from its public document and metadata.
func newAccount(pub map[string]any, m recordMeta) *Account {
	name, _ := pub["name"].(string)
	realm, _ := pub["realm"].(string)
	enabled, ok := pub["enabled"].(bool)
	return &Account{
		ID:       m.ID,
		Name:     name,
		Realm:    lowerASCII(realm),
		Enabled:  enabled || !ok,
		Rev:      m.Rev,
		Created:  m.Created,
		Modified: m.Modified,
		Doc:      pub,
	}
}

// CreateAccount validates doc ({"name","realm",...}), fills defaults, assigns an id.
// A missing realm becomes "<first 8 hex of the id>.sip.sipedge.local".
func (s *Store) CreateAccount(doc map[string]any) (*Account, error) {
	pub, verr := prepareDoc(doc)
	if verr != nil {
		return nil, verr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putAccount(nil, pub)
}

// Account returns the account or ErrNotFound.
func (s *Store) Account(id string) (*Account, error) {
	if a := s.accts.Load().byID[id]; a != nil {
		return a, nil
	}
	return nil, ErrNotFound
}

// Accounts lists every account, ordered by name then id.
func (s *Store) Accounts() []*Account {
	snap := s.accts.Load()
	out := make([]*Account, 0, len(snap.byID))
	for _, a := range snap.byID {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *Account) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out
}

// AccountByRealm finds an account by realm, case-insensitively; nil if none.
// Does not allocate.
func (s *Store) AccountByRealm(realm string) *Account {
	m := s.accts.Load().byRealm
	var buf [253 * 4]byte
	if len(realm) > len(buf) {
		return nil
	}
	n := lowerInto(buf[:], realm)
	return m[string(buf[:n])]
}

// ReplaceAccount is POST semantics; ifMatch ("" = unconditional) is compared with Rev.
// A document without "realm" keeps the current realm.
func (s *Store) ReplaceAccount(id string, doc map[string]any, ifMatch string) (*Account, error) {
	pub, verr := prepareDoc(doc)
	if verr != nil {
		return nil, verr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.accountForWrite(id, ifMatch)
	if err != nil {
		return nil, err
	}
	return s.putAccount(old, pub)
}

// PatchAccount deep-merges patch (null deletes a key) then validates as ReplaceAccount.
func (s *Store) PatchAccount(id string, patch map[string]any, ifMatch string) (*Account, error) {
	p, verr := prepareDoc(patch)
	if verr != nil {
		return nil, verr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.accountForWrite(id, ifMatch)
	if err != nil {
		return nil, err
	}
	pub := deepCopyMap(old.Doc)
	delete(pub, "id")
	deepMerge(pub, p)
	return s.putAccount(old, pub)
}

func (s *Store) accountForWrite(id, ifMatch string) (*Account, error) {
	if s.closed {
		return nil, ErrClosed
	}
	old := s.accts.Load().byID[id]
	if old == nil {
		return nil, ErrNotFound
	}
	if !revMatches(ifMatch, old.Rev) {
		return nil, ErrStaleRevision
	}
	return old, nil
}

// putAccount validates and writes an account document (old nil: create).
// pub is canonical, without "id"; it becomes the stored document. Caller
// holds mu.
func (s *Store) putAccount(old *Account, pub map[string]any) (*Account, error) {
	if s.closed {
		return nil, ErrClosed
	}
	id := newID()
	if old != nil {
		id = old.ID
	}
	if _, ok := pub["realm"]; !ok {
		if old != nil {
			if r, ok := old.Doc["realm"]; ok {
				pub["realm"] = r
			}
		} else {
			pub["realm"] = id[:8] + ".sip.sipedge.local"
		}
	}
	fe := fieldErrors{}
	if verr := accountSchema().apply(pub); verr != nil {
		fe = verr.Fields
	}
	now := Gregorian(time.Now())
	m := recordMeta{ID: id, Type: "account", Created: now, Modified: now}
	if old != nil {
		m.Rev, m.Created = old.Rev, old.Created
	}
	m.Rev = nextRev(m.Rev)
	pub["id"] = id
	acct := newAccount(pub, m)

	snap := s.accts.Load()
	if other := snap.byRealm[acct.Realm]; acct.Realm != "" && other != nil && other.ID != id {
		fe.add([]string{"realm"}, "unique", map[string]any{"message": "Realm already in use", "cause": pub["realm"]})
	}
	// Devices follow their account's realm and enabled flag.
	var changes []Change
	if old != nil && (old.Realm != acct.Realm || old.Enabled != acct.Enabled) {
		for _, d := range s.devices[id] {
			changes = append(changes, Change{Old: d, New: rederive(d, acct)})
		}
		if old.Realm != acct.Realm {
			s.movedUserConflicts(changes, fe)
		}
	}
	if verr := fe.err(); verr != nil {
		return nil, verr
	}
	raw, err := encodeRecord(pub, m)
	if err != nil {
		return nil, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).Put([]byte(id), raw)
	})
	if err != nil {
		return nil, fmt.Errorf("devices: write account: %w", err)
	}
	s.accts.Store(snap.with(acct, old))
	if old == nil {
		s.rw.Lock()
		s.devices[id] = map[string]*Device{}
		s.rw.Unlock()
	}
	s.applyDevices(changes)
	s.notify(changes)
	return acct, nil
}

// movedUserConflicts reports SIP usernames that would collide once the
// devices in changes move to their account's new realm.
func (s *Store) movedUserConflicts(changes []Change, fe fieldErrors) {
	moving := make(map[string]bool, len(changes))
	for _, c := range changes {
		if c.Old.Realm != c.New.Realm {
			moving[c.Old.ID] = true
		}
	}
	var buf [userKeyMax]byte
	for _, c := range changes {
		if !moving[c.New.ID] {
			continue
		}
		n, ok := userKey(buf[:], c.New.Realm, c.New.Username)
		if !ok {
			continue
		}
		if other := s.users.get(buf[:n]); other != nil && !moving[other.ID] {
			fe.add([]string{"realm"}, "unique", map[string]any{"message": "SIP credentials already in use", "cause": c.New.Username})
		}
	}
}

// DeleteAccount removes the account, its devices and its tokens; returns the deleted account.
func (s *Store) DeleteAccount(id string) (*Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	snap := s.accts.Load()
	acct := snap.byID[id]
	if acct == nil {
		return nil, ErrNotFound
	}
	var changes []Change
	for _, d := range s.devices[id] {
		changes = append(changes, Change{Old: d})
	}
	var hashes [][32]byte
	for h, t := range s.tokens {
		if t.AccountID == id {
			hashes = append(hashes, h)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketAccounts).Delete([]byte(id)); err != nil {
			return err
		}
		// Every device under the account's key prefix, also any that did
		// not load (there are none, but the prefix scan is the truth).
		prefix := []byte(id + "/")
		for _, b := range [][]byte{bucketDevices, bucketHot} {
			c := tx.Bucket(b).Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		tb := tx.Bucket(bucketTokens)
		for _, h := range hashes {
			if err := tb.Delete(h[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devices: delete account: %w", err)
	}
	s.accts.Store(snap.with(nil, acct))
	s.applyDevices(changes)
	s.rw.Lock()
	delete(s.devices, id)
	for _, h := range hashes {
		delete(s.tokens, h)
	}
	s.rw.Unlock()
	s.notify(changes)
	return acct, nil
}

// ---- devices ---------------------------------------------------------------

// newDevice builds a Device from its hot values.
func newDevice(acct *Account, h hotValues) *Device {
	d := &Device{
		Name:            h.Name,
		PresenceID:      h.PresenceID,
		Number:          h.Number,
		ProgressTimeout: h.ProgressTimeout,
		HotdeskUsers:    h.HotdeskUsers,
		sipRealm:        h.Realm,
		enabled:         h.Enabled,
		enabledIsSet:    h.EnabledIsSet,

		ID:        h.ID,
		AccountID: acct.ID,
		Username:  h.Username,
		Password:  h.Password,
		Method:    h.Method,
		OwnerID:   h.OwnerID,

		MACAddress:                      h.MACAddress,
		RegisterOverwriteNotify:         h.RegisterOverwriteNotify,
		SuppressUnregisterNotifications: h.SuppressUnregisterNotifications,
		ExpireSeconds:                   h.ExpireSeconds,

		Rev:      h.Rev,
		Created:  h.Created,
		Modified: h.Modified,
	}
	if d.Method == "" {
		d.Method = "password"
	}
	// Most devices have no sip.ip, and a failed parse allocates its error.
	if h.IP != "" {
		if ip, err := netip.ParseAddr(h.IP); err == nil {
			d.IP = ipKey(ip)
		}
	}
	deriveFromAccount(d, acct)
	return d
}

// deriveFromAccount sets the fields that depend on the account.
func deriveFromAccount(d *Device, acct *Account) {
	if d.sipRealm != "" {
		d.Realm = lowerASCII(d.sipRealm)
	} else {
		d.Realm = acct.Realm
	}
	d.Enabled = (d.enabled || !d.enabledIsSet) && acct.Enabled
}

func member(m map[string]any, k string) map[string]any {
	o, _ := m[k].(map[string]any)
	return o
}

// seconds reads a number of seconds as JSON gives it (or as a string), 0
// when it is not one.
func seconds(v any) time.Duration {
	var secs float64
	switch v := v.(type) {
	case float64:
		secs = v
	case int:
		secs = float64(v)
	case int64:
		secs = float64(v)
	case string:
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0
		}
		secs = n
	case interface{ Float64() (float64, error) }:
		n, err := v.Float64()
		if err != nil {
			return 0
		}
		secs = n
	default:
		return 0
	}
	if secs <= 0 || secs > 3600 {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
}

// rederive returns a new snapshot of d under a changed account.
func rederive(d *Device, acct *Account) *Device {
	n := *d
	deriveFromAccount(&n, acct)
	return &n
}

func positiveInt(v any) int {
	f, ok := v.(float64)
	if !ok || f <= 0 || f > 1<<31-1 || f != float64(int(f)) {
		return 0
	}
	return int(f)
}

// CreateDevice validates doc against the Kazoo device schema, fills defaults, assigns an id.
// A client-supplied "id" is ignored; "sync" is dropped (the caller acts on it).
func (s *Store) CreateDevice(accountID string, doc map[string]any) (*Device, error) {
	pub, verr := prepareDoc(doc)
	if verr != nil {
		return nil, verr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	acct := s.accts.Load().byID[accountID]
	if acct == nil {
		return nil, ErrNotFound
	}
	return s.putDevice(acct, nil, pub)
}

// Device returns one device of the account or ErrNotFound.
func (s *Store) Device(accountID, id string) (*Device, error) {
	s.rw.RLock()
	d := s.devices[accountID][id]
	s.rw.RUnlock()
	if d == nil {
		return nil, ErrNotFound
	}
	return d, nil
}

// Devices lists the account's devices ordered by name then id; nil for an
// unknown account.
func (s *Store) Devices(accountID string) []*Device {
	s.rw.RLock()
	m, ok := s.devices[accountID]
	if !ok {
		s.rw.RUnlock()
		return nil
	}
	out := make([]*Device, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	s.rw.RUnlock()
	slices.SortFunc(out, func(a, b *Device) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out
}

// EachDevice calls fn with every device of every account, in no order; fn
// must not call back into the store. The index builders want all of them,
// and sorting a million by name, as Devices does for the API, was most of
// the cost.
func (s *Store) EachDevice(fn func(*Device)) {
	s.rw.RLock()
	defer s.rw.RUnlock()
	for _, m := range s.devices {
		for _, d := range m {
			fn(d)
		}
	}
}

// ReplaceDevice is POST semantics (full replacement of the public part).
// An "id" in doc is ignored: the path id wins.
func (s *Store) ReplaceDevice(accountID, id string, doc map[string]any, ifMatch string) (*Device, error) {
	pub, verr := prepareDoc(doc)
	if verr != nil {
		return nil, verr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	acct, old, err := s.deviceForWrite(accountID, id, ifMatch)
	if err != nil {
		return nil, err
	}
	return s.putDevice(acct, old, pub)
}

// PatchDevice deep-merges patch into the stored document, then validates as ReplaceDevice.
func (s *Store) PatchDevice(accountID, id string, patch map[string]any, ifMatch string) (*Device, error) {
	p, verr := prepareDoc(patch)
	if verr != nil {
		return nil, verr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	acct, old, err := s.deviceForWrite(accountID, id, ifMatch)
	if err != nil {
		return nil, err
	}
	pub := old.Doc()
	delete(pub, "id")
	deepMerge(pub, p)
	return s.putDevice(acct, old, pub)
}

func (s *Store) deviceForWrite(accountID, id, ifMatch string) (*Account, *Device, error) {
	if s.closed {
		return nil, nil, ErrClosed
	}
	acct := s.accts.Load().byID[accountID]
	if acct == nil {
		return nil, nil, ErrNotFound
	}
	old := s.devices[accountID][id]
	if old == nil {
		return nil, nil, ErrNotFound
	}
	if !revMatches(ifMatch, old.Rev) {
		return nil, nil, ErrStaleRevision
	}
	return acct, old, nil
}

// putDevice validates and writes a device document (old nil: create). pub
// is canonical, without "id"; it becomes the stored document. Caller holds mu.
func (s *Store) putDevice(acct *Account, old *Device, pub map[string]any) (*Device, error) {
	fe := fieldErrors{}
	if verr := deviceSchema().apply(pub); verr != nil {
		fe = verr.Fields
	}
	now := Gregorian(time.Now())
	m := recordMeta{ID: newID(), Type: "device", AccountID: acct.ID, Created: now, Modified: now}
	if old != nil {
		m.ID, m.Rev, m.Created = old.ID, old.Rev, old.Created
	}
	m.Rev = nextRev(m.Rev)
	raw, err := encodeRecord(pub, m)
	if err != nil {
		return nil, err
	}
	h := hotOf(pub, m)
	hot := appendHot(nil, &h)
	pub["id"] = m.ID
	dev := newDevice(acct, h)
	dev.src = s
	s.deviceConflicts(dev, pub, fe)
	if verr := fe.err(); verr != nil {
		return nil, verr
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		key := deviceKey(acct.ID, m.ID)
		if err := tx.Bucket(bucketDevices).Put(key, raw); err != nil {
			return err
		}
		return tx.Bucket(bucketHot).Put(key, hot)
	})
	if err != nil {
		return nil, fmt.Errorf("devices: write device: %w", err)
	}
	changes := []Change{{Old: old, New: dev}}
	s.applyDevices(changes)
	s.notify(changes)
	return dev, nil
}

// deviceConflicts adds the uniqueness failures of d (Kazoo's
// cb_devices_v2 checks) to fe. Caller holds mu.
func (s *Store) deviceConflicts(d *Device, pub map[string]any, fe fieldErrors) {
	sip, _ := pub["sip"].(map[string]any)
	var buf [userKeyMax]byte
	if n, ok := userKey(buf[:], d.Realm, d.Username); ok {
		if other := s.users.get(buf[:n]); other != nil && other.ID != d.ID {
			fe.add([]string{"sip", "username"}, "unique", map[string]any{"message": "SIP credentials already in use", "cause": d.Username})
		}
	}
	if d.Method == "ip" {
		// Kazoo: "Must be a valid IPv4 RFC 791"; sipedge also takes IPv6.
		ip, present := sip["ip"]
		switch {
		case !d.IP.IsValid():
			details := map[string]any{"message": "Must be a valid IP address"}
			if present {
				details["cause"] = ip
			}
			fe.add([]string{"sip", "ip"}, "type", details)
		default:
			if other := s.ips.get(d.IP); other != nil && other.ID != d.ID {
				fe.add([]string{"sip", "ip"}, "unique", map[string]any{"message": "SIP IP already in use", "cause": ip})
			}
		}
	}
	if mac := NormalizeMAC(d.MACAddress); mac != "" {
		if other := s.macs[mac]; other != nil && other.ID != d.ID {
			fe.add([]string{"mac_address"}, "unique", map[string]any{"message": "MAC address already in use", "cause": d.MACAddress})
		}
	}
}

// DeleteDevice removes the device and returns it; its Doc is the document
// it had, read before the delete (the store no longer has it).
func (s *Store) DeleteDevice(accountID, id string) (*Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, old, err := s.deviceForWrite(accountID, id, "")
	if err != nil {
		return nil, err
	}
	var rec string
	err = s.db.Update(func(tx *bolt.Tx) error {
		key := deviceKey(accountID, id)
		rec = string(tx.Bucket(bucketDevices).Get(key)) // a copy: bbolt's memory goes with tx
		if err := tx.Bucket(bucketDevices).Delete(key); err != nil {
			return err
		}
		return tx.Bucket(bucketHot).Delete(key)
	})
	if err != nil {
		return nil, fmt.Errorf("devices: delete device: %w", err)
	}
	changes := []Change{{Old: old}}
	s.applyDevices(changes)
	s.notify(changes)
	gone := *old
	gone.rec, gone.src = rec, nil
	return &gone, nil
}

// applyDevices swaps device snapshots into every in-memory structure.
// Caller holds mu (or is Open).
func (s *Store) applyDevices(changes []Change) {
	if len(changes) == 0 {
		return
	}
	udel, uput, idel, iput := indexEdits(changes)
	s.users.apply(udel, uput)
	s.ips.apply(idel, iput)
	s.rw.Lock()
	defer s.rw.Unlock()
	for _, c := range changes {
		if d := c.Old; d != nil {
			if mac := NormalizeMAC(d.MACAddress); mac != "" && s.macs[mac] == d {
				delete(s.macs, mac)
			}
			if c.New == nil {
				delete(s.devices[d.AccountID], d.ID)
			}
		}
		if d := c.New; d != nil {
			if mac := NormalizeMAC(d.MACAddress); mac != "" {
				s.macs[mac] = d
			}
			byID := s.devices[d.AccountID]
			if byID == nil {
				byID = map[string]*Device{}
				s.devices[d.AccountID] = byID
			}
			byID[d.ID] = d
		}
	}
}

// ---- hot path --------------------------------------------------------------

// ByUser finds a device by realm and SIP username, both case-insensitive.
// Nil if none. Does not allocate.
func (s *Store) ByUser(realm, username string) *Device {
	var buf [userKeyMax]byte
	n, ok := userKey(buf[:], realm, username)
	if !ok {
		return nil
	}
	return s.users.get(buf[:n])
}

// ByIP finds the IP-auth device (sip.method "ip") whose sip.ip is addr. Nil if none. Does not allocate.
// IPv4-mapped IPv6 addresses match their IPv4 form.
func (s *Store) ByIP(addr netip.Addr) *Device { return s.ips.get(addr) }

// ---- subscribers -----------------------------------------------------------

// Subscribe registers fn to be called, synchronously and after the write is
// durable, for every device created, replaced or deleted (also for each
// device whose snapshot changed because its account's realm or enabled flag
// changed, and for each device removed with its account). Calls come in
// write order from the writing goroutine while the store's write lock is
// held: fn may read from the store but must not write to it.
func (s *Store) Subscribe(fn func(Change)) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	var next []func(Change)
	if cur := s.subs.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, fn)
	s.subs.Store(&next)
}

func (s *Store) notify(changes []Change) {
	subs := s.subs.Load()
	if subs == nil {
		return
	}
	for _, c := range changes {
		for _, fn := range *subs {
			fn(c)
		}
	}
}

// FromDocument is a Device snapshot of a public device document outside
// any store, for code that compiles or routes documents it holds (tests,
// examples, tools): the fields are derived as the store derives them,
// under an enabled account with the given id and realm. It does not
// validate the document; one without an "id" gets a new one.
func FromDocument(accountID, accountRealm string, doc map[string]any) (*Device, error) {
	pub := deepCopyMap(doc)
	id, _ := pub["id"].(string)
	if id == "" {
		id = newID()
	}
	delete(pub, "id")
	m := recordMeta{ID: id, Type: "device", AccountID: accountID}
	rec, err := encodeRecord(pub, m)
	if err != nil {
		return nil, fmt.Errorf("devices: encode document: %w", err)
	}
	pub["id"] = id
	d := newDevice(&Account{ID: accountID, Realm: lowerASCII(accountRealm), Enabled: true}, hotOf(pub, m))
	d.rec = string(rec)
	return d, nil
}
