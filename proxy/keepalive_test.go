package proxy_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

// natPhone is a NAT'd phone: a loopback socket that, when answering, replies
// 200 to every request it gets, and reports each request's method.
type natPhone struct {
	conn *net.UDPConn
	got  chan string
}

func newNATPhone(t *testing.T, answer bool) *natPhone {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &natPhone{conn: c, got: make(chan string, 64)}
	t.Cleanup(func() { _ = c.Close() })
	go func() {
		buf := make([]byte, 8192)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			msg := append([]byte(nil), buf[:n]...)
			method, _, _ := strings.Cut(string(msg), " ")
			select {
			case p.got <- method:
			default:
			}
			if answer {
				_, _ = c.WriteToUDP(answerBytes(t, msg, 200), from)
			}
		}
	}()
	return p
}

// answerBytes is answer (flow_test.go) without failing the test from the
// phone's goroutine: junk gets no reply.
func answerBytes(t *testing.T, msg []byte, code int) []byte {
	defer func() { _ = recover() }()
	return answer(t, msg, code)
}

func TestKeepalivesRemoveSilentNATBindings(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	waitServing(t, srv)
	loc := location.New(location.Options{})
	alive := newNATPhone(t, true)
	silent := newNATPhone(t, false)
	direct := newNATPhone(t, false)
	put := func(aor string, p *natPhone, nat bool) {
		b := location.Binding{
			Contact: "sip:" + strings.Split(aor, "@")[0] + "@192.168.1.20:5060", Source: p.conn.LocalAddr().(*net.UDPAddr).AddrPort(),
			Transport: location.UDP, NAT: nat, Expires: time.Now().Add(time.Hour), Realm: "acme.example.com",
		}
		loc.Update(aor, func([]location.Binding) []location.Binding { return []location.Binding{b} })
	}
	put("alive@acme.example.com", alive, true)
	put("silent@acme.example.com", silent, true)
	put("direct@acme.example.com", direct, false)

	cfg := proxy.KeepaliveConfig{Interval: 100 * time.Millisecond, MaxMisses: 2, Rate: 100, Timeout: 100 * time.Millisecond}
	reg, stop := runKeepalives(t, srv, loc, cfg)
	defer stop()

	// Wait on the event: the silent binding leaves the table (bounded poll).
	deadline := time.Now().Add(10 * time.Second)
	for len(loc.Lookup("silent@acme.example.com", nil)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("silent NAT binding never removed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := <-alive.got; got != "OPTIONS" {
		t.Errorf("alive phone got %q, want OPTIONS", got)
	}
	if len(loc.Lookup("alive@acme.example.com", nil)) != 1 {
		t.Error("answering phone's binding removed")
	}
	if len(loc.Lookup("direct@acme.example.com", nil)) != 1 {
		t.Error("binding not behind NAT removed")
	}
	select {
	case m := <-direct.got:
		t.Errorf("binding not behind NAT was pinged (%s)", m)
	default:
	}
	if n := counter(t, reg, "sipedge_proxy_keepalive_removed_total", nil); n != 1 {
		t.Errorf("removed_total = %v, want 1", n)
	}
}

func TestKeepaliveConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  proxy.KeepaliveConfig
		want string
	}{
		{name: "default", cfg: proxy.DefaultKeepalive()},
		{name: "off", cfg: proxy.KeepaliveConfig{}},
		{name: "no misses", cfg: proxy.KeepaliveConfig{Interval: time.Second, Rate: 1, Timeout: time.Second}, want: "max_misses"},
		{name: "timeout over interval", cfg: proxy.KeepaliveConfig{Interval: time.Second, MaxMisses: 1, Rate: 1, Timeout: 2 * time.Second}, want: "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want error naming %q", err, tc.want)
			}
		})
	}
}

// runKeepalives pings loc's bindings from srv until stop, which also
// reports RunKeepalives' error; the registry has its metrics.
func runKeepalives(t *testing.T, srv *proxytest.Server, loc *location.Table, cfg proxy.KeepaliveConfig) (*prometheus.Registry, func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.RunKeepalives(ctx, loc, cfg, reg) }()
	return reg, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunKeepalives: %v", err)
		}
	}
}
