package adminapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy/proxytest"
	"github.com/sipedge/sipedge/registrar"
)

// syncEnv is the API over a real store, registrar, proxy (loopback) and notifier.
type syncEnv struct {
	*testAPI
	svc   *registrar.Service
	loc   *location.Table
	sip   *proxytest.Server
	n     *registrar.Notifier
	realm string
	acct  string
	base  string
}

func startSyncAPI(t *testing.T, cfg registrar.NotifyConfig) *syncEnv {
	t.Helper()
	e := &syncEnv{realm: "sync.sip.example.com"}
	e.testAPI = startAPI(t, nil, func(_ *Config, d *Deps, st *devices.Store) {
		e.loc = location.New(location.Options{})
		rcfg := registrar.Default()
		rcfg.Algorithms = []string{registrar.AlgMD5}
		svc, err := registrar.New(rcfg, st, e.loc, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatalf("registrar.New: %v", err)
		}
		st.Subscribe(svc.DeviceChanged)
		e.svc = svc
		e.sip = proxytest.NewServer(t, svc)
		e.n = registrar.NewNotifier(svc, e.sip.Server, cfg, prometheus.NewRegistry(), nil)
		t.Cleanup(e.n.Close)
		d.Registrar, d.Notifier = svc, e.n
	})
	e.acct = e.createAccount("Sync", e.realm)
	e.base = "/v2/accounts/" + e.acct
	return e
}

// syncPhone is a sipgo UA registered through the proxy; its server, on the
// same UA and so on the same flow, records the NOTIFYs it gets.
type syncPhone struct {
	t        *testing.T
	user     string
	contact  sip.Uri
	notifies chan *sip.Request
}

func (e *syncEnv) phone(user, transport string) *syncPhone {
	t := e.t
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("SyncPhone/1.0"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	p := &syncPhone{t: t, user: user, notifies: make(chan *sip.Request, 16),
		contact: sip.Uri{Scheme: "sip", User: user, Host: "192.0.2.44", Port: 5070}}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		p.notifies <- req
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	cl, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	build := func(cseq uint32, auth sip.Header) *sip.Request {
		req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: e.realm})
		aor := sip.Uri{Scheme: "sip", User: user, Host: e.realm}
		from := &sip.FromHeader{Address: aor}
		from.Params.Add("tag", "t"+strconv.Itoa(int(cseq)))
		req.AppendHeader(from)
		req.AppendHeader(&sip.ToHeader{Address: aor})
		cid := sip.CallIDHeader("reg-" + user + "-" + transport)
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.REGISTER})
		req.AppendHeader(&sip.ContactHeader{Address: p.contact})
		if auth != nil {
			req.AppendHeader(auth)
		}
		e.sip.Target(transport, req)
		return req
	}
	res, err := cl.Do(ctx, build(1, nil))
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("REGISTER: %v %v", res, err)
	}
	chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + e.realm,
		Username: user, Password: user + "-pw", Count: 1, Cnonce: "0a4f113b"})
	if err != nil {
		t.Fatal(err)
	}
	res, err = cl.Do(ctx, build(2, sip.NewHeader("Authorization", cred.String())))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER: %v %v", res, err)
	}
	return p
}

func (p *syncPhone) next() *sip.Request {
	p.t.Helper()
	select {
	case r := <-p.notifies:
		return r
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s received no NOTIFY", p.user)
		return nil
	}
}

func (p *syncPhone) none() {
	p.t.Helper()
	select {
	case r := <-p.notifies:
		p.t.Errorf("%s got an unexpected NOTIFY:\n%s", p.user, r)
	default:
	}
}

func event(req *sip.Request) string {
	if h := req.GetHeader("Event"); h != nil {
		return h.Value()
	}
	return ""
}

func (e *syncEnv) device(user string) string {
	return e.createDevice(e.acct, `{"name":"`+user+`","sip":{"username":"`+user+`","password":"`+user+`-pw"}}`)
}

func TestSyncDevice(t *testing.T) {
	cases := []struct {
		name      string
		transport string
		cfg       registrar.NotifyConfig
		query     string
		wantEvent string
		detail    bool
	}{
		{name: "kazoo form udp", transport: "UDP", wantEvent: "check-sync"},
		{name: "kazoo form tcp reboot", transport: "TCP", query: "?reboot=true", wantEvent: "check-sync;reboot=true"},
		{name: "detail by query", transport: "UDP", query: "?detail=true&reboot=false", wantEvent: "check-sync", detail: true},
		{name: "detail by config", transport: "TCP", cfg: registrar.NotifyConfig{Detail: true}, wantEvent: "check-sync", detail: true},
		{name: "config detail, query kazoo", transport: "UDP", cfg: registrar.NotifyConfig{Detail: true}, query: "?detail=false", wantEvent: "check-sync"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startSyncAPI(t, tc.cfg)
			id := e.device("alice")
			e.device("bob")
			p := e.phone("alice", tc.transport)
			bob := e.phone("bob", tc.transport)

			r := e.do("POST", e.base+"/devices/"+id+"/sync"+tc.query, testAdminToken, "").mustCode(t, 202)
			if tc.detail {
				want := []any{map[string]any{"contact": p.contact.String(), "result": "answered", "code": 200.0}}
				if canon(t, r.data()) != canon(t, want) {
					t.Errorf("data %s, want %s", r.raw, canon(t, want))
				}
			} else if r.data() != "sync request sent" {
				t.Errorf("data %s", r.raw)
			}
			req := p.next()
			if got := event(req); got != tc.wantEvent {
				t.Errorf("Event %q, want %q", got, tc.wantEvent)
			}
			if req.Recipient.String() != p.contact.String() || req.Transport() != tc.transport {
				t.Errorf("NOTIFY %s over %s", req.Recipient.String(), req.Transport())
			}
			e.n.Close() // background sends are done
			p.none()
			bob.none()
		})
	}
}

func TestSyncDeviceErrors(t *testing.T) {
	e := startSyncAPI(t, registrar.NotifyConfig{})
	id := e.device("carol") // never registers
	errorEnvelope(t, e.do("POST", e.base+"/devices/0123456789abcdef0123456789abcdef/sync", testAdminToken, ""),
		404, "bad_identifier", map[string]any{"cause": "0123456789abcdef0123456789abcdef", "message": "bad identifier"})
	r := e.do("POST", e.base+"/devices/"+id+"/sync?reboot=maybe", testAdminToken, "")
	if r.code != 400 {
		t.Errorf("reboot=maybe: %d %s", r.code, r.raw)
	}
	// Kazoo: nothing registered, nothing sent, same answer.
	if r := e.do("POST", e.base+"/devices/"+id+"/sync", testAdminToken, "").mustCode(t, 202); r.data() != "sync request sent" {
		t.Errorf("unregistered, kazoo form: %s", r.raw)
	}
	if r := e.do("POST", e.base+"/devices/"+id+"/sync?detail=true", testAdminToken, "").mustCode(t, 202); canon(t, r.data()) != "[]" {
		t.Errorf("unregistered, detail: %s", r.raw)
	}

	e404 := startSyncAPI(t, registrar.NotifyConfig{Unregistered404: true})
	id = e404.device("carol")
	errorEnvelope(t, e404.do("POST", e404.base+"/devices/"+id+"/sync", testAdminToken, ""),
		404, "not_registered", map[string]any{"cause": id, "message": "device has no registration"})
}

func TestNotifyAction(t *testing.T) {
	e := startSyncAPI(t, registrar.NotifyConfig{Detail: true})
	id := e.device("alice")
	p := e.phone("alice", "UDP")
	path := e.base + "/devices/" + id + "/notify"
	cases := []struct {
		name, body          string
		wantEvent, wantBody string
		wantCT              string
	}{
		{name: "one level", body: `{"action":"notify","data":{"event":"talk"}}`, wantEvent: "talk"},
		{name: "two levels", body: `{"data":{"action":"notify","data":{"event":"hold"}}}`, wantEvent: "hold"},
		{name: "kazoo code nesting", body: `{"action":"notify","data":{"data":{"event":"resync"}}}`, wantEvent: "resync"},
		{name: "flat body", body: `{"action":"notify","data":{"event":"talk","content_type":"text/plain","body":"hi"}}`,
			wantEvent: "talk", wantCT: "text/plain", wantBody: "hi"},
		{name: "kazoo body", body: `{"action":"notify","data":{"event":"talk","body":{"content_type":"application/x-test","data":"a=1\r\nb=2"}}}`,
			wantEvent: "talk", wantCT: "application/x-test", wantBody: "a=1\r\nb=2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("PUT", path, testAdminToken, tc.body).mustCode(t, 202)
			if l := r.dataList(t); len(l) != 1 || l[0].(map[string]any)["result"] != "answered" {
				t.Errorf("data %s", r.raw)
			}
			req := p.next()
			if got := event(req); got != tc.wantEvent {
				t.Errorf("Event %q, want %q", got, tc.wantEvent)
			}
			if tc.wantCT != "" {
				if ct := req.ContentType(); ct == nil || ct.Value() != tc.wantCT {
					t.Errorf("Content-Type %v, want %s", ct, tc.wantCT)
				}
			}
			if string(req.Body()) != tc.wantBody {
				t.Errorf("body %q, want %q", req.Body(), tc.wantBody)
			}
		})
	}

	bad := []struct{ name, body string }{
		{"CRLF in event", `{"action":"notify","data":{"event":"check-sync\r\nX-Evil: 1"}}`},
		{"LF in content type", `{"action":"notify","data":{"event":"talk","content_type":"text/plain\nX: y","body":"b"}}`},
		{"missing action", `{"data":{"event":"talk"}}`},
		{"wrong action", `{"action":"reboot","data":{"event":"talk"}}`},
		{"missing event", `{"action":"notify","data":{}}`},
		{"half a kazoo body", `{"action":"notify","data":{"event":"talk","body":{"data":"x"}}}`},
		{"not json", `{"action":`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("PUT", path, testAdminToken, tc.body)
			if r.code != 400 || r.env["status"] != "error" {
				t.Errorf("answer %d %s, want 400", r.code, r.raw)
			}
		})
	}
	p.none()
}

func TestDeviceWriteSyncFlag(t *testing.T) {
	for _, method := range []string{"PATCH", "POST"} {
		t.Run(method, func(t *testing.T) {
			e := startSyncAPI(t, registrar.NotifyConfig{})
			id := e.device("alice")
			p := e.phone("alice", "TCP")
			body := `{"data":{"name":"renamed","sync":true}}`
			if method == "POST" {
				body = `{"data":{"name":"renamed","sync":true,"sip":{"username":"alice","password":"alice-pw"}}}`
			}
			r := e.do(method, e.base+"/devices/"+id, testAdminToken, body).mustCode(t, 200)
			if _, ok := r.dataMap(t)["sync"]; ok {
				t.Errorf("answer carries sync: %s", r.raw)
			}
			if got := event(p.next()); got != "check-sync" {
				t.Errorf("Event %q", got)
			}
			g := e.do("GET", e.base+"/devices/"+id, testAdminToken, "").mustCode(t, 200)
			if _, ok := g.dataMap(t)["sync"]; ok || g.dataMap(t)["name"] != "renamed" {
				t.Errorf("stored document: %s", g.raw)
			}
			// Without the flag, no NOTIFY.
			e.do("PATCH", e.base+"/devices/"+id, testAdminToken, `{"data":{"name":"again"}}`).mustCode(t, 200)
			e.n.Close()
			p.none()
		})
	}
}

func TestDeviceWriteSyncReachesOldCredentials(t *testing.T) {
	e := startSyncAPI(t, registrar.NotifyConfig{})
	id := e.device("alice")
	p := e.phone("alice", "UDP")
	// A new password flushes the binding on write; the check-sync still
	// reaches the phone that registered with the old one.
	e.do("PATCH", e.base+"/devices/"+id, testAdminToken, `{"data":{"sync":true,"sip":{"password":"new-pw"}}}`).mustCode(t, 200)
	if got := event(p.next()); got != "check-sync" {
		t.Errorf("Event %q", got)
	}
	if n := e.svc.Count(e.acct); n != 0 {
		t.Errorf("%d bindings after the password change", n)
	}
}

func TestFlushUserSendsCheckSyncFirst(t *testing.T) {
	e := startSyncAPI(t, registrar.NotifyConfig{})
	e.device("alice")
	e.device("bob")
	p := e.phone("alice", "TCP")
	bob := e.phone("bob", "UDP")
	r := e.do("DELETE", e.base+"/registrations/alice", testAdminToken, "").mustCode(t, 200)
	if r.data() != "ok" {
		t.Errorf("data %s", r.raw)
	}
	if got := event(p.next()); got != "check-sync" {
		t.Errorf("Event %q", got)
	}
	if n := len(e.loc.Lookup("alice@"+e.realm, nil)); n != 0 {
		t.Errorf("alice keeps %d bindings", n)
	}
	if n := e.svc.Count(e.acct); n != 1 {
		t.Errorf("account has %d bindings, want bob's", n)
	}
	errorEnvelope(t, e.do("DELETE", e.base+"/registrations/nosuch", testAdminToken, ""), 404, "bad identifier", []any{"nosuch"})
	// The account flush sends nothing (Kazoo).
	e.do("DELETE", e.base+"/registrations", testAdminToken, "").mustCode(t, 200)
	e.n.Close()
	bob.none()
}

func TestSyncAccountBulk(t *testing.T) {
	e := startSyncAPI(t, registrar.NotifyConfig{BulkRate: 1000})
	var phones []*syncPhone
	for i, tr := range []string{"UDP", "TCP", "UDP"} {
		u := "user" + strconv.Itoa(i)
		e.device(u)
		phones = append(phones, e.phone(u, tr))
	}
	e.device("idle") // registered never: not counted
	r := e.do("POST", e.base+"/devices/sync", testAdminToken, "").mustCode(t, 202)
	m := r.dataMap(t)
	if m["contacts"] != 3.0 || m["message"] != "sync request sent" || m["rate_per_second"] != 1000.0 {
		t.Errorf("data %s", r.raw)
	}
	for _, p := range phones {
		if got := event(p.next()); got != "check-sync" {
			t.Errorf("%s: Event %q", p.user, got)
		}
	}
	e.n.Close()
	for _, p := range phones {
		p.none()
	}
	errorEnvelope(t, e.do("POST", "/v2/accounts/0123456789abcdef0123456789abcdef/devices/sync", testAdminToken, ""),
		404, "bad_identifier", map[string]any{"cause": "0123456789abcdef0123456789abcdef", "message": "bad identifier"})
}

func TestSyncRoutesWithoutNotifier(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("NoNotify", "nonotify.sip.example.com")
	id := ta.createDevice(acct, `{"name":"d","sip":{"username":"d1","password":"password1"}}`)
	base := "/v2/accounts/" + acct
	for _, rt := range []struct{ method, path, body string }{
		{"POST", base + "/devices/" + id + "/sync", ""},
		{"PUT", base + "/devices/" + id + "/notify", `{"action":"notify","data":{"event":"talk"}}`},
		{"POST", base + "/devices/sync", ""},
	} {
		errorEnvelope(t, ta.do(rt.method, rt.path, testAdminToken, rt.body), 501, "not_implemented",
			map[string]any{"message": "not implemented"})
	}
	// "sync" is still consumed, never stored.
	r := ta.do("PATCH", base+"/devices/"+id, testAdminToken, `{"data":{"sync":true}}`).mustCode(t, 200)
	if _, ok := r.dataMap(t)["sync"]; ok {
		t.Errorf("sync stored: %s", r.raw)
	}
}

// FuzzDecodeNotify: the notify body decoder never panics and never lets a
// control character through to the event it returns.
func FuzzDecodeNotify(f *testing.F) {
	for _, s := range []string{
		`{"action":"notify","data":{"event":"talk"}}`,
		`{"data":{"action":"notify","data":{"event":"hold"}}}`,
		`{"action":"notify","data":{"data":{"event":"x"}}}`,
		`{"action":"notify","data":{"event":"a","body":{"content_type":"t","data":"d"}}}`,
		`{"action":1,"data":[]}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.Header.SetContentType("application/json")
		ctx.Request.SetBody(body)
		n, ae := decodeNotify(&request{ctx: ctx})
		if ae == nil && n.event == "" {
			t.Fatalf("accepted %q without an event", body)
		}
		if ae == nil {
			var env any
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatalf("accepted invalid JSON %q", body)
			}
		}
	})
}
