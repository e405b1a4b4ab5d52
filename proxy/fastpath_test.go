package proxy_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
	"github.com/sipedge/sipedge/registrar"
)

// udpPhone is a phone on a raw UDP socket, so the test sees exactly the
// bytes the fast path writes and where it writes them.
type udpPhone struct {
	t      *testing.T
	c      *net.UDPConn
	server netip.AddrPort
	callID string
	cseq   int
}

func newUDPPhone(t *testing.T, server netip.AddrPort) *udpPhone {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPhone{t: t, c: c, server: server, callID: sip.GenerateTagN(12) + "@fast"}
}

func (p *udpPhone) port() int { return p.c.LocalAddr().(*net.UDPAddr).Port }

// register builds a REGISTER for alice; the Via names a private address
// with rport so the NAT fix is visible. extra are whole header lines.
func (p *udpPhone) register(extra ...string) string {
	p.cseq++
	return p.registerCSeq(p.cseq, extra...)
}

func (p *udpPhone) registerCSeq(cseq int, extra ...string) string {
	hdrs := []string{
		"Via: SIP/2.0/UDP 10.1.2.3:5060;rport;branch=" + branch(),
		"Max-Forwards: 70",
		"From: <sip:alice@" + realm + ">;tag=ft1",
		"To: <sip:alice@" + realm + ">",
		"Call-ID: " + p.callID,
		fmt.Sprintf("CSeq: %d REGISTER", cseq),
		"User-Agent: fastpath-test",
	}
	return request("REGISTER sip:"+realm+" SIP/2.0", append(hdrs, extra...)...)
}

func (p *udpPhone) send(msg string) {
	p.t.Helper()
	if _, err := p.c.WriteToUDPAddrPort([]byte(msg), p.server); err != nil {
		p.t.Fatal(err)
	}
}

func (p *udpPhone) do(msg string) *sip.Response {
	p.t.Helper()
	p.send(msg)
	return readResponse(p.t, p.c)
}

// silent asserts no answer comes: it waits for the answer to a probe (an
// OPTIONS, which the server always answers) sent after msg, so no sleep
// decides the outcome: UDP on loopback keeps order within one socket pair
// and the reader handles datagrams one by one.
func (p *udpPhone) silent(msg string) {
	p.t.Helper()
	p.send(msg)
	res := p.do(request("OPTIONS sip:"+p.server.String()+" SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:"+fmt.Sprint(p.port())+";rport;branch="+branch(),
		"Max-Forwards: 70", "From: <sip:probe@x>;tag=p", "To: <sip:"+p.server.String()+">",
		"Call-ID: probe-"+branch(), "CSeq: 1 OPTIONS"))
	if cs := res.CSeq(); cs == nil || cs.MethodName != sip.OPTIONS {
		p.t.Fatalf("got %d to %v before the probe's answer: expected silence", res.StatusCode, res.CSeq())
	}
}

// authorize answers the MD5 challenge of res for the given password.
func authorize(t *testing.T, res *sip.Response, pass string) string {
	return authorizeN(t, res, pass, 1)
}

// authorizeN is authorize with nonce count nc; nc 0 answers RFC 2069
// style, without qop.
func authorizeN(t *testing.T, res *sip.Response, pass string, nc int) string {
	t.Helper()
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatal(err)
		}
		if chal.Algorithm != "MD5" {
			continue
		}
		if nc == 0 {
			chal.QOP = nil
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + realm,
			Username: "alice", Password: pass, Count: nc})
		if err != nil {
			t.Fatal(err)
		}
		return "Authorization: " + cred.String()
	}
	t.Fatalf("no MD5 challenge in %d", res.StatusCode)
	return ""
}

func contactLine(port int, params string) string {
	return fmt.Sprintf("Contact: <sip:alice@127.0.0.1:%d>%s", port, params)
}

// fastEnv is a served proxy with a real registrar; mutate tunes the
// registrar's config.
func fastEnv(t *testing.T, mutate func(*registrar.Config), opts ...proxytest.Option) (*proxytest.Server, *registrar.Service, *location.Table, *devices.Account) {
	t.Helper()
	store, acct := aliceStore(t)
	cfg := registrar.Default()
	if mutate != nil {
		mutate(&cfg)
	}
	loc := location.New(location.Options{})
	reg, err := registrar.New(cfg, store, loc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return proxytest.NewServer(t, reg, opts...), reg, loc, acct
}

// Digest 401 → 200 over UDP: the answers go to the packet's source port,
// carry the NAT Via fix and the Server header, and the binding is stored
// with the real source; the requests are counted as the chain counts them.
func TestFastPathDigest(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			srv, reg, _, acct := fastEnv(t, nil, proxytest.WithConfig(func(c *proxy.Config) { c.RegisterFastPath = fast }))
			ph := newUDPPhone(t, srv.UDP)
			res := ph.do(ph.register(contactLine(ph.port(), "")))
			if res.StatusCode != 401 {
				t.Fatalf("first REGISTER: %d %s, want 401", res.StatusCode, res.Reason)
			}
			res = ph.do(ph.register(contactLine(ph.port(), ""), "Expires: 600", authorize(t, res, password)))
			if res.StatusCode != 200 {
				t.Fatalf("authenticated REGISTER: %d %s", res.StatusCode, res.Reason)
			}
			c := res.Contact()
			if c == nil || c.Address.Port != ph.port() {
				t.Fatalf("200 lists contact %v", c)
			}
			if e, _ := c.Params.Get("expires"); e != "600" {
				t.Errorf("contact expires = %q, want 600", e)
			}
			via := res.Via()
			if rec, _ := via.Params.Get("received"); rec != "127.0.0.1" {
				t.Errorf("Via received = %q", rec)
			}
			if rp, _ := via.Params.Get("rport"); rp != fmt.Sprint(ph.port()) {
				t.Errorf("Via rport = %q, want %d", rp, ph.port())
			}
			if tag, _ := res.To().Params.Get("tag"); tag == "" {
				t.Error("200 without a To tag")
			}
			if got := header(res, "Server"); got != "sipedge" {
				t.Errorf("Server = %q", got)
			}
			if header(res, "Date") == "<absent>" {
				t.Error("200 without Date")
			}
			recs := reg.Registrations(acct.ID)
			if len(recs) != 1 {
				t.Fatalf("%d registrations", len(recs))
			}
			r := recs[0]
			if r.SourcePort != fmt.Sprint(ph.port()) || r.ProxyProtocol != "udp" || r.ProxyPort != fmt.Sprint(srv.UDP.Port()) {
				t.Errorf("record %+v", r)
			}
			if got := counter(t, srv.Registry, "sipedge_proxy_requests_total", map[string]string{"method": "REGISTER", "transport": "UDP"}); got != 2 {
				t.Errorf("REGISTER/UDP requests = %v, want 2", got)
			}
			for class, want := range map[string]float64{"4xx": 1, "2xx": 1} {
				if got := counter(t, srv.Registry, "sipedge_proxy_responses_total", map[string]string{"method": "REGISTER", "class": class}); got != want {
					t.Errorf("REGISTER %s = %v, want %v", class, got, want)
				}
			}
		})
	}
}

// The registrar's rules hold on the fast path: each case is one phone's
// sequence after a fresh challenge.
func TestFastPathRules(t *testing.T) {
	cases := []struct {
		name string
		// steps returns the final response to check.
		run   func(t *testing.T, ph *udpPhone, chal *sip.Response) *sip.Response
		code  int
		check func(t *testing.T, res *sip.Response, loc *location.Table)
	}{
		{
			name: "wrong password is challenged again",
			run: func(t *testing.T, ph *udpPhone, chal *sip.Response) *sip.Response {
				return ph.do(ph.register(contactLine(ph.port(), ""), authorize(t, chal, "wrong")))
			},
			code: 401,
			check: func(t *testing.T, _ *sip.Response, loc *location.Table) {
				if n := len(loc.Lookup("alice@"+realm, nil)); n != 0 {
					t.Errorf("%d bindings after a wrong password", n)
				}
			},
		},
		{
			name: "too brief is 423 with Min-Expires",
			run: func(t *testing.T, ph *udpPhone, chal *sip.Response) *sip.Response {
				return ph.do(ph.register(contactLine(ph.port(), ""), "Expires: 10", authorize(t, chal, password)))
			},
			code: 423,
			check: func(t *testing.T, res *sip.Response, _ *location.Table) {
				if got := header(res, "Min-Expires"); got != "60" {
					t.Errorf("Min-Expires = %q", got)
				}
			},
		},
		{
			name: "query lists the binding",
			run: func(t *testing.T, ph *udpPhone, chal *sip.Response) *sip.Response {
				res := ph.do(ph.register(contactLine(ph.port(), ""), authorize(t, chal, password)))
				if res.StatusCode != 200 {
					t.Fatalf("register: %d", res.StatusCode)
				}
				return ph.do(ph.register(authorizeN(t, chal, password, 2)))
			},
			code: 200,
			check: func(t *testing.T, res *sip.Response, _ *location.Table) {
				if c := res.Contact(); c == nil || c.Address.Host != "127.0.0.1" {
					t.Errorf("query answer lists %v", c)
				}
			},
		},
		{
			name: "unregister with star",
			run: func(t *testing.T, ph *udpPhone, chal *sip.Response) *sip.Response {
				res := ph.do(ph.register(contactLine(ph.port(), ""), authorize(t, chal, password)))
				if res.StatusCode != 200 {
					t.Fatalf("register: %d", res.StatusCode)
				}
				return ph.do(ph.register("Contact: *", "Expires: 0", authorizeN(t, chal, password, 2)))
			},
			code: 200,
			check: func(t *testing.T, res *sip.Response, loc *location.Table) {
				if res.Contact() != nil {
					t.Errorf("unregister answer lists %v", res.Contact())
				}
				if n := len(loc.Lookup("alice@"+realm, nil)); n != 0 {
					t.Errorf("%d bindings after unregister", n)
				}
			},
		},
		{
			name: "banned after repeated failures",
			run: func(t *testing.T, ph *udpPhone, chal *sip.Response) *sip.Response {
				for i := range 3 {
					res := ph.do(ph.register(contactLine(ph.port(), ""), authorizeN(t, chal, "wrong", i+1)))
					if want := []int{401, 401, 403}[i]; res.StatusCode != want {
						t.Fatalf("failure %d: %d, want %d", i+1, res.StatusCode, want)
					}
				}
				// Banned now: even the right password is refused.
				return ph.do(ph.register(contactLine(ph.port(), ""), authorizeN(t, chal, password, 4)))
			},
			code: 403,
			check: func(t *testing.T, _ *sip.Response, loc *location.Table) {
				if n := len(loc.Lookup("alice@"+realm, nil)); n != 0 {
					t.Errorf("%d bindings while banned", n)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _, loc, _ := fastEnv(t, func(c *registrar.Config) { c.FailedAuth.Limit = 3 })
			ph := newUDPPhone(t, srv.UDP)
			chal := ph.do(ph.register(contactLine(ph.port(), "")))
			if chal.StatusCode != 401 {
				t.Fatalf("challenge: %d", chal.StatusCode)
			}
			res := tc.run(t, ph, chal)
			if res.StatusCode != tc.code {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tc.code)
			}
			tc.check(t, res, loc)
		})
	}
}

// A retransmitted REGISTER (same bytes) is handled again, statelessly, and
// gets the same answer: same status, same contact and expiry, same To-tag.
func TestFastPathRetransmission(t *testing.T) {
	srv, _, _, _ := fastEnv(t, nil)
	ph := newUDPPhone(t, srv.UDP)
	chal := ph.do(ph.register(contactLine(ph.port(), "")))
	msg := ph.register(contactLine(ph.port(), ""), "Expires: 600", authorize(t, chal, password))
	first := ph.do(msg)
	again := ph.do(msg)
	if first.StatusCode != 200 || again.StatusCode != 200 {
		t.Fatalf("answers %d then %d, want 200 twice", first.StatusCode, again.StatusCode)
	}
	for _, h := range []string{"To", "Contact", "Via", "Call-ID", "CSeq"} {
		if a, b := header(first, h), header(again, h); a != b {
			t.Errorf("%s differs: %q then %q", h, a, b)
		}
	}
	// The challenge is stable too.
	c1 := ph.do(ph.registerCSeq(100, contactLine(ph.port(), "")))
	if c1.StatusCode != 401 {
		t.Fatalf("challenge: %d", c1.StatusCode)
	}
}

// Junk that starts like a REGISTER never kills the UDP reader nor panics it
// into silence: a good REGISTER after each is still answered.
func TestFastPathJunk(t *testing.T) {
	srv, _, _, _ := fastEnv(t, nil)
	ph := newUDPPhone(t, srv.UDP)
	junk := map[string]string{
		"request line only":   "REGISTER sip:x SIP/2.0\r\n\r\n",
		"no version":          "REGISTER sip:acme\r\n\r\n",
		"binary after method": "REGISTER \x00\x01\x02\xff\xfe garbage garbage garbage\r\n",
		"bad content length":  "REGISTER sip:a SIP/2.0\r\nContent-Length: 99999\r\n\r\n",
		"header injection":    strings.Replace(ph.register(contactLine(ph.port(), "")), "Call-ID: ", "Call-ID: x\nInjected: y ", 1),
		"bad expires":         ph.register(contactLine(ph.port(), ""), "Expires: soon"),
		"huge cseq":           strings.Replace(ph.register(contactLine(ph.port(), "")), "CSeq: ", "CSeq: 99999999999999999999", 1),
		"contact star alone":  ph.register("Contact: *"),
		"no from":             request("REGISTER sip:"+realm+" SIP/2.0", "Via: SIP/2.0/UDP 1.2.3.4;branch="+branch(), "To: <sip:a@b>", "Call-ID: j", "CSeq: 1 REGISTER"),
		"no via":              request("REGISTER sip:"+realm+" SIP/2.0", "From: <sip:a@b>;tag=1", "To: <sip:a@b>", "Call-ID: j", "CSeq: 1 REGISTER"),
		"method mismatch":     request("REGISTER sip:"+realm+" SIP/2.0", "Via: SIP/2.0/UDP 1.2.3.4;branch="+branch(), "From: <sip:a@b>;tag=1", "To: <sip:a@b>", "Call-ID: j", "CSeq: 1 INVITE"),
	}
	for name, msg := range junk {
		t.Run(name, func(t *testing.T) {
			ph.send(msg)
			// Whatever the answer (400, 401 or silence), the reader lives.
			good := newUDPPhone(t, srv.UDP)
			if res := good.do(good.register(contactLine(good.port(), ""))); res.StatusCode != 401 {
				t.Fatalf("REGISTER after junk: %d", res.StatusCode)
			}
		})
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_panics_total", nil); got != 0 {
		t.Errorf("panics = %v", got)
	}
}

// A REGISTER whose headers carry an injected line is dropped in silence by
// the registrar (any answer would echo it); the fast path keeps that.
func TestFastPathDropsInjection(t *testing.T) {
	srv, _, _, _ := fastEnv(t, nil)
	ph := newUDPPhone(t, srv.UDP)
	ph.silent(strings.Replace(ph.register(contactLine(ph.port(), "")), "Call-ID: ", "Call-ID: x\nInjected: y ", 1))
}

// TCP REGISTER stays on the transaction path and still works.
func TestFastPathLeavesTCP(t *testing.T) {
	srv, reg, _, acct := fastEnv(t, nil)
	req := registerRequest(5099)
	res, err := srv.Do(ctxT(t), "TCP", req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 401 {
		t.Fatalf("TCP REGISTER: %d", res.StatusCode)
	}
	recs := reg.Registrations(acct.ID)
	if len(recs) != 0 {
		t.Fatalf("%d registrations before auth", len(recs))
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_requests_total", map[string]string{"method": "REGISTER", "transport": "TCP"}); got != 1 {
		t.Errorf("REGISTER/TCP = %v", got)
	}
}
