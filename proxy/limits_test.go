package proxy_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

func limitsServer(t *testing.T, l proxy.LimitsConfig, allow ...string) *proxytest.Server {
	return proxytest.NewServer(t, nil, proxytest.WithConfig(func(c *proxy.Config) {
		c.Limits = l
		// Loopback is allow-listed by default, which exempts it from
		// conns_per_ip; these tests are the untrusted sources.
		c.Flood.Allow = allow
	}))
}

// limitedOptions is an OPTIONS to srv with extra header lines and a body.
func limitedOptions(srv *proxytest.Server, transport, callID string, extra []string, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "OPTIONS sip:%s SIP/2.0\r\n", srv.UDP)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s 127.0.0.1:9;rport;branch=%s\r\n", transport, branch())
	for _, h := range []string{"From: <sip:lim@example.com>;tag=l1", "To: <sip:lim@example.com>",
		"Call-ID: " + callID, "CSeq: 1 OPTIONS", "Max-Forwards: 70"} {
		b.WriteString(h + "\r\n")
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: text/plain\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return []byte(b.String())
}

func lines(n int, f func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// Each message limit answers with the code and reason that name it, on UDP
// and TCP; what fits still gets its 200, and the refusal is counted.
func TestLimitsMessages(t *testing.T) {
	cfg := proxy.LimitsConfig{MaxHeaders: 20, MaxHeaderLine: 200, MaxVias: 4, MaxBody: 100, MaxMessage: 2000}
	cases := []struct {
		name   string
		extra  []string
		body   string
		code   int
		reason string
		metric string
		// udpDrop: over max_message, or with over twice max_headers lines,
		// a datagram is dropped unanswered.
		udpDrop bool
	}{
		{name: "fits", extra: lines(10, func(i int) string { return fmt.Sprintf("X-Pad-%d: a", i) }), body: strings.Repeat("b", 100), code: 200},
		{name: "too many headers", extra: lines(20, func(i int) string { return fmt.Sprintf("X-Pad-%d: a", i) }), code: 513, reason: "Too Many Headers", metric: "headers"},
		{name: "header line too long", extra: []string{"X-Long: " + strings.Repeat("a", 200)}, code: 513, reason: "Header Too Long", metric: "header_line"},
		{name: "too many vias", extra: lines(4, func(i int) string { return fmt.Sprintf("Via: SIP/2.0/UDP 10.0.0.%d;branch=z9hG4bK%d", i+1, i) }), code: 513, reason: "Too Many Via Headers", metric: "vias"},
		{name: "body too large", body: strings.Repeat("b", 101), code: 413, reason: "Body Too Large", metric: "body"},
		{name: "absurd header count", extra: lines(41, func(i int) string { return fmt.Sprintf("X-Pad-%d: a", i) }), code: 513, reason: "Too Many Headers", metric: "headers", udpDrop: true},
		{name: "message too large", extra: lines(12, func(i int) string { return fmt.Sprintf("X-Pad-%d: %s", i, strings.Repeat("a", 180)) }), code: 513, reason: "Message Too Large", metric: "message_size", udpDrop: true},
	}
	srv := limitsServer(t, cfg)
	for _, tr := range []string{"UDP", "TCP"} {
		for _, tc := range cases {
			t.Run(tr+"/"+tc.name, func(t *testing.T) {
				id := "lim-" + sip.GenerateTagN(8)
				msg := limitedOptions(srv, tr, id, tc.extra, tc.body)
				reason := tc.metric
				if tr == "UDP" && tc.udpDrop {
					reason = "datagram_size"
				}
				before := 0.0
				if reason != "" {
					before = counter(t, srv.Registry, "sipedge_proxy_limit_refused_total", map[string]string{"reason": reason})
				}
				var c net.Conn
				if tr == "UDP" {
					c = rawUDP(t, srv.UDP, string(msg))
				} else {
					c = dialTCPFrom(t, "127.0.0.1", srv.TCP)
					if _, err := c.Write(msg); err != nil {
						t.Fatal(err)
					}
				}
				if tr == "UDP" && tc.udpDrop {
					// The same socket's next request is answered, so the
					// oversized one has been read and dropped by then.
					okOn(t, srv, c)
				} else {
					res := readResponse(t, c)
					if res.StatusCode != tc.code || (tc.reason != "" && res.Reason != tc.reason) {
						t.Fatalf("got %d %q, want %d %q", res.StatusCode, res.Reason, tc.code, tc.reason)
					}
					if res.CallID().Value() != id {
						t.Fatalf("answer for Call-ID %q, want %q", res.CallID().Value(), id)
					}
				}
				if reason != "" {
					if got := counter(t, srv.Registry, "sipedge_proxy_limit_refused_total", map[string]string{"reason": reason}); got != before+1 {
						t.Errorf("limit_refused_total{reason=%q} = %v, want %v", reason, got, before+1)
					}
				}
			})
		}
	}
}

// okOn sends an OPTIONS on c (UDP) and wants its 200.
func okOn(t *testing.T, srv *proxytest.Server, c net.Conn) {
	t.Helper()
	id := "after-" + sip.GenerateTagN(8)
	if _, err := c.Write(options(srv, id)); err != nil {
		t.Fatal(err)
	}
	res := readResponse(t, c)
	if res.StatusCode != 200 || res.CallID().Value() != id {
		t.Fatalf("got %d for %q, want 200 for %q", res.StatusCode, res.CallID().Value(), id)
	}
}

func dialTCPFrom(t *testing.T, src string, to netip.AddrPort) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		t.Skipf("cannot dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tcpOK wants an OPTIONS on c answered 200.
func tcpOK(t *testing.T, srv *proxytest.Server, c net.Conn) {
	t.Helper()
	id := "conn-" + sip.GenerateTagN(8)
	if _, err := c.Write(limitedOptions(srv, "TCP", id, nil, "")); err != nil {
		t.Fatalf("write: %v", err)
	}
	res := readResponse(t, c)
	if res.StatusCode != 200 || res.CallID().Value() != id {
		t.Fatalf("got %d for %q, want 200", res.StatusCode, res.CallID().Value())
	}
}

// tcpRefused wants c closed by the server without an answer.
func tcpRefused(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("read on a refused connection: %v, want EOF", err)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && strings.Contains(oe.Err.Error(), "reset")
}

// waitConns polls the server's count until it is want (bounded).
func waitConns(t *testing.T, srv *proxytest.Server, ip string, wantTotal, wantIP int) {
	t.Helper()
	a := netip.MustParseAddr(ip)
	deadline := time.Now().Add(5 * time.Second)
	for {
		total, fromIP := srv.Conns(a)
		if total == wantTotal && fromIP == wantIP {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("conns = %d total, %d from %s; want %d, %d", total, fromIP, ip, wantTotal, wantIP)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Connections over conns_per_ip or max_conns are closed at accept and
// counted; closing one makes room again.
func TestLimitsConnections(t *testing.T) {
	srv := limitsServer(t, proxy.LimitsConfig{ConnsPerIP: 2, MaxConns: 3})
	a1 := dialTCPFrom(t, "127.0.0.1", srv.TCP)
	tcpOK(t, srv, a1)
	a2 := dialTCPFrom(t, "127.0.0.1", srv.TCP)
	tcpOK(t, srv, a2)

	tcpRefused(t, dialTCPFrom(t, "127.0.0.1", srv.TCP))
	if got := counter(t, srv.Registry, "sipedge_proxy_limit_refused_total", map[string]string{"reason": "conns_per_ip"}); got != 1 {
		t.Errorf("conns_per_ip refusals = %v, want 1", got)
	}

	b1 := dialTCPFrom(t, "127.0.0.2", srv.TCP)
	tcpOK(t, srv, b1)
	tcpRefused(t, dialTCPFrom(t, "127.0.0.3", srv.TCP))
	if got := counter(t, srv.Registry, "sipedge_proxy_limit_refused_total", map[string]string{"reason": "conns_total"}); got != 1 {
		t.Errorf("conns_total refusals = %v, want 1", got)
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_stream_connections", nil); got != 3 {
		t.Errorf("stream_connections = %v, want 3", got)
	}

	a1.Close()
	waitConns(t, srv, "127.0.0.1", 2, 1)
	tcpOK(t, srv, dialTCPFrom(t, "127.0.0.3", srv.TCP))
}

// A source on sip.flood.allow (a gateway, an office NAT) is exempt from
// conns_per_ip, though it still counts toward max_conns.
func TestLimitsConnectionsAllowList(t *testing.T) {
	srv := limitsServer(t, proxy.LimitsConfig{ConnsPerIP: 1, MaxConns: 3}, "127.0.0.7/32")
	for range 3 {
		tcpOK(t, srv, dialTCPFrom(t, "127.0.0.7", srv.TCP))
	}
	tcpRefused(t, dialTCPFrom(t, "127.0.0.7", srv.TCP))
	if got := counter(t, srv.Registry, "sipedge_proxy_limit_refused_total", map[string]string{"reason": "conns_total"}); got != 1 {
		t.Errorf("conns_total refusals = %v, want 1", got)
	}
}

// A stream connection with no traffic for idle_timeout is closed, and its
// count released; one that keeps talking stays.
func TestLimitsIdleTimeout(t *testing.T) {
	srv := limitsServer(t, proxy.LimitsConfig{IdleTimeout: 300 * time.Millisecond})
	c := dialTCPFrom(t, "127.0.0.1", srv.TCP)
	tcpOK(t, srv, c)
	start := time.Now()
	tcpRefused(t, c)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("closed after %s, before the idle timeout", d)
	}
	waitConns(t, srv, "127.0.0.1", 0, 0)
	if got := counter(t, srv.Registry, "sipedge_proxy_limit_refused_total", map[string]string{"reason": "idle"}); got != 1 {
		t.Errorf("idle closes = %v, want 1", got)
	}

	// Traffic every 100 ms, for well over the timeout: the connection stays.
	busy := dialTCPFrom(t, "127.0.0.1", srv.TCP)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range 8 {
		<-tick.C
		tcpOK(t, srv, busy)
	}
}

func TestLimitsConfig(t *testing.T) {
	d := proxy.DefaultLimits()
	if got := (proxy.LimitsConfig{}).Effective(); got != d {
		t.Errorf("zero config = %+v, want the defaults %+v", got, d)
	}
	if got := (proxy.LimitsConfig{MaxVias: 7}).Effective(); got.MaxVias != 7 || got.MaxHeaders != d.MaxHeaders {
		t.Errorf("set field lost or default missing: %+v", got)
	}
	cases := []struct {
		name string
		cfg  proxy.LimitsConfig
		bad  string
	}{
		{"zero", proxy.LimitsConfig{}, ""},
		{"defaults", d, ""},
		{"negative body", proxy.LimitsConfig{MaxBody: -1}, "sip.limits.max_body"},
		{"negative per ip", proxy.LimitsConfig{ConnsPerIP: -1}, "sip.limits.conns_per_ip"},
		{"negative idle", proxy.LimitsConfig{IdleTimeout: -time.Second}, "sip.limits.idle_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.bad == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
				t.Fatalf("error %v, want one naming %s", err, tc.bad)
			}
			pc := proxy.Default()
			pc.Listen = "127.0.0.1:0"
			pc.Limits = tc.cfg
			_, err = proxy.New(pc, nil, nil, nil)
			if (err != nil) != (tc.bad != "") {
				t.Fatalf("proxy.New error %v, want error: %v", err, tc.bad != "")
			}
		})
	}
}
