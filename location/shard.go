package location

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// aorEntry is what a shard stores per AOR. It is a map value, not a pointer,
// to save an allocation and a pointer per AOR.
type aorEntry struct {
	// key is the map's own copy of the AOR, shared by the heap and the flow
	// index so neither holds a caller's string.
	key      string
	bindings []Binding
	// sched is the expiry of this AOR's authoritative heap item; heap items
	// with another value are stale and skipped when popped.
	sched int64
}

// flowKey identifies a connection: RemoveFlow's unit.
type flowKey struct {
	src netip.AddrPort
	tr  Transport
}

// expired is a binding removed because it expired, reported to OnExpire after
// the shard lock is released.
type expired struct {
	aor string
	b   Binding
}

// shard is one of the table's lock domains. Everything but the counters is
// guarded by mu; the counters are atomics so Stats never takes a lock.
type shard struct {
	mu sync.RWMutex
	m  map[string]aorEntry
	// heap orders (expiry, aor) so Expire only touches what is due.
	heap expHeap
	// flows indexes connection-oriented flows to the AORs using them.
	flows map[flowKey][]string
	// intern holds one refcounted copy of the strings many bindings repeat.
	intern map[string]*internRef
	// in and out are reusable buffers for Update, kept to avoid allocating on
	// every refresh.
	in, out []Binding

	next     atomic.Int64 // earliest heap expiry, or MaxInt64 when empty
	aors     atomic.Int64
	contacts [numTransports]atomic.Int64

	_ [64]byte // keep neighbouring shards' hot words off this cache line
}

type internRef struct {
	s string
	n int
}

func (s *shard) init() {
	s.m = make(map[string]aorEntry)
	s.flows = make(map[flowKey][]string)
	s.intern = make(map[string]*internRef)
	s.next.Store(math.MaxInt64)
}

// retain returns the shard's canonical copy of v and counts one more user.
func (s *shard) retain(v string) string {
	if v == "" {
		return ""
	}
	if r, ok := s.intern[v]; ok {
		r.n++
		return r.s
	}
	c := strings.Clone(v)
	s.intern[c] = &internRef{s: c, n: 1}
	return c
}

func (s *shard) release(v string) {
	if v == "" {
		return
	}
	r, ok := s.intern[v]
	if !ok {
		return
	}
	if r.n--; r.n <= 0 {
		delete(s.intern, v)
	}
}

// own returns a copy of v the table may keep: an equal string already held
// by one of old when there is one (a refresh then allocates nothing), else a
// clone, so the table never pins a caller's packet buffer or keeps a string
// whose bytes the caller reuses.
func own(v string, old []Binding, field func(*Binding) string, a *strArena) string {
	if v == "" {
		return ""
	}
	for i := range old {
		if o := field(&old[i]); o == v {
			return o
		}
	}
	if a != nil {
		return a.clone(v)
	}
	return strings.Clone(v)
}

// strArena copies strings into one allocation made for all of them: a
// restored binding's strings and its AOR cost one allocation, not six.
// The strings keep the whole buffer alive, which is what a binding holds
// anyway until it is replaced.
type strArena struct{ buf []byte }

func newStrArena(n int) *strArena { return &strArena{buf: make([]byte, 0, n)} }

// clone copies v into the arena, or allocates when the arena is full (it
// never grows: the strings already handed out view its buffer).
func (a *strArena) clone(v string) string {
	if v == "" {
		return ""
	}
	if len(v) > cap(a.buf)-len(a.buf) {
		return strings.Clone(v)
	}
	at := len(a.buf)
	a.buf = append(a.buf, v...)
	return unsafe.String(&a.buf[at], len(v))
}

func fContact(b *Binding) string         { return b.Contact }
func fOriginalContact(b *Binding) string { return b.OriginalContact }
func fCallID(b *Binding) string          { return b.CallID }
func fDeviceID(b *Binding) string        { return b.DeviceID }
func fUsername(b *Binding) string        { return b.Username }
func fPreviousContact(b *Binding) string { return b.PreviousContact }

// set replaces the bindings of aor with next, keeping the counters, the
// interned strings, the flow index and the expiry heap in step. e and exists
// are what s.m holds for aor. next must not share memory with e.bindings.
// Called with s.mu held for writing.
func (s *shard) set(aor string, e aorEntry, exists bool, next []Binding) {
	if !exists {
		if len(next) == 0 {
			return
		}
		e.key = strings.Clone(aor)
	}
	aor = e.key
	old := e.bindings
	out := s.out[:0]
	for i := range next {
		b := next[i]
		// Retained before the old set is released so a refresh never drops
		// the last reference and re-clones the same string.
		s.own(&b, aor, old, nil)
		out = append(out, b)
	}
	for i := range old {
		b := &old[i]
		s.release(b.UserAgent)
		s.release(b.AccountID)
		s.release(b.Realm)
		s.count(b.Transport, -1)
	}
	s.reindexFlows(aor, old, out)

	if len(out) == 0 {
		clear(old)
		delete(s.m, aor)
		s.aors.Add(-1)
		s.out = out
		return
	}
	if !exists {
		s.aors.Add(1)
	}
	stored := old
	if cap(stored) < len(out) || cap(stored) > 2*len(out)+4 {
		stored = make([]Binding, 0, len(out))
	}
	stored = append(stored[:0], out...)
	if len(old) > len(stored) && &old[:1][0] == &stored[:1][0] {
		clear(old[len(stored):])
	}
	clear(out)
	s.out = out[:0]

	minExp := int64(math.MaxInt64)
	for i := range stored {
		minExp = min(minExp, unixNano(stored[i].Expires))
	}
	if !exists || minExp < e.sched {
		e.sched = minExp
		s.push(aor, minExp)
	}
	e.bindings = stored
	s.m[aor] = e
}

// own makes b's strings the shard's (b is about to be stored under key):
// copies, or those of old bindings equal to them, or interned ones, so that
// nothing stored keeps a caller's buffer alive. It counts b in.
func (s *shard) own(b *Binding, key string, old []Binding, a *strArena) {
	b.OriginalContact = own(b.OriginalContact, old, fOriginalContact, a)
	// The Contact URI is nearly always inside the Contact header value,
	// and the username the start of the AOR: share their bytes.
	if contactInside(b) {
		at := strings.Index(b.OriginalContact, b.Contact)
		b.Contact = b.OriginalContact[at : at+len(b.Contact)]
	} else {
		b.Contact = own(b.Contact, old, fContact, a)
	}
	if strings.HasPrefix(key, b.Username) {
		b.Username = key[:len(b.Username)]
	} else {
		b.Username = own(b.Username, old, fUsername, a)
	}
	b.CallID = own(b.CallID, old, fCallID, a)
	b.DeviceID = own(b.DeviceID, old, fDeviceID, a)
	b.PreviousContact = own(b.PreviousContact, old, fPreviousContact, a)
	b.UserAgent = s.retain(b.UserAgent)
	b.AccountID = s.retain(b.AccountID)
	b.Realm = s.retain(b.Realm)
	s.count(b.Transport, 1)
}

func contactInside(b *Binding) bool {
	return b.Contact != "" && strings.Contains(b.OriginalContact, b.Contact)
}

// adopt stores bs, a slice the caller hands over, as the bindings of aor,
// which the shard does not hold: what set does, without its two copies of
// the slice, for a restore, and with the AOR and the strings of its
// bindings in one allocation. Called with s.mu held for writing.
func (s *shard) adopt(aor string, bs []Binding) {
	n := len(aor)
	for i := range bs {
		b := &bs[i]
		n += len(b.OriginalContact) + len(b.CallID) + len(b.DeviceID) + len(b.PreviousContact)
		if !contactInside(b) {
			n += len(b.Contact)
		}
		if !strings.HasPrefix(aor, b.Username) {
			n += len(b.Username)
		}
	}
	a := newStrArena(n)
	key := a.clone(aor)
	minExp := int64(math.MaxInt64)
	for i := range bs {
		s.own(&bs[i], key, nil, a)
		minExp = min(minExp, unixNano(bs[i].Expires))
	}
	s.reindexFlows(key, nil, bs)
	s.aors.Add(1)
	s.push(key, minExp)
	s.setNext()
	s.m[key] = aorEntry{key: key, bindings: bs, sched: minExp}
}

func (s *shard) count(tr Transport, d int64) {
	if int(tr) < numTransports {
		s.contacts[tr].Add(d)
	}
}

// reindexFlows updates the flow index for aor's change from old to next.
// UDP is not indexed: it has no connection whose close needs RemoveFlow, and
// leaving it out saves an index entry for most bindings.
func (s *shard) reindexFlows(aor string, old, next []Binding) {
	for i := range old {
		f := flowKey{old[i].Source, old[i].Transport}
		if f.tr == UDP || hasFlow(old[:i], f) || hasFlow(next, f) {
			continue
		}
		s.unindex(f, aor)
	}
	for i := range next {
		f := flowKey{next[i].Source, next[i].Transport}
		if f.tr == UDP || hasFlow(next[:i], f) || hasFlow(old, f) {
			continue
		}
		s.flows[f] = append(s.flows[f], aor)
	}
}

func (s *shard) unindex(f flowKey, aor string) {
	list := s.flows[f]
	for j, a := range list {
		if a == aor {
			list[j] = list[len(list)-1]
			list[len(list)-1] = ""
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(s.flows, f)
		return
	}
	s.flows[f] = list
}

func hasFlow(bs []Binding, f flowKey) bool {
	for i := range bs {
		if bs[i].Transport == f.tr && bs[i].Source == f.src {
			return true
		}
	}
	return false
}

// reserve grows an empty shard's AOR map and expiry heap for about n AORs,
// so that a restore does not rehash its way up from nothing.
func (s *shard) reserve(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) > 0 {
		return
	}
	s.m = make(map[string]aorEntry, n)
	s.heap = slices.Grow(s.heap, n)
}
