package proxy

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Targets come by priority; within one priority every order appears, the
// heavier target first about as often as its weight says; down targets
// never.
func TestPoolOrder(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry(), func() float64 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	g := newGateways([]GatewayPool{{Name: "p", Targets: []GatewayTarget{
		{Addr: "192.0.2.1:5060", Priority: 2},
		{Addr: "192.0.2.2:5060", Priority: 1, Weight: 3},
		{Addr: "192.0.2.3:5060", Priority: 1, Weight: 1},
		{Addr: "192.0.2.4:5060", Priority: 0},
	}}}, m)
	p := g.def
	p.targets[3].up.Store(false) // 192.0.2.4, the best priority, is down
	first := map[string]int{}
	const n = 4000
	for range n {
		o := p.order()
		if len(o) != 3 {
			t.Fatalf("order has %d targets, want the 3 up", len(o))
		}
		if o[2].name != "192.0.2.1:5060" {
			t.Fatalf("priority 2 target at %s, want last", o[2].name)
		}
		first[o[0].name]++
	}
	// Weight 3 against 1: the heavier one leads about 3/4 of the time. The
	// bounds are many standard deviations wide; this checks the weighting
	// exists, not the generator.
	if heavy := first["192.0.2.2:5060"]; heavy < n*6/10 || heavy > n*9/10 {
		t.Errorf("weight 3 target first %d of %d times, want about 3/4", heavy, n)
	}
	if first["192.0.2.3:5060"] == 0 {
		t.Error("weight 1 target never first")
	}
	if g.bySource(p.targets[0].addr.Addr()) != p {
		t.Error("gateway address not trusted")
	}
}

func TestParseAlias(t *testing.T) {
	tests := []struct {
		in, want, tr string
	}{
		{in: "192.0.2.1~5070~1", want: "192.0.2.1:5070", tr: "UDP"},
		{in: "192.0.2.1~40000~2", want: "192.0.2.1:40000", tr: "TCP"},
		{in: "2001:db8::1~5061~3", want: "[2001:db8::1]:5061", tr: "TLS"},
		{in: "[2001:db8::1]~80~5", want: "[2001:db8::1]:80", tr: "WS"},
		{in: "192.0.2.1~0~1"},
		{in: "192.0.2.1~5060~9"},
		{in: "host~5060~1"},
		{in: "192.0.2.1~5060"},
		{in: ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, tr, err := parseAlias(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("parsed as %s %s, want an error", got, tr)
				}
				return
			}
			if err != nil || got.String() != tc.want || tr != tc.tr {
				t.Fatalf("got %s %s %v, want %s %s", got, tr, err, tc.want, tc.tr)
			}
		})
	}
}

// parseAlias reads a Request-URI parameter anyone can send; it must never
// panic, and what it accepts must print back to itself.
func FuzzParseAlias(f *testing.F) {
	for _, s := range []string{"192.0.2.1~5070~1", "::1~1~6", "[::1]~65535~2", "~~", "1.2.3.4~99999~1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, tr, err := parseAlias(s)
		if err != nil {
			return
		}
		again, tr2, err := parseAlias(ap.Addr().String() + "~" + strconv.Itoa(int(ap.Port())) + "~" + aliasProto(tr))
		if err != nil || again != ap || tr2 != tr {
			t.Fatalf("%q → %s %s does not round-trip: %s %s %v", s, ap, tr, again, tr2, err)
		}
	})
}

// headerValue reads the WebSocket upgrade a client sends before anything
// is authenticated; it must not panic on any bytes.
func FuzzUpgradeHead(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nOrigin: https://a.example\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\norigin:x\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		v, ok := headerValue(head, "origin")
		if !ok && v != "" {
			t.Fatalf("value %q without a header", v)
		}
		_ = originAllowed(v, []string{"https://a.example"})
	})
}
