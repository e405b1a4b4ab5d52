package location

import (
	"hash/maphash"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"sync/atomic"
	"time"
)

// shardCount is a power of two so a hash picks a shard with a mask.
const shardCount = 256

// Options configures a Table.
type Options struct {
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
	// OnExpire, if set, is called (outside any lock) for each binding removed
	// because it expired.
	OnExpire func(aor string, b Binding)
	// Logger receives Run's housekeeping messages; nil discards them.
	Logger *slog.Logger
}

// Table is the sharded location table. AORs are "user@realm", lower-cased by
// the caller. Safe for concurrent use.
//
// Liveness is judged on the wall clock in Unix nanoseconds (a binding is live
// while Expires is after Now), the same unit snapshots store, so a restored
// binding expires exactly when the original would have.
type Table struct {
	now      func() time.Time
	onExpire func(aor string, b Binding)
	log      *slog.Logger
	seed     maphash.Seed

	expiredTotal atomic.Uint64
	snapFailures atomic.Uint64
	snapLast     atomic.Int64 // Unix ns of the last successful SaveFile

	shards [shardCount]shard
}

// New returns an empty table.
func New(opts Options) *Table {
	t := &Table{
		now:      opts.Now,
		onExpire: opts.OnExpire,
		log:      opts.Logger,
		seed:     maphash.MakeSeed(),
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.log == nil {
		t.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for i := range t.shards {
		t.shards[i].init()
	}
	return t
}

// reserve sizes every empty shard for aors AORs spread over all shards.
func (t *Table) reserve(aors int) {
	per := aors/shardCount + aors/shardCount/8 + 1 // the hash is not perfectly even
	for i := range t.shards {
		t.shards[i].reserve(per)
	}
}

func (t *Table) shard(aor string) *shard {
	return &t.shards[maphash.String(t.seed, aor)&(shardCount-1)]
}

// Lookup appends copies of aor's live (unexpired) bindings to dst and returns
// it. It does not allocate when dst has room.
func (t *Table) Lookup(aor string, dst []Binding) []Binding {
	now := unixNano(t.now())
	s := t.shard(aor)
	s.mu.RLock()
	e := s.m[aor]
	for i := range e.bindings {
		if unixNano(e.bindings[i].Expires) > now {
			dst = append(dst, e.bindings[i])
		}
	}
	s.mu.RUnlock()
	return dst
}

// Update replaces aor's bindings with what fn returns, atomically under the
// AOR's shard lock. fn gets the current live bindings (a slice it may reuse)
// and returns the new set; an empty result removes the AOR. fn must not call
// back into the Table.
//
// cur is a copy owned by the table: fn may modify and append to it, and must
// not keep it. The table copies what fn returns, and keeps its own copies of
// the strings. Bindings of aor that had expired but were not yet swept are
// dropped and reported to OnExpire.
func (t *Table) Update(aor string, fn func(cur []Binding) []Binding) {
	gone := t.update(aor, fn)
	t.report(gone)
}

func (t *Table) update(aor string, fn func(cur []Binding) []Binding) (gone []expired) {
	now := unixNano(t.now())
	s := t.shard(aor)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[aor]
	cur := s.in[:0]
	for i := range e.bindings {
		if unixNano(e.bindings[i].Expires) > now {
			cur = append(cur, e.bindings[i])
		} else {
			gone = append(gone, expired{aor: e.key, b: e.bindings[i]})
		}
	}
	// Taken back before fn runs so a panicking fn leaves no dangling buffer.
	s.in = nil
	next := fn(cur)
	s.set(aor, e, ok, next)
	clear(cur[:cap(cur)])
	s.in = cur[:0]
	s.setNext()
	return gone
}

// Remove deletes aor and returns the bindings it had. Only live bindings are
// returned; expired ones not yet swept go to OnExpire.
func (t *Table) Remove(aor string) []Binding {
	now := unixNano(t.now())
	s := t.shard(aor)
	var live []Binding
	var gone []expired
	s.mu.Lock()
	if e, ok := s.m[aor]; ok {
		for i := range e.bindings {
			if unixNano(e.bindings[i].Expires) > now {
				live = append(live, e.bindings[i])
			} else {
				gone = append(gone, expired{aor: e.key, b: e.bindings[i]})
			}
		}
		s.set(aor, e, true, nil)
	}
	s.mu.Unlock()
	t.report(gone)
	return live
}

// RemoveFlow deletes every binding whose flow is (transport, source), e.g.
// when that TCP connection closed, and returns how many went. Expired ones
// not yet swept go to OnExpire and are not counted.
//
// Connection-oriented flows are found through each shard's flow index, so a
// close costs O(shards) map probes however big the table is. UDP flows are
// not indexed (a datagram "flow" never closes); RemoveFlow(UDP, …) scans.
func (t *Table) RemoveFlow(tr Transport, source netip.AddrPort) int {
	now := unixNano(t.now())
	f := flowKey{source, tr}
	n := 0
	var gone []expired
	var aors []string
	for i := range t.shards {
		s := &t.shards[i]
		if tr != UDP {
			s.mu.RLock()
			_, found := s.flows[f]
			s.mu.RUnlock()
			if !found {
				continue
			}
		}
		s.mu.Lock()
		if tr == UDP {
			aors = aors[:0]
			for _, e := range s.m {
				if hasFlow(e.bindings, f) {
					aors = append(aors, e.key)
				}
			}
		} else {
			aors = append(aors[:0], s.flows[f]...)
		}
		for _, aor := range aors {
			e, ok := s.m[aor]
			if !ok {
				continue
			}
			keep := s.in[:0]
			for j := range e.bindings {
				b := &e.bindings[j]
				switch {
				case b.Transport != tr || b.Source != source:
					keep = append(keep, *b)
				case unixNano(b.Expires) > now:
					n++
				default:
					gone = append(gone, expired{aor: e.key, b: *b})
				}
			}
			s.set(aor, e, true, keep)
			clear(keep)
			s.in = keep[:0]
		}
		s.setNext()
		s.mu.Unlock()
		t.report(gone)
		gone = gone[:0]
	}
	return n
}

// Range calls fn for every live binding until fn returns false. fn must not
// call back into the Table. b points to a copy that is valid only during the
// call. Each shard is read-locked while its bindings are visited.
func (t *Table) Range(fn func(aor string, b *Binding) bool) {
	now := unixNano(t.now())
	var b Binding
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		for _, e := range s.m {
			for j := range e.bindings {
				if unixNano(e.bindings[j].Expires) <= now {
					continue
				}
				b = e.bindings[j]
				if !fn(e.key, &b) {
					s.mu.RUnlock()
					return
				}
			}
		}
		s.mu.RUnlock()
	}
}

// Stats counts AORs and contacts (by transport) without scanning the table.
// Bindings that expired but were not yet swept by Expire are still counted,
// so the figures lag by at most one expire interval.
func (t *Table) Stats() (aors int, contacts [5]int) {
	for i := range t.shards {
		s := &t.shards[i]
		aors += int(s.aors.Load())
		for tr := range contacts {
			contacts[tr] += int(s.contacts[tr].Load())
		}
	}
	return aors, contacts
}

// ExpiredTotal is how many bindings have expired since the table was made.
func (t *Table) ExpiredTotal() uint64 { return t.expiredTotal.Load() }

// Bounds of the Unix seconds whose nanoseconds fit an int64.
const (
	minUnixSec = math.MinInt64/int64(time.Second) + 1
	maxUnixSec = math.MaxInt64/int64(time.Second) - 1
)

// unixNano is t.UnixNano clamped to int64, with the zero time (and anything
// before 1678) as MinInt64 so it is always expired.
func unixNano(t time.Time) int64 {
	switch s := t.Unix(); {
	case s < minUnixSec:
		return math.MinInt64
	case s > maxUnixSec:
		return math.MaxInt64
	}
	return t.UnixNano()
}
