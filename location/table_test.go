package location

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name    string
		stored  []time.Duration // expiries relative to now
		advance time.Duration
		want    int
	}{
		{name: "none", want: 0},
		{name: "one live", stored: []time.Duration{time.Minute}, want: 1},
		{name: "expired skipped", stored: []time.Duration{time.Minute, time.Hour}, advance: 2 * time.Minute, want: 1},
		{name: "expiring exactly now is gone", stored: []time.Duration{time.Minute}, advance: time.Minute, want: 0},
		{name: "all expired", stored: []time.Duration{time.Second, time.Minute}, advance: time.Hour, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, c, _ := newTestTable(t)
			var bs []Binding
			for i, d := range tc.stored {
				bs = append(bs, bnd(i, UDP, c.In(d)))
			}
			set(tb, "alice@example.com", bs...)
			c.Advance(tc.advance)
			got := tb.Lookup("alice@example.com", nil)
			if len(got) != tc.want {
				t.Fatalf("Lookup returned %d bindings %v, want %d", len(got), contacts(got), tc.want)
			}
			for _, g := range got {
				if !g.Expires.After(c.Now()) {
					t.Errorf("Lookup returned expired binding %s (expires %v, now %v)", g.Contact, g.Expires, c.Now())
				}
			}
			if other := tb.Lookup("bob@example.com", nil); len(other) != 0 {
				t.Errorf("Lookup of unknown AOR = %v", contacts(other))
			}
		})
	}
}

func TestLookupAppendsCopies(t *testing.T) {
	tb, c, _ := newTestTable(t)
	want := bnd(1, TCP, c.In(time.Hour))
	set(tb, "a@x", want)
	dst := make([]Binding, 1, 4)
	dst[0].Contact = "keep"
	got := tb.Lookup("a@x", dst)
	if len(got) != 2 || got[0].Contact != "keep" || !sameBinding(got[1], want) {
		t.Fatalf("Lookup = %+v, want the prefix kept and %+v appended", got, want)
	}
	got[1].Contact = "mutated"
	if again := tb.Lookup("a@x", nil); again[0].Contact != want.Contact {
		t.Errorf("mutating a Lookup result changed the table: %q", again[0].Contact)
	}
}

func TestUpdate(t *testing.T) {
	type step struct {
		fn       func(cur []Binding) []Binding
		wantCur  []string // contacts fn must see
		wantLeft []string // contacts after the update
	}
	var c *clock
	b := func(n int) Binding { return bnd(n, UDP, c.In(time.Hour)) }
	ct := func(n int) string { return bnd(n, UDP, time.Time{}).Contact }
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "insert then replace", steps: []step{
			{fn: func(cur []Binding) []Binding { return append(cur, b(1)) }, wantCur: []string{}, wantLeft: []string{ct(1)}},
			{fn: func([]Binding) []Binding { return []Binding{b(2)} }, wantCur: []string{ct(1)}, wantLeft: []string{ct(2)}},
		}},
		{name: "append keeps both", steps: []step{
			{fn: func(cur []Binding) []Binding { return append(cur, b(1)) }, wantCur: []string{}, wantLeft: []string{ct(1)}},
			{fn: func(cur []Binding) []Binding { return append(cur, b(2)) }, wantCur: []string{ct(1)}, wantLeft: []string{ct(1), ct(2)}},
		}},
		{name: "refresh in place", steps: []step{
			{fn: func(cur []Binding) []Binding { return append(cur, b(1)) }, wantCur: []string{}, wantLeft: []string{ct(1)}},
			{fn: func(cur []Binding) []Binding {
				cur[0].CSeq++
				cur[0].Expires = c.In(2 * time.Hour)
				return cur
			}, wantCur: []string{ct(1)}, wantLeft: []string{ct(1)}},
		}},
		{name: "empty result removes", steps: []step{
			{fn: func(cur []Binding) []Binding { return append(cur, b(1), b(2)) }, wantCur: []string{}, wantLeft: []string{ct(1), ct(2)}},
			{fn: func(cur []Binding) []Binding { return cur[:0] }, wantCur: []string{ct(1), ct(2)}, wantLeft: []string{}},
		}},
		{name: "remove one of two", steps: []step{
			{fn: func(cur []Binding) []Binding { return append(cur, b(1), b(2)) }, wantCur: []string{}, wantLeft: []string{ct(1), ct(2)}},
			{fn: func(cur []Binding) []Binding { return cur[1:] }, wantCur: []string{ct(1), ct(2)}, wantLeft: []string{ct(2)}},
		}},
		{name: "nil on missing AOR is a no-op", steps: []step{
			{fn: func([]Binding) []Binding { return nil }, wantCur: []string{}, wantLeft: []string{}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tb *Table
			tb, c, _ = newTestTable(t)
			for i, st := range tc.steps {
				tb.Update("a@x", func(cur []Binding) []Binding {
					if got := contacts(cur); !slices.Equal(got, st.wantCur) {
						t.Errorf("step %d: fn saw %v, want %v", i, got, st.wantCur)
					}
					return st.fn(cur)
				})
				got := contacts(tb.Lookup("a@x", nil))
				if !slices.Equal(got, st.wantLeft) {
					t.Errorf("step %d: table holds %v, want %v", i, got, st.wantLeft)
				}
				aors, cts := tb.Stats()
				wantAORs := 0
				if len(st.wantLeft) > 0 {
					wantAORs = 1
				}
				if aors != wantAORs || cts[UDP] != len(st.wantLeft) {
					t.Errorf("step %d: Stats = %d AORs, %v, want %d AORs, %d UDP", i, aors, cts, wantAORs, len(st.wantLeft))
				}
			}
		})
	}
}

func TestUpdateDoesNotKeepCallerMemory(t *testing.T) {
	tb, c, _ := newTestTable(t)
	// A caller that parses in place reuses its buffer after Update returns.
	buf := []byte("sip:alice@192.0.2.1:5060")
	b := bnd(1, UDP, c.In(time.Hour))
	b.Contact = unsafeString(buf)
	b.CallID = unsafeString(buf[4:9])
	mine := []Binding{b}
	tb.Update("alice@x", func([]Binding) []Binding { return mine })
	copy(buf, strings.Repeat("X", len(buf)))
	mine[0].Expires = time.Time{}
	got := tb.Lookup("alice@x", nil)
	if len(got) != 1 || got[0].Contact != "sip:alice@192.0.2.1:5060" || got[0].CallID != "alice" {
		t.Fatalf("table aliased the caller's memory: %+v", got)
	}
}

func TestUpdateDropsExpiredAndReportsThem(t *testing.T) {
	tb, c, ex := newTestTable(t)
	set(tb, "a@x", bnd(1, UDP, c.In(time.Minute)), bnd(2, UDP, c.In(time.Hour)))
	c.Advance(2 * time.Minute)
	tb.Update("a@x", func(cur []Binding) []Binding {
		if len(cur) != 1 || cur[0].Contact != bnd(2, UDP, time.Time{}).Contact {
			t.Errorf("fn saw %v, want only the live binding", contacts(cur))
		}
		return cur
	})
	want := map[string]int{"a@x|" + bnd(1, UDP, time.Time{}).Contact: 1}
	if got := ex.snapshot(); !mapsEqual(got, want) {
		t.Errorf("OnExpire calls = %v, want %v", got, want)
	}
	if n := tb.Expire(); n != 0 {
		t.Errorf("Expire after Update dropped it = %d, want 0", n)
	}
	if _, cts := tb.Stats(); cts[UDP] != 1 {
		t.Errorf("Stats UDP = %d, want 1", cts[UDP])
	}
}

func TestRemove(t *testing.T) {
	tb, c, ex := newTestTable(t)
	live, stale := bnd(1, TCP, c.In(time.Hour)), bnd(2, TCP, c.In(time.Second))
	set(tb, "a@x", live, stale)
	set(tb, "b@x", bnd(3, UDP, c.In(time.Hour)))
	c.Advance(time.Minute)

	got := tb.Remove("a@x")
	if len(got) != 1 || !sameBinding(got[0], live) {
		t.Fatalf("Remove = %v, want the live binding only", contacts(got))
	}
	if again := tb.Remove("a@x"); len(again) != 0 {
		t.Errorf("second Remove = %v, want nothing", contacts(again))
	}
	if left := tb.Lookup("a@x", nil); len(left) != 0 {
		t.Errorf("Lookup after Remove = %v", contacts(left))
	}
	if n := len(ex.snapshot()); n != 1 {
		t.Errorf("OnExpire calls = %d, want 1 (the expired binding Remove dropped)", n)
	}
	aors, cts := tb.Stats()
	if aors != 1 || cts != [5]int{UDP: 1} {
		t.Errorf("Stats = %d, %v; want 1 AOR, 1 UDP", aors, cts)
	}
	if n := tb.RemoveFlow(TCP, live.Source); n != 0 {
		t.Errorf("RemoveFlow after Remove = %d; the flow index kept a removed AOR", n)
	}
}

func TestStatsByTransport(t *testing.T) {
	tb, c, _ := newTestTable(t)
	exp := c.In(time.Hour)
	set(tb, "a@x", bnd(1, UDP, exp), bnd(2, TCP, exp))
	set(tb, "b@x", bnd(3, TLS, exp), bnd(4, WS, exp), bnd(5, WSS, exp), bnd(6, WSS, exp))
	set(tb, "c@x", bnd(7, UDP, exp))
	check := func(step string, wantAORs int, want [5]int) {
		t.Helper()
		aors, cts := tb.Stats()
		if aors != wantAORs || cts != want {
			t.Errorf("%s: Stats = %d, %v; want %d, %v", step, aors, cts, wantAORs, want)
		}
	}
	check("after inserts", 3, [5]int{UDP: 2, TCP: 1, TLS: 1, WS: 1, WSS: 2})
	set(tb, "b@x", bnd(3, UDP, exp))
	check("after replace", 3, [5]int{UDP: 3, TCP: 1})
	tb.Remove("a@x")
	check("after remove", 2, [5]int{UDP: 2})
	c.Advance(2 * time.Hour)
	tb.Expire()
	check("after expiry", 0, [5]int{})
}

func TestRemoveFlow(t *testing.T) {
	conn := netip.MustParseAddrPort("198.51.100.7:40001")
	other := netip.MustParseAddrPort("198.51.100.8:40002")
	onFlow := func(n int, tr Transport, src netip.AddrPort, exp time.Time) Binding {
		b := bnd(n, tr, exp)
		b.Source = src
		return b
	}
	tests := []struct {
		name     string
		tr       Transport
		src      netip.AddrPort
		want     int
		wantLeft map[string]int // AOR → bindings left
	}{
		{name: "tcp connection of two AORs", tr: TCP, src: conn, want: 3,
			wantLeft: map[string]int{"a@x": 1, "b@x": 0, "c@x": 1, "d@x": 1, "e@x": 1}},
		{name: "same address other transport", tr: TLS, src: conn, want: 1,
			wantLeft: map[string]int{"a@x": 2, "b@x": 2, "c@x": 1, "d@x": 0, "e@x": 1}},
		{name: "udp scans", tr: UDP, src: conn, want: 1,
			wantLeft: map[string]int{"a@x": 2, "b@x": 2, "c@x": 1, "d@x": 1, "e@x": 0}},
		{name: "unknown flow", tr: TCP, src: netip.MustParseAddrPort("203.0.113.1:1"), want: 0,
			wantLeft: map[string]int{"a@x": 2, "b@x": 2, "c@x": 1, "d@x": 1, "e@x": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, c, _ := newTestTable(t)
			exp := c.In(time.Hour)
			set(tb, "a@x", onFlow(1, TCP, conn, exp), onFlow(2, TCP, other, exp))
			set(tb, "b@x", onFlow(3, TCP, conn, exp), onFlow(4, TCP, conn, exp))
			set(tb, "c@x", onFlow(5, TCP, other, exp))
			set(tb, "d@x", onFlow(6, TLS, conn, exp))
			set(tb, "e@x", onFlow(7, UDP, conn, exp))
			if got := tb.RemoveFlow(tc.tr, tc.src); got != tc.want {
				t.Errorf("RemoveFlow = %d, want %d", got, tc.want)
			}
			for aor, n := range tc.wantLeft {
				left := tb.Lookup(aor, nil)
				if len(left) != n {
					t.Errorf("%s has %v, want %d bindings", aor, contacts(left), n)
				}
				for _, b := range left {
					if b.Transport == tc.tr && b.Source == tc.src {
						t.Errorf("%s still has %s on the removed flow", aor, b.Contact)
					}
				}
			}
			if again := tb.RemoveFlow(tc.tr, tc.src); again != 0 {
				t.Errorf("second RemoveFlow = %d, want 0", again)
			}
			total := 0
			for _, n := range tc.wantLeft {
				total += n
			}
			if _, cts := tb.Stats(); sum(cts) != total {
				t.Errorf("Stats contacts = %v, want %d in all", cts, total)
			}
		})
	}
}

func TestRemoveFlowFollowsMovedBinding(t *testing.T) {
	tb, c, _ := newTestTable(t)
	first := netip.MustParseAddrPort("198.51.100.7:40001")
	second := netip.MustParseAddrPort("198.51.100.7:40002")
	b := bnd(1, TCP, c.In(time.Hour))
	b.Source = first
	set(tb, "a@x", b)
	// The phone reconnected: same contact, new connection.
	b.Source = second
	set(tb, "a@x", b)
	if n := tb.RemoveFlow(TCP, first); n != 0 {
		t.Errorf("closing the old connection removed %d bindings, want 0", n)
	}
	if n := tb.RemoveFlow(TCP, second); n != 1 {
		t.Errorf("closing the current connection removed %d bindings, want 1", n)
	}
	for i := range tb.shards {
		if n := len(tb.shards[i].flows); n != 0 {
			t.Errorf("shard %d keeps %d flow index entries after everything went", i, n)
		}
	}
}

func TestRange(t *testing.T) {
	tb, c, _ := newTestTable(t)
	want := map[string]bool{}
	for i := range 50 {
		aor := aorOf(i)
		b := bnd(i, UDP, c.In(time.Hour))
		set(tb, aor, b, bnd(i+1000, UDP, c.In(time.Second)))
		want[aor+"|"+b.Contact] = true
	}
	c.Advance(time.Minute)
	got := map[string]bool{}
	tb.Range(func(aor string, b *Binding) bool {
		if got[aor+"|"+b.Contact] {
			t.Errorf("Range visited %s %s twice", aor, b.Contact)
		}
		got[aor+"|"+b.Contact] = true
		b.Contact = "mutated"
		return true
	})
	if !mapsEqual(got, want) {
		t.Errorf("Range visited %d bindings, want the %d live ones", len(got), len(want))
	}
	visits := 0
	tb.Range(func(string, *Binding) bool { visits++; return visits < 7 })
	if visits != 7 {
		t.Errorf("Range went on after fn returned false: %d visits", visits)
	}
	if b := tb.Lookup(aorOf(3), nil); b[0].Contact == "mutated" {
		t.Errorf("Range handed out the stored binding")
	}
}

func TestInternedStringsAreReleased(t *testing.T) {
	tb, c, _ := newTestTable(t)
	for i := range 100 {
		set(tb, aorOf(i), bnd(i, UDP, c.In(time.Hour)))
	}
	for i := range 100 {
		set(tb, aorOf(i), bnd(i, UDP, c.In(2*time.Hour))) // refresh
	}
	for i := range 50 {
		tb.Remove(aorOf(i))
	}
	c.Advance(3 * time.Hour)
	tb.Expire()
	for i := range tb.shards {
		s := &tb.shards[i]
		if len(s.intern) != 0 || len(s.m) != 0 || len(s.flows) != 0 {
			t.Fatalf("shard %d keeps %d interned strings, %d AORs, %d flows after everything went",
				i, len(s.intern), len(s.m), len(s.flows))
		}
	}
}

func TestConcurrentReadersWriters(t *testing.T) {
	tb, c, ex := newTestTable(t)
	const aors = 64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := (i*7 + w) % aors
				switch i % 5 {
				case 0:
					tb.Remove(aorOf(n))
				case 1:
					tb.RemoveFlow(TCP, bnd(n, TCP, time.Time{}).Source)
				default:
					tb.Update(aorOf(n), func(cur []Binding) []Binding {
						return append(cur[:0], bnd(n, Transport(i%5), c.In(time.Duration(i%3)*time.Second)))
					})
				}
			}
		})
	}
	var dst []Binding
	for range 300 {
		for n := range aors {
			dst = tb.Lookup(aorOf(n), dst[:0])
		}
		tb.Range(func(string, *Binding) bool { return true })
		tb.Stats()
		c.Advance(time.Second)
		tb.Expire()
	}
	close(stop)
	wg.Wait()
	_ = ex.snapshot()
	// The counters agree with a scan once expired bindings are swept.
	tb.Expire()
	var scanned [5]int
	scannedAORs := map[string]bool{}
	tb.Range(func(aor string, b *Binding) bool {
		scanned[b.Transport]++
		scannedAORs[aor] = true
		return true
	})
	if aors, cts := tb.Stats(); aors != len(scannedAORs) || cts != scanned {
		t.Errorf("Stats = %d, %v; a scan finds %d, %v", aors, cts, len(scannedAORs), scanned)
	}
	c.Advance(time.Hour)
	tb.Expire()
	if aors, cts := tb.Stats(); aors != 0 || cts != [5]int{} {
		t.Errorf("after everything expired Stats = %d, %v", aors, cts)
	}
}

func sum(a [5]int) int {
	n := 0
	for _, v := range a {
		n += v
	}
	return n
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	tb, c, _ := newTestTable(t)
	for i := range 100 {
		set(tb, aorOf(i), bnd(i, UDP, c.In(time.Hour)), bnd(i+1000, TCP, c.In(time.Hour)))
	}
	fresh := bnd(7, UDP, c.In(2*time.Hour))
	fresh.CallID = strings.Clone(fresh.CallID) // equal, not identical, as from a packet
	dst := make([]Binding, 0, 4)
	key := aorOf(7)
	tests := []struct {
		name string
		fn   func()
	}{
		{name: "Lookup with room in dst", fn: func() { dst = tb.Lookup(key, dst[:0]) }},
		{name: "Lookup of an unknown AOR", fn: func() { dst = tb.Lookup("nobody@x", dst[:0]) }},
		{name: "Update refreshing a contact", fn: func() {
			tb.Update(key, func(cur []Binding) []Binding {
				cur[0].Expires = fresh.Expires
				cur[0].CallID = fresh.CallID
				cur[0].CSeq++
				return cur
			})
		}},
		{name: "Stats", fn: func() { tb.Stats() }},
		{name: "Expire with nothing due", fn: func() { tb.Expire() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
				t.Errorf("%v allocations per call, want 0", n)
			}
		})
	}
}

func TestOnExpireMayUseTheTable(t *testing.T) {
	c := newClock()
	var tb *Table
	seen := 0
	tb = New(Options{Now: c.Now, OnExpire: func(aor string, b Binding) {
		// Called outside the locks: reading and writing must not deadlock.
		seen += len(tb.Lookup(aor, nil))
		tb.Remove(aor)
	}})
	set(tb, "a@x", bnd(1, UDP, c.In(time.Second)), bnd(2, UDP, c.In(time.Hour)))
	c.Advance(time.Minute)
	if n := tb.Expire(); n != 1 {
		t.Fatalf("Expire = %d, want 1", n)
	}
	if seen != 1 {
		t.Errorf("OnExpire saw %d live bindings, want the 1 left", seen)
	}
	if aors, _ := tb.Stats(); aors != 0 {
		t.Errorf("Remove from OnExpire left %d AORs", aors)
	}
}
