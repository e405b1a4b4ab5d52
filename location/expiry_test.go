package location

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestExpire(t *testing.T) {
	type reg struct {
		aor     string
		n       int
		expires time.Duration
	}
	tests := []struct {
		name      string
		regs      []reg
		refresh   []reg // applied after half the time went
		advance   time.Duration
		want      int
		wantCalls map[string]int
		wantAORs  int
	}{
		{name: "nothing due", regs: []reg{{"a@x", 1, time.Hour}}, advance: time.Minute, want: 0, wantCalls: map[string]int{}, wantAORs: 1},
		{name: "one of two bindings", regs: []reg{{"a@x", 1, time.Minute}, {"a@x", 2, time.Hour}}, advance: 2 * time.Minute,
			want: 1, wantCalls: map[string]int{"a@x|" + ctOf(1): 1}, wantAORs: 1},
		{name: "whole AORs", regs: []reg{{"a@x", 1, time.Minute}, {"b@x", 2, time.Minute}, {"c@x", 3, time.Hour}}, advance: time.Minute,
			want: 2, wantCalls: map[string]int{"a@x|" + ctOf(1): 1, "b@x|" + ctOf(2): 1}, wantAORs: 1},
		{name: "refreshed binding survives", regs: []reg{{"a@x", 1, 90 * time.Second}, {"b@x", 2, 90 * time.Second}},
			refresh: []reg{{"a@x", 1, time.Hour}}, advance: 2 * time.Minute,
			want: 1, wantCalls: map[string]int{"b@x|" + ctOf(2): 1}, wantAORs: 1},
		{name: "shortened binding goes early", regs: []reg{{"a@x", 1, time.Hour}},
			refresh: []reg{{"a@x", 1, 10 * time.Second}}, advance: 2 * time.Minute,
			want: 1, wantCalls: map[string]int{"a@x|" + ctOf(1): 1}, wantAORs: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, c, ex := newTestTable(t)
			put := func(r reg) {
				b := bnd(r.n, UDP, c.In(r.expires))
				tb.Update(r.aor, func(cur []Binding) []Binding {
					for i := range cur {
						if cur[i].Contact == b.Contact {
							cur[i] = b
							return cur
						}
					}
					return append(cur, b)
				})
			}
			for _, r := range tc.regs {
				put(r)
			}
			c.Advance(tc.advance / 2)
			for _, r := range tc.refresh {
				put(r)
			}
			c.Advance(tc.advance - tc.advance/2)
			if got := tb.Expire(); got != tc.want {
				t.Errorf("Expire = %d, want %d", got, tc.want)
			}
			if got := tb.Expire(); got != 0 {
				t.Errorf("second Expire = %d, want 0", got)
			}
			if got := ex.snapshot(); !mapsEqual(got, tc.wantCalls) {
				t.Errorf("OnExpire calls = %v, want %v", got, tc.wantCalls)
			}
			if aors, _ := tb.Stats(); aors != tc.wantAORs {
				t.Errorf("Stats AORs = %d, want %d", aors, tc.wantAORs)
			}
			if got := tb.ExpiredTotal(); got != uint64(tc.want) {
				t.Errorf("ExpiredTotal = %d, want %d", got, tc.want)
			}
			// Whatever is left expires eventually, each exactly once.
			c.Advance(24 * time.Hour)
			tb.Expire()
			for k, n := range ex.snapshot() {
				if n != 1 {
					t.Errorf("OnExpire called %d times for %s", n, k)
				}
			}
			if aors, cts := tb.Stats(); aors != 0 || cts != [5]int{} {
				t.Errorf("after a day Stats = %d, %v", aors, cts)
			}
		})
	}
}

func ctOf(n int) string { return bnd(n, UDP, time.Time{}).Contact }

func heapLen(tb *Table) int {
	n := 0
	for i := range tb.shards {
		s := &tb.shards[i]
		s.mu.RLock()
		n += len(s.heap)
		s.mu.RUnlock()
	}
	return n
}

func TestExpiryHeapStaysBounded(t *testing.T) {
	tests := []struct {
		name    string
		expires func(i int) time.Duration
	}{
		{name: "refresh pushes expiry forward", expires: func(i int) time.Duration { return time.Hour + time.Duration(i)*time.Second }},
		{name: "refresh shortens expiry each time", expires: func(i int) time.Duration { return time.Hour - time.Duration(i)*time.Millisecond }},
		{name: "register and unregister churn", expires: func(i int) time.Duration {
			if i%2 == 1 {
				return 0 // removes the AOR
			}
			return time.Hour
		}},
	}
	const aors, rounds = 10, 3000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, c, _ := newTestTable(t)
			for i := range rounds {
				for a := range aors {
					d := tc.expires(i)
					if d == 0 {
						tb.Remove(aorOf(a))
						continue
					}
					set(tb, aorOf(a), bnd(a, UDP, c.In(d)))
				}
			}
			for a := range aors {
				set(tb, aorOf(a), bnd(a, UDP, c.In(time.Hour)))
			}
			// Each shard may hold up to 2×its AORs+64 items before compacting.
			if n := heapLen(tb); n > 2*aors+65*aors {
				t.Errorf("heap holds %d items for %d AORs after %d refreshes each", n, aors, rounds)
			}
			c.Advance(24 * time.Hour)
			if n := tb.Expire(); n != aors {
				t.Errorf("Expire = %d, want %d", n, aors)
			}
			if n := heapLen(tb); n != 0 {
				t.Errorf("heap holds %d items once everything expired", n)
			}
		})
	}
}

func TestRunFinalSnapshot(t *testing.T) {
	tb, c, _ := newTestTable(t)
	want := bnd(1, TLS, c.In(time.Hour))
	set(tb, "a@x", want)
	path := filepath.Join(t.TempDir(), "location.snap")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tb.Run(ctx, time.Hour, path, time.Hour) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	restored := New(Options{Now: c.Now})
	n, err := restored.LoadFile(path)
	if err != nil || n != 1 {
		t.Fatalf("LoadFile = %d, %v; want 1, nil", n, err)
	}
	if got := restored.Lookup("a@x", nil); len(got) != 1 || !sameBinding(got[0], want) {
		t.Errorf("restored %+v, want %+v", got, want)
	}
}

func TestRunFinalSnapshotError(t *testing.T) {
	tb, _, _ := newTestTable(t)
	path := filepath.Join(t.TempDir(), "missing-dir", "location.snap")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := tb.Run(ctx, time.Hour, path, time.Hour)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Run with an unwritable path = %v, want a not-exist error", err)
	}
}

func TestRunExpiresAndSnapshots(t *testing.T) {
	c := newClock()
	expiredCh := make(chan string, 1)
	tb := New(Options{Now: c.Now, OnExpire: func(aor string, _ Binding) { expiredCh <- aor }})
	set(tb, "gone@x", bnd(1, UDP, c.In(time.Second)))
	set(tb, "kept@x", bnd(2, UDP, c.In(time.Hour)))
	c.Advance(time.Minute)
	path := filepath.Join(t.TempDir(), "location.snap")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tb.Run(ctx, time.Millisecond, path, time.Millisecond) }()
	if aor := <-expiredCh; aor != "gone@x" {
		t.Errorf("expired %q, want gone@x", aor)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	restored := New(Options{Now: c.Now})
	if n, err := restored.LoadFile(path); err != nil || n != 1 {
		t.Fatalf("LoadFile = %d, %v; want 1, nil", n, err)
	}
	if got := restored.Lookup("kept@x", nil); len(got) != 1 {
		t.Errorf("restored kept@x = %v", contacts(got))
	}
}

func TestRunRejectsBadInterval(t *testing.T) {
	tb, _, _ := newTestTable(t)
	if err := tb.Run(t.Context(), 0, "", 0); err == nil {
		t.Fatal("Run with a zero interval returned nil")
	}
}
