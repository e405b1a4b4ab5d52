package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func testLimiter(t *testing.T, cfg FloodConfig) (*floodLimiter, *fakeClock) {
	t.Helper()
	allow, err := parseAllow(cfg.Allow)
	if err != nil {
		t.Fatal(err)
	}
	l, err := newFloodLimiter(cfg, allow, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l.now = clk.now
	return l, clk
}

func udpAddr(s string) net.Addr {
	return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s))
}

// A spoofed-source flood (every datagram from a new address, each banned)
// keeps at most max_tracked sources and bans.
func TestFloodMemoryBound(t *testing.T) {
	l, _ := testLimiter(t, FloodConfig{Rate: 1, Burst: 1, Ban: time.Hour, MaxTracked: 64})
	for i := range 10000 {
		src := udpAddr(fmt.Sprintf("10.%d.%d.%d:5060", i>>16&255, i>>8&255, i&255))
		l.filter("UDP", src, nil)
		l.filter("UDP", src, nil) // over the burst: banned
	}
	if n := l.tracked(); n != 64 {
		t.Errorf("tracked = %d, want the bound 64", n)
	}
	if n := l.activeBans(); n > 64 {
		t.Errorf("active bans = %d, above the bound 64", n)
	}
}

func TestFloodBucket(t *testing.T) {
	src := udpAddr("192.0.2.10:5060")
	t.Run("refill without ban", func(t *testing.T) {
		l, clk := testLimiter(t, FloodConfig{Rate: 10, Burst: 2, MaxTracked: 8})
		want := []bool{true, true, false}
		for i, w := range want {
			if got := l.filter("UDP", src, nil); got != w {
				t.Fatalf("read %d: %v, want %v", i, got, w)
			}
		}
		clk.t = clk.t.Add(100 * time.Millisecond) // one token at 10/s
		if !l.filter("UDP", src, nil) {
			t.Fatal("refilled token refused")
		}
		if l.filter("UDP", src, nil) {
			t.Fatal("second read passed on one refilled token")
		}
		if n := l.activeBans(); n != 0 {
			t.Fatalf("ban 0 banned %d sources", n)
		}
	})
	t.Run("ban then expiry", func(t *testing.T) {
		l, clk := testLimiter(t, FloodConfig{Rate: 1000, Burst: 1, Ban: time.Minute, MaxTracked: 8})
		l.filter("UDP", src, nil)
		if l.filter("UDP", src, nil) {
			t.Fatal("over the burst passed")
		}
		clk.t = clk.t.Add(59 * time.Second) // the bucket would be full; the ban holds
		if l.filter("UDP", src, nil) {
			t.Fatal("banned source passed")
		}
		if n := l.activeBans(); n != 1 {
			t.Fatalf("active bans = %d, want 1", n)
		}
		clk.t = clk.t.Add(2 * time.Second)
		if n := l.activeBans(); n != 0 {
			t.Fatalf("active bans after expiry = %d, want 0", n)
		}
		if !l.filter("UDP", src, nil) {
			t.Fatal("source refused after its ban ended")
		}
	})
	t.Run("allow list and mapped addresses", func(t *testing.T) {
		l, _ := testLimiter(t, FloodConfig{Rate: 1, Burst: 1, Ban: time.Minute, MaxTracked: 8, Allow: []string{"192.0.2.0/24"}})
		mapped := udpAddr("[::ffff:192.0.2.10]:5060")
		for i := range 100 {
			if !l.filter("UDP", mapped, nil) {
				t.Fatalf("allow-listed source refused at read %d", i)
			}
		}
		if n := l.tracked(); n != 0 {
			t.Fatalf("allow-listed source tracked (%d)", n)
		}
	})
}
