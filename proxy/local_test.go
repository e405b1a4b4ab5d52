package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/registrar"
)

// serve starts s in the background until the test ends.
func serve(t *testing.T, s *Server) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	// Serve may be called once: wait until this call is the one, so a
	// test's own second call cannot win the race and serve instead.
	for !s.serving.Load() {
		runtime.Gosched()
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func send(t *testing.T, transport string, to netip.AddrPort, method sip.RequestMethod) *sip.Response {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	c, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	// Send to loopback whatever the server bound.
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: int(to.Port())})
	req.SetTransport(transport)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The registrar learns where a request came from and which of our
// addresses it reached.
func TestSourceLocal(t *testing.T) {
	tests := []struct {
		name      string
		listen    string
		advertise string
		// want local address; port 0 means "the bound port"
		wantUDP, wantTCP netip.AddrPort
	}{
		{name: "bound ip", listen: "127.0.0.1:0", wantUDP: netip.MustParseAddrPort("127.0.0.1:0"), wantTCP: netip.MustParseAddrPort("127.0.0.1:0")},
		{name: "advertise ip", listen: "127.0.0.1:0", advertise: "203.0.113.7", wantUDP: netip.MustParseAddrPort("203.0.113.7:0"), wantTCP: netip.MustParseAddrPort("203.0.113.7:0")},
		{name: "advertise ip and port", listen: "127.0.0.1:0", advertise: "203.0.113.7:5080", wantUDP: netip.MustParseAddrPort("203.0.113.7:5080"), wantTCP: netip.MustParseAddrPort("203.0.113.7:5080")},
		{name: "advertise name", listen: "127.0.0.1:0", advertise: "localhost", wantUDP: netip.MustParseAddrPort("127.0.0.1:0"), wantTCP: netip.MustParseAddrPort("127.0.0.1:0")},
		{name: "wildcard", listen: "0.0.0.0:0", wantUDP: netip.AddrPortFrom(firstInterfaceAddr(false), 0), wantTCP: netip.MustParseAddrPort("127.0.0.1:0")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.Listen, cfg.Advertise, cfg.UDPReadBuffer = tc.listen, tc.advertise, 0
			s, err := New(cfg, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan registrar.Source, 1)
			s.Handle(sip.MESSAGE, HandlerFunc(func(_ context.Context, tx sip.ServerTransaction, req *sip.Request) error {
				src, err := s.source(tx, req)
				if err != nil {
					return err
				}
				got <- src
				return tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			}))
			serve(t, s)
			if s.UDPAddr().Port() != s.TCPAddr().Port() || s.UDPAddr().Port() == 0 {
				t.Fatalf("udp %s tcp %s: want one non-zero port", s.UDPAddr(), s.TCPAddr())
			}
			port := s.UDPAddr().Port()
			for _, tr := range []struct {
				name string
				lt   location.Transport
				want netip.AddrPort
			}{{"UDP", location.UDP, tc.wantUDP}, {"TCP", location.TCP, tc.wantTCP}} {
				res := send(t, tr.name, s.UDPAddr(), sip.MESSAGE)
				if res.StatusCode != 200 {
					t.Fatalf("%s: %d", tr.name, res.StatusCode)
				}
				src := <-got
				want := tr.want
				if want.Port() == 0 {
					want = netip.AddrPortFrom(want.Addr(), port)
				}
				if src.Local != want || src.Transport != tr.lt || src.Addr.Addr() != netip.MustParseAddr("127.0.0.1") || src.Addr.Port() == 0 {
					t.Errorf("%s: got %+v, want Local %s", tr.name, src, want)
				}
			}
		})
	}
}

func TestListenPortConflict(t *testing.T) {
	cfg := Default()
	cfg.Listen, cfg.UDPReadBuffer = "127.0.0.1:0", 0
	a, err := New(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, a)
	cfg.Listen = a.UDPAddr().String()
	b, err := New(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Listen(); err == nil {
		t.Fatal("second Listen on a taken port succeeded")
	}
	// Serve on a server that cannot bind reports it and leaves nothing behind.
	if err := b.Serve(context.Background()); err == nil {
		t.Fatal("Serve on a taken port returned nil")
	}
	if err := a.Serve(context.Background()); err == nil {
		t.Fatal("second Serve returned nil")
	}
}

func TestReadBufferSet(t *testing.T) {
	var logs bytes.Buffer
	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.UDPReadBuffer = 1 << 16 // below any kernel's cap
	s, err := New(cfg, nil, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	got, ok := readBufferSize(s.udp.(*net.UDPConn))
	if !ok || got < cfg.UDPReadBuffer {
		t.Fatalf("SO_RCVBUF = %d (%v), want at least %d", got, ok, cfg.UDPReadBuffer)
	}
	if !strings.Contains(logs.String(), "udp read buffer set") {
		t.Errorf("granted size not logged: %s", logs.String())
	}
}
