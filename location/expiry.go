package location

import (
	"context"
	"fmt"
	"math"
	"time"
)

// heapItem schedules a look at aor when exp (Unix ns) has passed.
type heapItem struct {
	exp int64
	aor string
}

// expHeap is a binary min-heap on exp. Hand-written rather than
// container/heap, whose interface boxes every pushed item.
type expHeap []heapItem

func (h expHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].exp <= h[i].exp {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (h expHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h[r].exp < h[l].exp {
			c = r
		}
		if h[i].exp <= h[c].exp {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// push schedules aor at exp. Items go stale instead of being removed (a
// refreshed or deleted AOR), so the heap is rebuilt from the live AORs once
// stale items outnumber them: each AOR then has exactly one item again, and
// constant refreshes or churn cannot grow it without bound.
func (s *shard) push(aor string, exp int64) {
	if len(s.heap) > 2*len(s.m)+64 {
		s.compact()
	}
	s.heap = append(s.heap, heapItem{exp: exp, aor: aor})
	s.heap.up(len(s.heap) - 1)
	s.next.Store(s.heap[0].exp)
}

func (s *shard) compact() {
	h := s.heap[:0]
	for _, e := range s.m {
		h = append(h, heapItem{exp: e.sched, aor: e.key})
	}
	clear(s.heap[len(h):])
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	s.heap = h
}

func (s *shard) pop() heapItem {
	h := s.heap
	it := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = heapItem{}
	h = h[:n]
	h.down(0)
	s.heap = h
	return it
}

func (s *shard) setNext() {
	if len(s.heap) == 0 {
		s.next.Store(math.MaxInt64)
		return
	}
	s.next.Store(s.heap[0].exp)
}

// expire removes what expired in this shard by now and appends it to gone.
func (s *shard) expire(now int64, gone []expired) []expired {
	if s.next.Load() > now {
		return gone
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.heap) > 0 && s.heap[0].exp <= now {
		it := s.pop()
		e, ok := s.m[it.aor]
		if !ok || e.sched != it.exp {
			continue // stale: the AOR went or was rescheduled
		}
		// This item is consumed: make set schedule whatever remains.
		e.sched = math.MaxInt64
		keep := s.in[:0]
		for i := range e.bindings {
			if unixNano(e.bindings[i].Expires) > now {
				keep = append(keep, e.bindings[i])
			} else {
				gone = append(gone, expired{aor: e.key, b: e.bindings[i]})
			}
		}
		s.set(e.key, e, true, keep)
		clear(keep)
		s.in = keep[:0]
	}
	s.setNext()
	return gone
}

// Expire removes the bindings that expired by now. Run regularly by Run; tests
// call it directly with an injected clock.
func (t *Table) Expire() int {
	now := unixNano(t.now())
	var gone []expired
	n := 0
	for i := range t.shards {
		gone = t.shards[i].expire(now, gone[:0])
		n += len(gone)
		t.report(gone)
	}
	return n
}

// report hands expired bindings to OnExpire; never called with a lock held.
func (t *Table) report(gone []expired) {
	if len(gone) == 0 {
		return
	}
	t.expiredTotal.Add(uint64(len(gone)))
	if t.onExpire != nil {
		for i := range gone {
			t.onExpire(gone[i].aor, gone[i].b)
		}
	}
	clear(gone)
}

// Run expires bindings every interval and, when snapshotPath is set, saves a
// snapshot every snapshotEvery and once more when ctx ends. It returns when
// ctx is done, after the final snapshot.
func (t *Table) Run(ctx context.Context, interval time.Duration, snapshotPath string, snapshotEvery time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("location: run: expire interval %v must be positive", interval)
	}
	expireTick := time.NewTicker(interval)
	defer expireTick.Stop()
	var snapC <-chan time.Time
	if snapshotPath != "" && snapshotEvery > 0 {
		snapTick := time.NewTicker(snapshotEvery)
		defer snapTick.Stop()
		snapC = snapTick.C
	}
	for {
		select {
		case <-ctx.Done():
			if snapshotPath == "" {
				return nil
			}
			if err := t.SaveFile(snapshotPath); err != nil {
				return fmt.Errorf("location: final snapshot: %w", err)
			}
			t.log.Debug("location snapshot saved", "path", snapshotPath, "final", true)
			return nil
		case <-expireTick.C:
			if n := t.Expire(); n > 0 {
				t.log.Debug("location bindings expired", "count", n)
			}
		case <-snapC:
			// A failed periodic save is retried next tick; the previous
			// snapshot stays intact because saves rename atomically.
			if err := t.SaveFile(snapshotPath); err != nil {
				t.log.Warn("location snapshot failed", "path", snapshotPath, "err", err)
			}
		}
	}
}
