package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFloorPercent(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		live, floor uint64
		base, want  int
	}{
		{live: 32 * mb, floor: 256 * mb, base: 100, want: 700},  // goal 256 MB
		{live: 128 * mb, floor: 256 * mb, base: 100, want: 100}, // GOGC reaches the floor
		{live: 900 * mb, floor: 256 * mb, base: 100, want: 100}, // a million bindings: unchanged
		{live: 100 * mb, floor: 256 * mb, base: 200, want: 200}, // a higher GOGC is kept
		{live: 0, floor: 256 * mb, base: 100, want: 6300},       // before the first cycle
		{live: 1, floor: 1 << 40, base: 100, want: maxGCPercent},
	} {
		if got := floorPercent(tc.live, tc.floor, tc.base); got != tc.want {
			t.Errorf("floorPercent(%d MB, %d MB, %d) = %d, want %d", tc.live/mb, tc.floor/mb, tc.base, got, tc.want)
		}
	}
}

// TestGCFloorTunesAfterEachCycle: after a collection the floor raises GOGC
// for the small heap of a test, and stop gives the base back.
func TestGCFloorTunesAfterEachCycle(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)
	tuned := make(chan int, 64)
	g := newGCFloor(1<<40, func(pct int) {
		select {
		case tuned <- pct:
		default:
		}
	})
	if g == nil {
		t.Fatal("floor off with GOGC 100")
	}
	if pct := <-tuned; pct != maxGCPercent {
		t.Fatalf("first tune: GOGC %d, want %d", pct, maxGCPercent)
	}
	g.arm()
	runtime.GC()
	if pct := <-tuned; pct != maxGCPercent {
		t.Errorf("after a cycle: GOGC %d", pct)
	}
	if got := debug.SetGCPercent(maxGCPercent); got != maxGCPercent {
		t.Errorf("runtime GOGC %d, want %d", got, maxGCPercent)
	}
	g.stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after stop GOGC %d, want the base 100", got)
	}

	debug.SetGCPercent(-1)
	if newGCFloor(1<<30, nil) != nil {
		t.Error("floor on with GOGC off")
	}
}
