package adminapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/registrar"
)

// TestRegistrarRoutesWithoutRegistrar: a nil Registrar makes its routes
// answer 501 in Crossbar's envelope instead of failing.
func TestRegistrarRoutesWithoutRegistrar(t *testing.T) {
	for _, reg := range []struct {
		name string
		r    Registrar
	}{
		{name: "nil interface", r: nil},
		{name: "typed nil service", r: (*registrar.Service)(nil)},
	} {
		t.Run(reg.name, func(t *testing.T) {
			ta := startAPI(t, reg.r)
			acct := ta.createAccount("NoReg", "noreg.sip.example.com")
			for _, rt := range []struct{ method, path string }{
				{"GET", "/v2/accounts/" + acct + "/registrations"},
				{"GET", "/v2/accounts/" + acct + "/registrations/count"},
				{"DELETE", "/v2/accounts/" + acct + "/registrations"},
				{"DELETE", "/v2/accounts/" + acct + "/registrations/user1"},
				{"GET", "/v2/accounts/" + acct + "/devices/status"},
				{"GET", "/v2/bans"},
				{"DELETE", "/v2/bans/somekey"},
			} {
				errorEnvelope(t, ta.do(rt.method, rt.path, testAdminToken, ""), 501, "not_implemented",
					map[string]any{"message": "not implemented"})
			}
		})
	}
}

// newRegistrar builds a real registrar over the test API's store.
func newRegistrar(t *testing.T, st *devices.Store) *registrar.Service {
	t.Helper()
	cfg := registrar.Default()
	svc, err := registrar.New(cfg, st, location.New(location.Options{}), prometheus.NewRegistry(),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("registrar.New: %v", err)
	}
	return svc
}

// registerByIP sends a REGISTER from an IP-auth device's address, which
// the registrar accepts without a challenge.
func registerByIP(t *testing.T, svc *registrar.Service, realm, user, ip string) {
	t.Helper()
	raw := fmt.Sprintf("REGISTER sip:%[1]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[3]s:5060;branch=z9hG4bK-%[2]s\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%[2]s@%[1]s>;tag=t1\r\n"+
		"To: <sip:%[2]s@%[1]s>\r\n"+
		"Call-ID: reg-%[2]s@test\r\n"+
		"CSeq: 1 REGISTER\r\n"+
		"Contact: <sip:%[2]s@%[3]s:5060>\r\n"+
		"Expires: 600\r\n"+
		"User-Agent: TestTrunk/1.0\r\n"+
		"Content-Length: 0\r\n\r\n", realm, user, ip)
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse REGISTER: %v", err)
	}
	src := registrar.Source{
		Addr:      netip.MustParseAddrPort(ip + ":5060"),
		Local:     netip.MustParseAddrPort("127.0.0.1:5060"),
		Transport: location.Transport(0),
	}
	res := svc.HandleRegister(msg.(*sip.Request), src)
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER answered %v", res)
	}
}

func TestRegistrationsWithRegistrar(t *testing.T) {
	var svc *registrar.Service
	ta := startAPI(t, nil, func(_ *Config, d *Deps, st *devices.Store) {
		svc = newRegistrar(t, st)
		d.Registrar = svc
	})
	realm := "reg.sip.example.com"
	acct := ta.createAccount("Reg", realm)
	dev := ta.createDevice(acct, `{"name":"trunk","sip":{"method":"ip","ip":"198.51.100.7","username":"trunk1","invite_format":"e164"}}`)
	ta.createDevice(acct, `{"name":"phone","sip":{"username":"phone1","password":"secret1"}}`)
	base := "/v2/accounts/" + acct

	empty := ta.do("GET", base+"/registrations", testAdminToken, "").mustCode(t, 200)
	if l := empty.dataList(t); len(l) != 0 {
		t.Errorf("registrations before REGISTER: %s", empty.raw)
	}
	registerByIP(t, svc, realm, "trunk1", "198.51.100.7")

	r := ta.do("GET", base+"/registrations", testAdminToken, "").mustCode(t, 200)
	rows := r.dataList(t)
	if len(rows) != 1 {
		t.Fatalf("registrations: %s", r.raw)
	}
	rec := rows[0].(map[string]any)
	if rec["authorizing_id"] != dev || rec["username"] != "trunk1" || rec["account_realm"] != realm {
		t.Errorf("record %s", r.raw)
	}
	for _, k := range []string{"page_size", "start_key", "next_start_key"} {
		if _, ok := r.env[k]; ok {
			t.Errorf("registrations carry %s: %s", k, r.raw)
		}
	}
	c := ta.do("GET", base+"/registrations/count", testAdminToken, "").mustCode(t, 200)
	if canon(t, c.data()) != canon(t, map[string]any{"count": 1}) {
		t.Errorf("count: %s", c.raw)
	}
	st := ta.do("GET", base+"/devices/status", testAdminToken, "").mustCode(t, 200)
	if canon(t, st.data()) != canon(t, []any{map[string]any{"device_id": dev, "registered": true}}) {
		t.Errorf("status: %s", st.raw)
	}

	errorEnvelope(t, ta.do("DELETE", base+"/registrations/nosuchuser", testAdminToken, ""), 404, "bad identifier", []any{"nosuchuser"})
	ok := ta.do("DELETE", base+"/registrations/trunk1", testAdminToken, "").mustCode(t, 200)
	if ok.data() != "ok" {
		t.Errorf("flush user: %s", ok.raw)
	}
	if n := svc.Count(acct); n != 0 {
		t.Errorf("%d bindings after flushing the user", n)
	}

	registerByIP(t, svc, realm, "trunk1", "198.51.100.7")
	all := ta.do("DELETE", base+"/registrations", testAdminToken, "").mustCode(t, 200)
	if all.data() != "ok" || svc.Count(acct) != 0 {
		t.Errorf("flush account: %s, count %d", all.raw, svc.Count(acct))
	}

	bans := ta.do("GET", "/v2/bans", testAdminToken, "").mustCode(t, 200)
	if l := bans.dataList(t); len(l) != 0 {
		t.Errorf("bans: %s", bans.raw)
	}
	errorEnvelope(t, ta.do("DELETE", "/v2/bans/nosuchban", testAdminToken, ""), 404, "bad_identifier",
		map[string]any{"cause": "nosuchban", "message": "bad identifier"})
	if !strings.Contains(string(ta.do("GET", "/metrics", "", "").raw), `route="/v2/accounts/{ACCOUNT_ID}/registrations"`) {
		t.Error("registrations route missing from metrics")
	}
}
