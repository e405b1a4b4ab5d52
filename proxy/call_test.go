package proxy_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
	"github.com/sipedge/sipedge/registrar"
)

// callEnv is a proxy with forwarding on the real registrar, device store
// and location table, with devices alice, bob and carol (digest).
type callEnv struct {
	srv   *proxytest.Server
	store *devices.Store
	loc   *location.Table
	acct  *devices.Account
}

type envOpts struct {
	log         *slog.Logger
	maxContacts int
	cfg         func(*proxy.Config)
	devices     []map[string]any
}

func newCallEnv(t testing.TB, o envOpts) *callEnv {
	t.Helper()
	store, err := devices.Open(devices.Options{Path: t.TempDir() + "/sipedge.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	acct, err := store.CreateAccount(map[string]any{"name": "Acme", "realm": realm})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := store.CreateDevice(acct.ID, map[string]any{
			"name": u + " phone", "enabled": true,
			"sip": map[string]any{"username": u, "password": u + "-secret"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range o.devices {
		if _, err := store.CreateDevice(acct.ID, d); err != nil {
			t.Fatal(err)
		}
	}
	loc := location.New(location.Options{})
	rcfg := registrar.Default()
	if o.maxContacts > 0 {
		rcfg.MaxContacts = o.maxContacts
	}
	reg, err := registrar.New(rcfg, store, loc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := []proxytest.Option{proxytest.WithForwarding(store, loc)}
	if o.log != nil {
		opts = append(opts, proxytest.WithLogger(o.log))
	}
	if os.Getenv("SIPEDGE_TEST_LOG") != "" {
		sip.SIPDebug = os.Getenv("SIPEDGE_TEST_LOG") == "wire"
		sip.SetDefaultLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
		opts = append(opts, proxytest.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	if o.cfg != nil {
		opts = append(opts, proxytest.WithConfig(func(c *proxy.Config) {
			c.Listen = "127.0.0.1:0"
			o.cfg(c)
		}))
	}
	srv := proxytest.NewServer(t, reg, opts...)
	return &callEnv{srv: srv, store: store, loc: loc, acct: acct}
}

func (e *callEnv) phone(t testing.TB, transport, user string) *proxytest.Phone {
	t.Helper()
	p := proxytest.NewPhone(t, e.srv, transport, realm, user, user+"-secret")
	if err := p.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *callEnv) gauge(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return counter(t, e.srv.Registry, name, labels)
}

// A device calls another device of its account, over UDP, TCP, TLS, WS
// and WSS (and across them): INVITE (challenged 407, then authenticated), 180,
// 200, ACK and BYE all pass through the proxy, record-routed, and the
// counters end where they should.
func TestCallDeviceToDevice(t *testing.T) {
	tests := []struct {
		name           string
		caller, callee string
		doubleRR       bool
	}{
		{name: "udp", caller: "UDP", callee: "UDP"},
		{name: "tcp", caller: "TCP", callee: "TCP"},
		{name: "udp to tcp", caller: "UDP", callee: "TCP", doubleRR: true},
		{name: "tls", caller: "TLS", callee: "TLS"},
		{name: "tls to udp", caller: "TLS", callee: "UDP", doubleRR: true},
		{name: "ws", caller: "WS", callee: "WS"},
		{name: "wss to tcp", caller: "WSS", callee: "TCP", doubleRR: true},
	}
	cert := proxytest.SelfSignedCert(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newCallEnv(t, envOpts{cfg: func(c *proxy.Config) {
				c.TLS = proxy.TLSConfig{Listen: "127.0.0.1:0", Certificates: []tls.Certificate{cert}}
				c.WS = proxy.WSConfig{Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", Origins: []string{"https://phone.example.com"}}
			}})
			alice := env.phone(t, tc.caller, "alice")
			bob := env.phone(t, tc.callee, "bob")
			ctx := ctxT(t)

			sess, err := alice.Invite(ctx, "bob")
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			answered := make(chan error, 1)
			ringing := make(chan struct{})
			var codes []int
			go func() {
				answered <- alice.Answer(ctx, sess, func(r *sip.Response) {
					codes = append(codes, r.StatusCode)
					if r.StatusCode == 180 {
						close(ringing)
					}
				})
			}()

			in, err := bob.WaitCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := in.Req.Recipient; got.User != "bob" || got.Port != bob.Contact.Port {
				t.Errorf("callee Request-URI %s, want its contact %s", got.String(), bob.Contact.String())
			}
			if v := in.Req.Via(); v.Transport != tc.callee {
				t.Errorf("callee got the INVITE with our Via %s, want transport %s", v.Value(), tc.callee)
			}
			if got := len(in.Req.GetHeaders("Via")); got != 2 {
				t.Errorf("callee sees %d Vias, want 2 (alice, proxy)", got)
			}
			if mf := in.Req.MaxForwards(); mf == nil || mf.Val() != 69 {
				t.Errorf("Max-Forwards = %v, want 69", mf)
			}
			rr := in.Req.GetHeaders("Record-Route")
			wantRR := 1
			if tc.doubleRR {
				wantRR = 2
			}
			if len(rr) != wantRR {
				t.Fatalf("callee sees Record-Route %v, want %d entries", rr, wantRR)
			}
			for _, h := range rr {
				if !strings.Contains(h.Value(), ";lr") {
					t.Errorf("Record-Route %q is not loose", h.Value())
				}
			}
			if in.Req.GetHeader("Proxy-Authorization") == nil {
				t.Error("callee got no Proxy-Authorization: the INVITE was not challenged first")
			}
			if err := in.Dialog.Respond(180, "Ringing", nil); err != nil {
				t.Fatal(err)
			}
			// sipgo handles each message in its own goroutine, so a 200
			// right behind the 180 could overtake it on the way.
			select {
			case <-ringing:
			case <-ctx.Done():
				t.Fatal("caller never heard the 180")
			}
			// sipgo's dialog holds a 2xx Respond until the ACK comes.
			ok := make(chan error, 1)
			go func() {
				ok <- in.Dialog.Respond(200, "OK", []byte("v=0\r\n"), sip.NewHeader("Content-Type", "application/sdp"))
			}()
			if err := <-answered; err != nil {
				t.Fatalf("caller: %v (responses %v)", err, codes)
			}
			if want := []int{407, 180, 200}; !containsInOrder(codes, want) {
				t.Errorf("caller saw %v, want %v in order (and no 100 relayed)", codes, want)
			}
			if err := sess.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-bob.Acks():
			case <-ctx.Done():
				t.Fatal("callee never got the ACK")
			}
			if err := <-ok; err != nil {
				t.Fatalf("callee 200: %v", err)
			}
			if got := env.gauge(t, "sipedge_proxy_calls_active", nil); got != 1 {
				t.Errorf("calls_active = %v during the call, want 1", got)
			}
			if err := sess.Bye(ctx); err != nil {
				t.Fatalf("BYE: %v", err)
			}
			select {
			case <-bob.Byes():
			case <-ctx.Done():
				t.Fatal("callee never got the BYE")
			}
			select {
			case <-in.Dialog.Context().Done():
			case <-ctx.Done():
				t.Fatal("callee dialog did not end")
			}
			if got := env.gauge(t, "sipedge_proxy_calls_active", nil); got != 0 {
				t.Errorf("calls_active = %v after BYE, want 0", got)
			}
			if got := env.gauge(t, "sipedge_proxy_branches_total", map[string]string{"outcome": "answered"}); got != 1 {
				t.Errorf("branches_total{answered} = %v, want 1", got)
			}
			if got := env.gauge(t, "sipedge_proxy_calls_setup_total", nil); got != 1 {
				t.Errorf("calls_setup_total = %v, want 1", got)
			}
		})
	}
}

func containsInOrder(got, want []int) bool {
	i := 0
	for _, g := range got {
		if g == 100 {
			return false
		}
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// The callee may also hang up: its BYE follows the route set back.
func TestCallCalleeHangsUp(t *testing.T) {
	env := newCallEnv(t, envOpts{})
	alice := env.phone(t, "UDP", "alice")
	bob := env.phone(t, "TCP", "bob")
	ctx := ctxT(t)
	sess, err := alice.Invite(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	answered := make(chan error, 1)
	go func() { answered <- alice.Answer(ctx, sess, nil) }()
	in, err := bob.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ok := make(chan error, 1)
	go func() { ok <- in.Dialog.Respond(200, "OK", nil) }()
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	if err := sess.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-ok; err != nil {
		t.Fatal(err)
	}
	if err := in.Dialog.Bye(ctx); err != nil {
		t.Fatalf("callee BYE: %v", err)
	}
	select {
	case <-alice.Byes():
	case <-ctx.Done():
		t.Fatal("caller never got the callee's BYE")
	}
}

// Calls the proxy cannot place are answered with the right status.
func TestCallRefused(t *testing.T) {
	env := newCallEnv(t, envOpts{})
	alice := env.phone(t, "UDP", "alice")
	tests := []struct {
		name string
		to   string
		code int
	}{
		{name: "callee not registered", to: "carol", code: 480},
		{name: "unknown number without gateways", to: "15551234567", code: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			sess, err := alice.Invite(ctx, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			err = alice.Answer(ctx, sess, nil)
			var de *sipgo.ErrDialogResponse
			if !errors.As(err, &de) || de.Res.StatusCode != tc.code {
				t.Fatalf("got %v, want %d", err, tc.code)
			}
		})
	}
}
