// Package proxytest runs a real proxy.Server on loopback for tests, in the
// manner of net/http/httptest.
package proxytest

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/registrar"
)

// Server is a proxy.Server listening on 127.0.0.1 (UDP and TCP, same port)
// and serving in the background until the test ends.
type Server struct {
	*proxy.Server
	// UDP and TCP are the bound addresses; TLS, WS and WSS too when the
	// configuration asks for them (see SelfSignedCert).
	UDP, TCP, TLS, WS, WSS netip.AddrPort
	// Registry holds the server's metrics (unless WithRegisterer was given).
	Registry *prometheus.Registry

	t      testing.TB
	mu     sync.Mutex
	client *sipgo.Client
}

type options struct {
	cfg     func(*proxy.Config)
	routes  []route
	filters []proxy.ReadFilter
	reg     prometheus.Registerer
	log     *slog.Logger
	dir     registrar.Directory
	loc     *location.Table
}

type route struct {
	method sip.RequestMethod
	h      proxy.Handler
}

// Option changes how NewServer builds the server.
type Option func(*options)

// WithConfig edits the configuration after the test defaults are set
// (Listen is 127.0.0.1:0; set it back if you change it).
func WithConfig(f func(*proxy.Config)) Option { return func(o *options) { o.cfg = f } }

// WithHandler routes method to h, behind the whole chain.
func WithHandler(method sip.RequestMethod, h proxy.Handler) Option {
	return func(o *options) { o.routes = append(o.routes, route{method, h}) }
}

// WithReadFilter adds a read filter.
func WithReadFilter(f proxy.ReadFilter) Option {
	return func(o *options) { o.filters = append(o.filters, f) }
}

// WithForwarding makes the server a proxy (Server.EnableForwarding) routing
// to the devices of dir by their bindings in loc: the same directory and
// table the registrar was built on.
func WithForwarding(dir registrar.Directory, loc *location.Table) Option {
	return func(o *options) { o.dir, o.loc = dir, loc }
}

// WithRegisterer registers the metrics there instead of on a fresh registry.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// WithLogger sets the server's logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// NewServer starts a server for the test; reg may be nil (REGISTER → 501).
// It returns once both sockets are bound, and the test's cleanup stops it
// and fails the test if Serve returned an error.
func NewServer(t testing.TB, reg *registrar.Service, opts ...Option) *Server {
	t.Helper()
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := proxy.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.UDPReadBuffer = 0
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	ts := &Server{t: t}
	promReg := o.reg
	if promReg == nil {
		ts.Registry = prometheus.NewRegistry()
		promReg = ts.Registry
	}
	srv, err := proxy.New(cfg, reg, promReg, o.log)
	if err != nil {
		t.Fatalf("proxytest: %v", err)
	}
	for _, r := range o.routes {
		srv.Handle(r.method, r.h)
	}
	for _, f := range o.filters {
		srv.AddReadFilter(f)
	}
	// Bound sockets queue what arrives before the readers start, so being
	// bound is being ready.
	if err := srv.Listen(); err != nil {
		t.Fatalf("proxytest: %v", err)
	}
	ts.Server, ts.UDP, ts.TCP = srv, srv.UDPAddr(), srv.TCPAddr()
	if err := srv.ListenStreams(); err != nil {
		t.Fatalf("proxytest: %v", err)
	}
	ts.TLS, ts.WS, ts.WSS = srv.ListenerAddr("TLS"), srv.ListenerAddr("WS"), srv.ListenerAddr("WSS")
	if o.dir != nil {
		if err := srv.EnableForwarding(o.dir, o.loc); err != nil {
			t.Fatalf("proxytest: %v", err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	tlsDone := make(chan error, 1)
	go func() { tlsDone <- srv.ServeStreams(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-tlsDone; err != nil {
			t.Errorf("proxytest: ServeStreams: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("proxytest: Serve: %v", err)
		}
	})
	return ts
}

// Addr is the bound address for "UDP", "TCP", "TLS", "WS" or "WSS".
func (s *Server) Addr(transport string) netip.AddrPort {
	switch transport {
	case "TCP":
		return s.TCP
	case "TLS":
		return s.TLS
	case "WS":
		return s.WS
	case "WSS":
		return s.WSS
	}
	return s.UDP
}

// URI is sip:<user@>127.0.0.1:port, the server itself.
func (s *Server) URI(user string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: s.UDP.Addr().String(), Port: int(s.UDP.Port())}
}

// Do sends req over transport ("UDP" or "TCP") from a loopback sipgo client
// and returns the final response. Headers the request lacks (Via, From, To,
// Call-ID, CSeq, Max-Forwards) are filled in. The client lives until the
// test ends.
func (s *Server) Do(ctx context.Context, transport string, req *sip.Request) (*sip.Response, error) {
	c, err := s.sipClient()
	if err != nil {
		return nil, err
	}
	s.Target(transport, req)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	return c.Do(ctx, req)
}

// Target points req at the server over transport, for use with Client.
func (s *Server) Target(transport string, req *sip.Request) {
	req.SetTransport(transport)
	req.SetDestination(s.Addr(transport).String())
}

// Client is the loopback sipgo client Do uses (for digest retries and the
// like); it lives until the test ends.
func (s *Server) Client() *sipgo.Client {
	c, err := s.sipClient()
	if err != nil {
		s.t.Fatalf("proxytest: client: %v", err)
	}
	return c
}

func (s *Server) sipClient() (*sipgo.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("proxytest"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		return nil, err
	}
	c, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		return nil, errors.Join(err, ua.Close())
	}
	s.t.Cleanup(func() { _ = ua.Close() })
	s.client = c
	return c, nil
}
