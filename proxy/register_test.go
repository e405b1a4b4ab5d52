package proxy_test

import (
	"fmt"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy/proxytest"
	"github.com/sipedge/sipedge/registrar"
)

const (
	realm    = "acme.example.com"
	password = "alice-secret"
)

// aliceStore is a real device store with one account and one device (alice).
func aliceStore(t *testing.T) (*devices.Store, *devices.Account) {
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
	if _, err := store.CreateDevice(acct.ID, map[string]any{
		"name": "alice phone", "enabled": true,
		"sip": map[string]any{"username": "alice", "password": password},
	}); err != nil {
		t.Fatal(err)
	}
	return store, acct
}

// newRegistrar is the real registrar on aliceStore and a location table.
func newRegistrar(t *testing.T) (*registrar.Service, *devices.Account) {
	t.Helper()
	store, acct := aliceStore(t)
	reg, err := registrar.New(registrar.Default(), store, location.New(location.Options{}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return reg, acct
}

func registerRequest(contactPort int) *sip.Request {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: realm})
	aor := sip.Uri{Scheme: "sip", User: "alice", Host: realm}
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTagN(8)}}})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: contactPort}})
	req.AppendHeader(sip.NewHeader("Expires", "600"))
	return req
}

// A REGISTER goes through the chain to the registrar, and the registrar's
// answers (the challenge, then the 200) come back on the same transport;
// the binding remembers where the phone is and which listener it reached.
func TestRegisterReachesRegistrar(t *testing.T) {
	reg, acct := newRegistrar(t)
	srv := proxytest.NewServer(t, reg)
	for i, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			req := registerRequest(5070 + i)
			res, err := srv.Do(ctxT(t), tr, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 401 || res.GetHeader("WWW-Authenticate") == nil {
				t.Fatalf("first REGISTER: %d %s, want a 401 challenge", res.StatusCode, res.Reason)
			}
			res, err = srv.Client().DoDigestAuth(ctxT(t), req, res, sipgo.DigestAuth{Username: "alice", Password: password})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 {
				t.Fatalf("authenticated REGISTER: %d %s", res.StatusCode, res.Reason)
			}
			if c := res.Contact(); c == nil || c.Address.Port != 5070+i {
				t.Fatalf("200 lists contact %v", c)
			}
			if got := header(res, "Server"); got != "sipedge" {
				t.Errorf("Server = %q", got)
			}
		})
	}
	recs := reg.Registrations(acct.ID)
	if len(recs) != 1 {
		t.Fatalf("%d registrations, want 1 (a new contact replaces the old)", len(recs))
	}
	r := recs[0]
	want := fmt.Sprint(srv.TCP.Port())
	if r.ProxyIP != "127.0.0.1" || r.ProxyPort != want || r.ProxyProtocol != "tcp" || r.SourceIP != "127.0.0.1" || r.SourcePort == "" || r.SourcePort == "0" {
		t.Errorf("record %+v: want proxy 127.0.0.1:%s and the client's source", r, want)
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_responses_total", map[string]string{"method": "REGISTER", "class": "4xx"}); got != 2 {
		t.Errorf("REGISTER 4xx = %v, want the 2 challenges", got)
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_responses_total", map[string]string{"method": "REGISTER", "class": "2xx"}); got != 2 {
		t.Errorf("REGISTER 2xx = %v, want 2", got)
	}
	// With a registrar, REGISTER is offered.
	res, err := srv.Do(ctxT(t), "UDP", sip.NewRequest(sip.OPTIONS, srv.URI("")))
	if err != nil {
		t.Fatal(err)
	}
	if !hasToken(header(res, "Allow"), "REGISTER") {
		t.Errorf("Allow = %q lacks REGISTER", header(res, "Allow"))
	}
}
