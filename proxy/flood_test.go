package proxy_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

// options is an OPTIONS to the server itself from a raw socket.
func options(srv *proxytest.Server, callID string, extra ...string) []byte {
	h := append([]string{"Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=" + branch(),
		"From: <sip:flood@example.com>;tag=f1", "To: <sip:flood@example.com>",
		"Call-ID: " + callID, "CSeq: 1 OPTIONS", "Max-Forwards: 70"}, extra...)
	return []byte(request(fmt.Sprintf("OPTIONS sip:%s SIP/2.0", srv.UDP), h...))
}

// udpFrom is a UDP socket bound to a loopback source address of our
// choosing (all of 127/8 is local on Linux), connected to the server.
func udpFrom(t *testing.T, src string, to netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Skipf("cannot bind %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// okFrom sends one OPTIONS from src and wants its 200; as the server reads
// its one UDP socket in order, everything sent before has been through the
// read filters once this returns.
func okFrom(t *testing.T, srv *proxytest.Server, src string) {
	t.Helper()
	c := udpFrom(t, src, srv.UDP)
	id := "honest-" + sip.GenerateTagN(8)
	if _, err := c.Write(options(srv, id)); err != nil {
		t.Fatal(err)
	}
	res := readResponse(t, c)
	if res.StatusCode != 200 || res.CallID().Value() != id {
		t.Fatalf("%s: got %d for %q, want 200 for %q", src, res.StatusCode, res.CallID().Value(), id)
	}
}

func floodServer(t *testing.T, allow []string) *proxytest.Server {
	return proxytest.NewServer(t, nil, proxytest.WithConfig(func(c *proxy.Config) {
		// Practically no refill: the burst is all a source gets.
		c.Flood = proxy.FloodConfig{Rate: 0.0001, Burst: 5, Ban: time.Hour, Allow: allow, MaxTracked: 100}
	}))
}

// A flood from one source is cut at the burst and that source is banned,
// while another source's OPTIONS is still answered.
func TestFloodLimitsOneSource(t *testing.T) {
	const sent, burst = 50, 5
	srv := floodServer(t, nil)
	flooder := udpFrom(t, "127.0.0.1", srv.UDP)
	for i := range sent {
		if _, err := flooder.Write(options(srv, fmt.Sprintf("flood-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	okFrom(t, srv, "127.0.0.2")

	if got := counter(t, srv.Registry, "sipedge_proxy_flood_dropped_total", nil); got != sent-burst {
		t.Errorf("flood_dropped_total = %v, want %d", got, sent-burst)
	}
	for range burst {
		if res := readResponse(t, flooder); res.StatusCode != 200 {
			t.Fatalf("admitted request: %d", res.StatusCode)
		}
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_flood_bans_active", nil); got != 1 {
		t.Errorf("flood_bans_active = %v, want 1", got)
	}

	// Banned: a fresh socket from the same IP is dropped too.
	again := udpFrom(t, "127.0.0.1", srv.UDP)
	if _, err := again.Write(options(srv, "after-ban")); err != nil {
		t.Fatal(err)
	}
	okFrom(t, srv, "127.0.0.3")
	if got := counter(t, srv.Registry, "sipedge_proxy_flood_dropped_total", nil); got != sent-burst+1 {
		t.Errorf("flood_dropped_total after the ban = %v, want %d", got, sent-burst+1)
	}
}

// An allow-listed source is never limited.
func TestFloodAllowList(t *testing.T) {
	const sent = 50
	srv := floodServer(t, []string{"127.0.0.1/32"})
	c := udpFrom(t, "127.0.0.1", srv.UDP)
	for i := range sent {
		if _, err := c.Write(options(srv, fmt.Sprintf("gw-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range sent {
		if res := readResponse(t, c); res.StatusCode != 200 {
			t.Fatalf("answer %d: %d", i, res.StatusCode)
		}
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_flood_dropped_total", nil); got != 0 {
		t.Errorf("flood_dropped_total = %v, want 0", got)
	}
}

func TestFloodConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*proxy.FloodConfig)
		ok   bool
	}{
		{"defaults", func(*proxy.FloodConfig) {}, true},
		{"off", func(c *proxy.FloodConfig) { c.Rate, c.Burst, c.MaxTracked = 0, 0, 0 }, true},
		{"bare IP allowed", func(c *proxy.FloodConfig) { c.Allow = []string{"192.0.2.7", "2001:db8::/32"} }, true},
		{"negative rate", func(c *proxy.FloodConfig) { c.Rate = -1 }, false},
		{"no burst", func(c *proxy.FloodConfig) { c.Burst = 0 }, false},
		{"negative ban", func(c *proxy.FloodConfig) { c.Ban = -time.Second }, false},
		{"no room", func(c *proxy.FloodConfig) { c.MaxTracked = 0 }, false},
		{"bad CIDR", func(c *proxy.FloodConfig) { c.Allow = []string{"10.0.0.0/33"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := proxy.Default()
			tc.edit(&cfg.Flood)
			if err := cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
