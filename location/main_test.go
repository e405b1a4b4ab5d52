package location

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is an injectable clock tests move by hand.
type clock struct{ ns atomic.Int64 }

var epoch = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newClock() *clock {
	c := &clock{}
	c.ns.Store(epoch.UnixNano())
	return c
}

func (c *clock) Now() time.Time               { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration)      { c.ns.Add(int64(d)) }
func (c *clock) In(d time.Duration) time.Time { return c.Now().Add(d) }

// expiries records OnExpire calls.
type expiries struct {
	mu  sync.Mutex
	got map[string]int // "aor|contact" → calls
}

func (e *expiries) on(aor string, b Binding) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.got == nil {
		e.got = map[string]int{}
	}
	e.got[aor+"|"+b.Contact]++
}

func (e *expiries) snapshot() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for k, v := range e.got {
		out[k] = v
	}
	return out
}

func newTestTable(t testing.TB) (*Table, *clock, *expiries) {
	t.Helper()
	c := newClock()
	ex := &expiries{}
	return New(Options{Now: c.Now, OnExpire: ex.on}), c, ex
}

// bnd builds a realistic binding for user n that expires at exp.
func bnd(n int, tr Transport, exp time.Time) Binding {
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, byte(n >> 8), byte(n)}), 5060)
	return Binding{
		Contact:         fmt.Sprintf("sip:user%d@%s;transport=%s", n, src, tr),
		OriginalContact: fmt.Sprintf("<sip:user%d@%s;transport=%s>;expires=3600", n, src, tr),
		Source:          src,
		Local:           netip.MustParseAddrPort("10.0.0.1:5060"),
		Transport:       tr,
		NAT:             n%2 == 0,
		Expires:         exp,
		Registered:      exp.Add(-time.Hour),
		Updated:         exp.Add(-time.Minute),
		CallID:          fmt.Sprintf("%032x", n),
		CSeq:            uint32(n),
		UserAgent:       "Yealink SIP-T46S 66.86.0.15",
		Q:               0.5,
		AccountID:       "4fe69c5b61015084f1fe5684abc6e502",
		DeviceID:        fmt.Sprintf("dev%029d", n),
		Username:        fmt.Sprintf("user%d", n),
		Realm:           "acme.sip.example.com",
		PreviousContact: "",
	}
}

func aorOf(n int) string { return fmt.Sprintf("user%d@acme.sip.example.com", n) }

// set replaces aor's bindings with bs.
func set(t *Table, aor string, bs ...Binding) {
	t.Update(aor, func([]Binding) []Binding { return bs })
}

// sameBinding compares every field, times by instant.
func sameBinding(a, b Binding) bool {
	if !a.Expires.Equal(b.Expires) || !a.Registered.Equal(b.Registered) || !a.Updated.Equal(b.Updated) {
		return false
	}
	a.Expires, a.Registered, a.Updated = time.Time{}, time.Time{}, time.Time{}
	b.Expires, b.Registered, b.Updated = time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func contacts(bs []Binding) []string {
	out := make([]string, len(bs))
	for i := range bs {
		out[i] = bs[i].Contact
	}
	return out
}

func unsafeString(b []byte) string { return unsafe.String(&b[0], len(b)) }
