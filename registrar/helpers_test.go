package registrar

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
)

const (
	testRealm    = "acme.example.com"
	alicePass    = "alice-secret"
	bobPass      = "bob-secret"
	trunkIP      = "127.0.0.2"
	testTimeout  = 5 * time.Second
	aliceExpires = 600
)

// testClock is the injected clock shared by the registrar and the table.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a registrar on a real store and table behind a sipgo server on
// loopback UDP and TCP.
type env struct {
	t                 testing.TB
	clock             *testClock
	store             *devices.Store
	loc               *location.Table
	svc               *Service
	reg               *prometheus.Registry
	logs              *syncBuffer
	acct              *devices.Account
	alice, bob, carol *devices.Device // carol: no expire_seconds
	trunk             *devices.Device
	addr              map[string]string // "UDP"/"TCP" → listener address
	handled           chan *sip.Response
}

func newEnv(t *testing.T, mutate func(*Config)) *env {
	t.Helper()
	e := newCore(t, mutate)
	e.serve()
	return e
}

// newCore builds the registrar on a real store and table, without a SIP server.
func newCore(t testing.TB, mutate func(*Config)) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), reg: prometheus.NewRegistry(), logs: &syncBuffer{},
		addr: map[string]string{}, handled: make(chan *sip.Response, 64)}
	store, err := devices.Open(devices.Options{Path: t.TempDir() + "/sipedge.db"})
	if err != nil {
		t.Fatalf("devices.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	e.store = store
	e.acct, err = store.CreateAccount(map[string]any{"name": "Acme", "realm": testRealm})
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	mk := func(doc map[string]any) *devices.Device {
		d, err := store.CreateDevice(e.acct.ID, doc)
		if err != nil {
			var ve *devices.ValidationError
			if errors.As(err, &ve) {
				t.Fatalf("CreateDevice: %v %v", err, ve.Fields)
			}
			t.Fatalf("CreateDevice: %v", err)
		}
		return d
	}
	e.alice = mk(map[string]any{
		"name": "alice phone", "enabled": true, "owner_id": "0123456789abcdef0123456789abcdef",
		"presence_id": "1001", "suppress_unregister_notifications": true, "register_overwrite_notify": true,
		"sip": map[string]any{"username": "alice", "password": alicePass, "expire_seconds": aliceExpires},
	})
	e.bob = mk(map[string]any{"name": "bob phone", "enabled": false,
		"sip": map[string]any{"username": "bob", "password": bobPass}})
	e.carol = mk(map[string]any{"name": "carol phone",
		"sip": map[string]any{"username": "carol", "password": "carol-secret"}})
	e.trunk = mk(map[string]any{"name": "pbx trunk",
		"sip": map[string]any{"username": "trunk", "method": "ip", "ip": trunkIP}})

	e.loc = location.New(location.Options{Now: e.clock.Now})
	cfg := Default()
	cfg.Now = e.clock.Now
	cfg.Secret = []byte("0123456789abcdef0123456789abcdef")
	if mutate != nil {
		mutate(&cfg)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc, err = New(cfg, store, e.loc, e.reg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	store.Subscribe(e.svc.DeviceChanged)
	return e
}

// serve starts a sipgo server whose OnRegister hands every REGISTER to the registrar.
func (e *env) serve() {
	t := e.t
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("sipedge-test"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr["UDP"] = pc.LocalAddr().String()
	e.addr["TCP"] = ln.Addr().String()
	locals := map[string]netip.AddrPort{
		"UDP": netip.MustParseAddrPort(e.addr["UDP"]),
		"TCP": netip.MustParseAddrPort(e.addr["TCP"]),
	}
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		src := Source{Local: locals[req.Transport()], Transport: location.UDP}
		if req.Transport() == "TCP" {
			src.Transport = location.TCP
		}
		src.Addr, _ = netip.ParseAddrPort(req.Source())
		res := e.svc.HandleRegister(req, src)
		if res != nil {
			if err := tx.Respond(res); err != nil {
				t.Errorf("Respond: %v", err)
			}
		}
		e.handled <- res
	})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.ServeUDP(pc) }()
	go func() { defer wg.Done(); _ = srv.ServeTCP(ln) }()
	t.Cleanup(func() {
		_ = ua.Close()
		_ = pc.Close()
		_ = ln.Close()
		wg.Wait()
	})
}

// phone is a SIP client registering one AOR.
type phone struct {
	e                 *env
	cl                *sipgo.Client
	user, realm, pass string
	transport, dst    string
	callID            string
	cseq              uint32
	alg               string // challenge to answer
	noQOP             bool   // answer RFC 2069-style
	digestURI         string // uri in the credentials; "" = sip:<realm>
	nc                int
	contactHost       string
	contactPort       int
}

var callSeq struct {
	mu sync.Mutex
	n  int
}

func newCallID() string {
	callSeq.mu.Lock()
	defer callSeq.mu.Unlock()
	callSeq.n++
	return "call-" + strings.Repeat("x", 4) + "-" + itoa(callSeq.n) + "@127.0.0.1"
}

func itoa(n int) string { return strconv.Itoa(n) }

func (e *env) phone(user, pass, transport string, opts ...sipgo.UserAgentOption) *phone {
	return e.phoneFrom("", user, pass, transport, opts...)
}

// phoneFrom makes a phone whose packets leave from laddr ("" = any).
func (e *env) phoneFrom(laddr, user, pass, transport string, opts ...sipgo.UserAgentOption) *phone {
	t := e.t
	ua, err := sipgo.NewUA(append([]sipgo.UserAgentOption{sipgo.WithUserAgent("TestPhone/1.0")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	copts := []sipgo.ClientOption{sipgo.WithClientHostname("127.0.0.1")}
	if laddr != "" {
		copts = []sipgo.ClientOption{sipgo.WithClientHostname(strings.Split(laddr, ":")[0]), sipgo.WithClientConnectionAddr(laddr)}
	}
	cl, err := sipgo.NewClient(ua, copts...)
	if err != nil {
		t.Fatal(err)
	}
	return &phone{e: e, cl: cl, user: user, realm: testRealm, pass: pass, transport: transport,
		dst: e.addr[transport], callID: newCallID(), alg: AlgSHA256, contactHost: "192.168.1.20", contactPort: 5062}
}

func (p *phone) contact(params ...string) *sip.ContactHeader {
	h := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: p.contactHost, Port: p.contactPort}}
	if len(params) > 0 {
		h.Params = sip.NewParams()
		for i := 0; i+1 < len(params); i += 2 {
			h.Params.Add(params[i], params[i+1])
		}
	}
	return h
}

// request builds the next REGISTER of this phone's Call-ID.
func (p *phone) request(hdrs ...sip.Header) *sip.Request {
	p.cseq++
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.realm})
	aor := sip.Uri{Scheme: "sip", User: p.user, Host: p.realm}
	fp := sip.NewParams()
	fp.Add("tag", "ft"+itoa(int(p.cseq)))
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: fp})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	cid := sip.CallIDHeader(p.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: p.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(sip.NewHeader("User-Agent", "TestPhone/1.0"))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.SetTransport(p.transport)
	req.SetDestination(p.dst)
	return req
}

// do sends req and waits for the final response and for the server to
// have finished handling it.
func (p *phone) do(req *sip.Request) *sip.Response {
	p.e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := p.cl.Do(ctx, req)
	if err != nil {
		p.e.t.Fatalf("REGISTER: %v", err)
	}
	p.e.waitHandled()
	return res
}

func (e *env) waitHandled() *sip.Response {
	select {
	case r := <-e.handled:
		return r
	case <-time.After(testTimeout):
		e.t.Fatal("server never handled the request")
		return nil
	}
}

// authorization answers the challenge of algorithm p.alg in res.
func (p *phone) authorization(res *sip.Response, password string) sip.Header {
	p.e.t.Helper()
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			p.e.t.Fatalf("ParseChallenge(%q): %v", h.Value(), err)
		}
		if chal.Algorithm != p.alg {
			continue
		}
		if p.noQOP {
			chal.QOP = nil
		}
		p.nc++
		uri := p.digestURI
		if uri == "" {
			uri = "sip:" + p.realm
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: uri,
			Username: p.user, Password: password, Count: p.nc, Cnonce: "c0ffee" + itoa(p.nc)})
		if err != nil {
			p.e.t.Fatal(err)
		}
		return sip.NewHeader("Authorization", cred.String())
	}
	p.e.t.Fatalf("no %s challenge in %s", p.alg, res.Short())
	return nil
}

// register does the 401 round trip and returns the final answer.
func (p *phone) register(hdrs ...sip.Header) *sip.Response {
	p.e.t.Helper()
	res := p.do(p.request(hdrs...))
	if res.StatusCode != 401 {
		return res
	}
	p.nc = 0
	return p.do(p.request(append([]sip.Header{p.authorization(res, p.pass)}, hdrs...)...))
}

func header(res *sip.Response, name string) string {
	if h := res.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func headerValues(res *sip.Response, name string) []string {
	var out []string
	for _, h := range res.GetHeaders(name) {
		out = append(out, h.Value())
	}
	return out
}

func (e *env) bindings(user string) []location.Binding {
	return e.loc.Lookup(user+"@"+testRealm, nil)
}

func TestMain(m *testing.M) {
	// sipgo's own chatter (connection refcount warnings on close) is noise here.
	sip.SetDefaultLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	os.Exit(m.Run())
}
