package registrar_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy/proxytest"
	"github.com/sipedge/sipedge/registrar"
)

const nRealm = "notify.example.com"

// nenv is the real registrar behind a real proxy on loopback, with a
// Notifier sending through that proxy.
type nenv struct {
	t     *testing.T
	store *devices.Store
	loc   *location.Table
	svc   *registrar.Service
	srv   *proxytest.Server
	n     *registrar.Notifier
	reg   *prometheus.Registry
	acct  *devices.Account
	devs  map[string]*devices.Device // by username
}

func newNotifyEnv(t *testing.T, cfg registrar.NotifyConfig) *nenv {
	t.Helper()
	e := &nenv{t: t, reg: prometheus.NewRegistry(), devs: map[string]*devices.Device{}}
	store, err := devices.Open(devices.Options{Path: t.TempDir() + "/sipedge.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e.store = store
	if e.acct, err = store.CreateAccount(map[string]any{"name": "Notify", "realm": nRealm}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		user      string
		overwrite bool
	}{{"alice", true}, {"bob", false}, {"carol", false}} {
		dev, err := store.CreateDevice(e.acct.ID, map[string]any{
			"name": d.user + " phone", "register_overwrite_notify": d.overwrite,
			"sip": map[string]any{"username": d.user, "password": d.user + "-pw"},
		})
		if err != nil {
			t.Fatalf("CreateDevice %s: %v", d.user, err)
		}
		e.devs[d.user] = dev
	}
	e.loc = location.New(location.Options{})
	rcfg := registrar.Default()
	rcfg.Algorithms = []string{registrar.AlgMD5}
	e.svc, err = registrar.New(rcfg, store, e.loc, e.reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	store.Subscribe(e.svc.DeviceChanged)
	e.srv = proxytest.NewServer(t, e.svc, proxytest.WithRegisterer(e.reg))
	e.n = registrar.NewNotifier(e.svc, e.srv.Server, cfg, e.reg, slog.New(slog.DiscardHandler))
	e.svc.SetOverwriteHook(e.n.Overwritten)
	t.Cleanup(e.n.Close)
	return e
}

// uaPhone is a sipgo user agent: its client registers through the proxy,
// and its server (on the same UA, so on the same flow) records NOTIFYs.
type uaPhone struct {
	t         *testing.T
	e         *nenv
	user      string
	transport string
	contact   sip.Uri
	cl        *sipgo.Client
	callID    string
	cseq      uint32

	notifies chan *sip.Request
	// answer is the code the phone answers NOTIFYs with; 0 = never answers.
	answer atomic.Int32
	// hold keeps non-answering handlers blocked until the test ends.
	hold chan struct{}
	// onNotify runs in the handler before the answer.
	onNotify func(*sip.Request)
	mu       sync.Mutex
}

func (e *nenv) phone(user, transport string, contactPort int) *uaPhone {
	t := e.t
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("NotifyPhone/1.0"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	p := &uaPhone{t: t, e: e, user: user, transport: transport, notifies: make(chan *sip.Request, 16),
		hold: make(chan struct{}), callID: user + "-" + transport + "-" + strconv.Itoa(contactPort) + "@127.0.0.1"}
	p.answer.Store(200)
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		p.mu.Lock()
		hook := p.onNotify
		p.mu.Unlock()
		if hook != nil {
			hook(req)
		}
		p.notifies <- req
		code := int(p.answer.Load())
		if code == 0 {
			<-p.hold
			return
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, "OK", nil))
	})
	// The client dials (TCP) or opens an ephemeral socket (UDP) towards the
	// proxy; requests arriving on that flow reach srv's handlers.
	p.cl, err = sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(p.hold)
		_ = ua.Close()
	})
	p.contact = sip.Uri{Scheme: "sip", User: user, Host: "192.0.2.10", Port: contactPort}
	if transport == "TCP" {
		p.contact.UriParams = sip.NewParams()
		p.contact.UriParams.Add("transport", "tcp")
	}
	return p
}

func (p *uaPhone) request(auth sip.Header) *sip.Request {
	p.cseq++
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: nRealm})
	aor := sip.Uri{Scheme: "sip", User: p.user, Host: nRealm}
	from := &sip.FromHeader{Address: aor}
	from.Params.Add("tag", "reg"+strconv.Itoa(int(p.cseq)))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	cid := sip.CallIDHeader(p.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: p.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(&sip.ContactHeader{Address: p.contact})
	req.AppendHeader(sip.NewHeader("Expires", "600"))
	if auth != nil {
		req.AppendHeader(auth)
	}
	p.e.srv.Target(p.transport, req)
	return req
}

// register does the digest round trip; the phone is registered on return.
func (p *uaPhone) register() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.cl.Do(ctx, p.request(nil))
	if err != nil {
		p.t.Fatalf("REGISTER %s: %v", p.user, err)
	}
	if res.StatusCode == 401 {
		chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
		if err != nil {
			p.t.Fatal(err)
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + nRealm,
			Username: p.user, Password: p.user + "-pw", Count: 1, Cnonce: "abcdef"})
		if err != nil {
			p.t.Fatal(err)
		}
		res, err = p.cl.Do(ctx, p.request(sip.NewHeader("Authorization", cred.String())))
		if err != nil {
			p.t.Fatalf("REGISTER %s: %v", p.user, err)
		}
	}
	if res.StatusCode != 200 {
		p.t.Fatalf("REGISTER %s: %s", p.user, res.Short())
	}
}

// next returns the next NOTIFY the phone received, failing after a while.
func (p *uaPhone) next() *sip.Request {
	p.t.Helper()
	select {
	case r := <-p.notifies:
		return r
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s/%s received no NOTIFY", p.user, p.transport)
		return nil
	}
}

// none checks that no further NOTIFY is queued.
func (p *uaPhone) none() {
	p.t.Helper()
	select {
	case r := <-p.notifies:
		p.t.Errorf("%s/%s got an extra NOTIFY:\n%s", p.user, p.transport, r)
	default:
	}
}

func hdr(req *sip.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return h.Value()
	}
	return "<absent>"
}
