package bench_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sipedge/sipedge/bench"
	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy/proxytest"
	"github.com/sipedge/sipedge/registrar"
)

const testRealm = "bench.example.com"

// sipedge is a real proxy with the real registrar on a real device store,
// provisioned with n users user%06d / secret%06d.
type sipedge struct {
	srv  *proxytest.Server
	reg  *registrar.Service
	loc  *location.Table
	acct string
}

func newSipedge(t *testing.T, n int, algorithms ...string) *sipedge {
	t.Helper()
	return newSipedgeWith(t, n, false, algorithms...)
}

// newSipedgeWith builds the server; with forward, it is a proxy routing
// calls to the devices' bindings.
func newSipedgeWith(t *testing.T, n int, forward bool, algorithms ...string) *sipedge {
	t.Helper()
	store, err := devices.Open(devices.Options{Path: t.TempDir() + "/sipedge.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	acct, err := store.CreateAccount(map[string]any{"name": "Bench", "realm": testRealm})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if _, err := store.CreateDevice(acct.ID, map[string]any{
			"name": fmt.Sprintf("phone %d", i), "enabled": true,
			"sip": map[string]any{"username": fmt.Sprintf("user%06d", i), "password": fmt.Sprintf("secret%06d", i)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := registrar.Default()
	if len(algorithms) > 0 {
		cfg.Algorithms = algorithms
	}
	loc := location.New(location.Options{})
	reg, err := registrar.New(cfg, store, loc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var opts []proxytest.Option
	if forward {
		opts = append(opts, proxytest.WithForwarding(store, loc))
	}
	return &sipedge{srv: proxytest.NewServer(t, reg, opts...), reg: reg, loc: loc, acct: acct.ID}
}

func users(t *testing.T, n int, passFmt string) []bench.User {
	t.Helper()
	u, err := bench.UserRange("user%06d", passFmt, 1, n)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func checkLatency(t *testing.T, l bench.Latency) {
	t.Helper()
	if l.P50 == 0 && l.Max == 0 {
		t.Errorf("no latency recorded: %+v", l)
	}
	if !(l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("percentiles out of order: %+v", l)
	}
}

// The generator registers against the real registrar: its digest answers
// (its own code, from pre-computed HA1/HA2) verify against the
// registrar's (an independent implementation), every registration
// succeeds, the counts add up to the messages on the wire, and the
// bindings are stored.
func TestRegisterAgainstSipedge(t *testing.T) {
	const n, sessions = 40, 80
	cases := []struct {
		name       string
		serverAlgs []string
		alg        string
		wantAlg    string
	}{
		{name: "sha-256 first offered", wantAlg: "SHA-256"},
		{name: "md5 chosen among both", alg: "MD5", wantAlg: "MD5"},
		{name: "md5-only server", serverAlgs: []string{"MD5"}, wantAlg: "MD5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			se := newSipedge(t, n, tc.serverAlgs...)
			scen := &bench.Register{Realm: testRealm, Users: users(t, n, "secret%06d"), Expires: 600, Alg: tc.alg}
			res, err := bench.Run(ctxT(t), bench.Config{
				Target: se.srv.UDP, Scenario: scen, Rate: 400, Duration: 5 * time.Second, Max: sessions, Sockets: 2,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Started != sessions || res.Succeeded != sessions || res.Failed != 0 || len(res.Failures) != 0 {
				t.Fatalf("started %d, ok %d, failed %d %v; want %d all ok", res.Started, res.Succeeded, res.Failed, res.Failures, sessions)
			}
			// A first-time registration is two requests; a retransmission is one more.
			if res.Sent != 2*res.Started+res.Retransmissions {
				t.Errorf("sent %d datagrams, want 2×%d + %d retransmissions", res.Sent, res.Started, res.Retransmissions)
			}
			if res.Achieved <= 0 {
				t.Errorf("achieved rate %v", res.Achieved)
			}
			checkLatency(t, res.Latency)
			if got := len(se.reg.Registrations(se.acct)); got != n {
				t.Errorf("%d registrations stored, want %d", got, n)
			}
			b := se.loc.Lookup("user000007@"+testRealm, nil)
			if len(b) != 1 || !strings.HasPrefix(b[0].Contact, "sip:user000007@127.0.0.1:") {
				t.Fatalf("binding of user000007: %+v", b)
			}
			if b[0].UserAgent != "sipbench" || b[0].Expires.Sub(b[0].Updated) != 600*time.Second {
				t.Errorf("binding %+v: want User-Agent sipbench and 600 s", b[0])
			}
		})
	}
}

// With -refresh, users register once and then refresh on the same Call-ID
// with the cached nonce: one request per registration, no challenge.
func TestRegisterRefreshAgainstSipedge(t *testing.T) {
	const n = 20
	se := newSipedge(t, n)
	scen := &bench.Register{Realm: testRealm, Users: users(t, n, "secret%06d"), Refresh: true}
	cfg := bench.Config{Target: se.srv.UDP, Scenario: scen, Rate: 400, Duration: 5 * time.Second, Max: n, Sockets: 2}
	warm, err := bench.Run(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if warm.Succeeded != n || scen.Registered() != n {
		t.Fatalf("warm-up: %d ok, %d users registered, want %d", warm.Succeeded, scen.Registered(), n)
	}
	cfg.Max = 3 * n
	res, err := bench.Run(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded != 3*n || res.Failed != 0 {
		t.Fatalf("refresh: %d ok, %d failed %v; want %d ok", res.Succeeded, res.Failed, res.Failures, 3*n)
	}
	if res.Sent != res.Started+res.Retransmissions {
		t.Errorf("refresh sent %d datagrams for %d registrations (+%d retransmissions): some were challenged", res.Sent, res.Started, res.Retransmissions)
	}
	checkLatency(t, res.Latency)
	if got := len(se.reg.Registrations(se.acct)); got != n {
		t.Errorf("%d registrations stored, want %d", got, n)
	}
}

// Wrong passwords fail, by cause, and nothing is stored; OPTIONS succeeds
// against the same server. The generator can tell good from bad.
func TestFailuresAgainstSipedge(t *testing.T) {
	se := newSipedge(t, 10)
	cases := []struct {
		name      string
		scen      bench.Scenario
		max       int
		wantOK    int64
		wantCause string
	}{
		{name: "wrong password", scen: &bench.Register{Realm: testRealm, Users: users(t, 10, "wrong%06d")}, max: 5, wantCause: "challenged after credentials"},
		{name: "unknown realm user", scen: &bench.Register{Realm: "other.example.com", Users: users(t, 10, "secret%06d")}, max: 4, wantCause: "challenged after credentials"},
		{name: "options", scen: &bench.Options{}, max: 30, wantOK: 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := bench.Run(ctxT(t), bench.Config{Target: se.srv.UDP, Scenario: tc.scen, Rate: 200, Duration: 5 * time.Second, Max: tc.max, Sockets: 2})
			if err != nil {
				t.Fatal(err)
			}
			if res.Succeeded != tc.wantOK || res.Started != int64(tc.max) || res.Succeeded+res.Failed != res.Started {
				t.Fatalf("started %d ok %d failed %d %v; want %d started, %d ok", res.Started, res.Succeeded, res.Failed, res.Failures, tc.max, tc.wantOK)
			}
			if tc.wantCause != "" && res.Failures[tc.wantCause] != int64(tc.max) {
				t.Errorf("failures %v, want %d × %q", res.Failures, tc.max, tc.wantCause)
			}
		})
	}
	if got := len(se.reg.Registrations(se.acct)); got != 0 {
		t.Errorf("%d registrations stored after failures", got)
	}
}

// A target off loopback is refused unless allowed.
func TestConfigValidate(t *testing.T) {
	scen := &bench.Options{}
	cases := []struct {
		name    string
		target  string
		allow   bool
		mutate  func(*bench.Config)
		wantErr string
	}{
		{name: "loopback v4", target: "127.0.0.1:5060"},
		{name: "loopback v6", target: "[::1]:5060"},
		{name: "remote refused", target: "192.0.2.1:5060", wantErr: "not a loopback"},
		{name: "remote allowed", target: "192.0.2.1:5060", allow: true},
		{name: "no port", target: "127.0.0.1:0", wantErr: "target"},
		{name: "zero rate", target: "127.0.0.1:5060", mutate: func(c *bench.Config) { c.Rate = 0 }, wantErr: "rate"},
		{name: "too many sockets", target: "127.0.0.1:5060", mutate: func(c *bench.Config) { c.Sockets = 1000 }, wantErr: "sockets"},
		{name: "T2 below T1", target: "127.0.0.1:5060", mutate: func(c *bench.Config) { c.T1, c.T2 = time.Second, time.Millisecond }, wantErr: "timers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := bench.Config{Target: netip.MustParseAddrPort(tc.target), AllowRemote: tc.allow, Scenario: scen, Rate: 10}
			c.Defaults()
			if tc.mutate != nil {
				tc.mutate(&c)
			}
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
}
