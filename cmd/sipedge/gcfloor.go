package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// The garbage collector starts a cycle when the heap has grown by GOGC
// percent of what the last cycle found live. An edge with a few thousand
// devices has a live heap of tens of megabytes, so under load it collects
// every few milliseconds, and the marking runs on the same cores that
// answer SIP: that was most of the REGISTER p99 tail on one core. The
// floor keeps the heap goal at runtime.gc_floor_mb at least; above it
// GOGC rules unchanged, so a million bindings cost no more memory.

// maxGCPercent bounds the GOGC the floor sets for a nearly empty heap.
const maxGCPercent = 10000

// minLiveHeap is what the runtime assumes live before its first cycle
// (its minimum heap goal is 4 MB at GOGC 100).
const minLiveHeap = 4 << 20

// floorPercent is the GOGC that puts the heap goal, live*(1+GOGC/100),
// at floor or above, and never below base.
func floorPercent(live, floor uint64, base int) int {
	live = max(live, minLiveHeap)
	if live*uint64(100+base)/100 >= floor {
		return base
	}
	pct := floor*100/live - 100
	return int(min(pct, maxGCPercent))
}

// gcFloor re-tunes GOGC after every collection, from a finalizer that
// re-arms itself: the runtime runs it after each cycle that found its
// sentinel unreachable, right when the new live heap is known.
type gcFloor struct {
	floor   uint64
	base    int
	sample  []metrics.Sample
	stopped atomic.Bool

	mu     sync.Mutex
	last   int
	onTune func(pct int) // tests
}

type gcSentinel struct{ _ *int } // a pointer: never in the tiny allocator, so finalizable

// startGCFloor keeps the heap goal at floor bytes or more; the GOGC set in
// the environment (default 100) is its base. Off when floor is 0 or GOGC
// is off. stop restores the base.
func startGCFloor(floor uint64) (stop func()) {
	g := newGCFloor(floor, nil)
	if g == nil {
		return func() {}
	}
	g.arm()
	return g.stop
}

func newGCFloor(floor uint64, onTune func(int)) *gcFloor {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if floor == 0 || base < 0 {
		return nil
	}
	g := &gcFloor{floor: floor, base: base, last: base, onTune: onTune,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	g.tune()
	return g
}

func (g *gcFloor) arm() {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		if g.stopped.Load() {
			return
		}
		g.tune()
		g.arm()
	})
}

func (g *gcFloor) tune() {
	g.mu.Lock()
	defer g.mu.Unlock()
	metrics.Read(g.sample)
	var live uint64
	if g.sample[0].Value.Kind() == metrics.KindUint64 {
		live = g.sample[0].Value.Uint64()
	}
	pct := floorPercent(live, g.floor, g.base)
	// Setting GOGC recomputes the pacer; skip changes under a tenth.
	if d := pct - g.last; d != 0 && (d*10 > g.last || d*10 < -g.last || pct == g.base) {
		debug.SetGCPercent(pct)
		g.last = pct
	}
	if g.onTune != nil {
		g.onTune(g.last)
	}
}

func (g *gcFloor) stop() {
	g.stopped.Store(true)
	g.mu.Lock()
	defer g.mu.Unlock()
	debug.SetGCPercent(g.base)
}
