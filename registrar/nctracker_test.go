package registrar

import (
	"fmt"
	"testing"
)

func TestNCTrackerRefusesReplays(t *testing.T) {
	tr := newNCTracker(8)
	if !tr.advance("n1", 1) {
		t.Fatal("first use of a nonce refused")
	}
	if tr.advance("n1", 1) {
		t.Fatal("the same nonce count accepted twice")
	}
	if !tr.advance("n1", 3) {
		t.Fatal("a higher nonce count refused")
	}
	if tr.advance("n1", 2) {
		t.Fatal("a lower nonce count accepted")
	}
	if !tr.advance("n2", 1) {
		t.Fatal("another nonce's first use refused")
	}
}

// A nonce still in use is remembered across generations; the tracker holds
// at most size entries; one unseen for two generations is forgotten.
func TestNCTrackerGenerations(t *testing.T) {
	tr := newNCTracker(8) // two generations of 4
	tr.advance("kept", 1)
	tr.advance("old", 1)
	for i := range 6 {
		tr.advance(fmt.Sprint("a", i), 1)
		// "kept" is used again in every generation: promoted each time.
		if !tr.advance("kept", uint32(i+2)) {
			t.Fatalf("step %d: a live nonce's next count refused", i)
		}
		if n := len(tr.cur) + len(tr.prev); n > 8 {
			t.Fatalf("step %d: %d entries held, bound is 8", i, n)
		}
	}
	if tr.advance("kept", 2) {
		t.Fatal("a live nonce's old count accepted after generations turned over")
	}
	if !tr.advance("old", 1) {
		t.Fatal("a nonce unseen for two generations still remembered (the bound does not hold)")
	}
}
