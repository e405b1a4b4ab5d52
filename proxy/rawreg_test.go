package proxy_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

// rawStep is one REGISTER of a phone's life, built against one server's
// challenge (nonces differ between servers).
type rawStep struct {
	name string
	// msg builds the request; chal is this server's 401, nc the next nonce count.
	msg func(t *testing.T, p *udpPhone, chal *sip.Response, nc int) string
	// raw: the raw path answers it (else the full path does, on both servers).
	raw  bool
	code int
}

// Blanked: nonce and opaque (each server has its own secret), the branch
// (each request gets a fresh one) and with it the To-tag derived from it.
var nonceRE = regexp.MustCompile(`(nonce|opaque)="[^"]*"|(branch|tag)=[^;]*`)

// comparable renders what must agree between the two paths' answers: the
// status, every header a registrar's answer carries, and whether Date is
// there.
func comparable(res *sip.Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s\n", res.StatusCode, res.Reason)
	for _, name := range []string{"Via", "From", "To", "Call-ID", "CSeq", "Contact", "WWW-Authenticate", "Min-Expires", "Server", "Content-Length"} {
		for _, h := range res.GetHeaders(name) {
			fmt.Fprintf(&b, "%s: %s\n", name, nonceRE.ReplaceAllString(h.Value(), `$1$2="-"`))
		}
	}
	fmt.Fprintf(&b, "Date present: %v\n", res.GetHeader("Date") != nil)
	return b.String()
}

// bindingsOf renders an AOR's bindings as the registrar stores them, less
// what depends on the moment (times) or on the server (its local address).
func bindingsOf(loc *location.Table) string {
	var b strings.Builder
	for _, x := range loc.Lookup("alice@"+realm, nil) {
		fmt.Fprintf(&b, "%s|%s|%s|%s|%d|%v|%v|%s|%s|%s\n", x.Contact, x.OriginalContact, x.PreviousContact, x.CallID,
			x.CSeq, x.NAT, x.Q, x.Source, x.UserAgent, x.Username+"@"+x.Realm)
	}
	return b.String()
}

// The raw path answers exactly as the full path does. One phone (one
// socket, so the same source on both) plays the same life against a server
// with the raw path and one without; every answer and the stored bindings
// after every step must agree, and the raw server must have answered the
// steps marked raw itself (and left the others to its full path).
func TestRawPathMatchesFullPath(t *testing.T) {
	rawSrv, _, rawLoc, _ := fastEnv(t, nil)
	fullSrv, _, fullLoc, _ := fastEnv(t, nil, proxytest.WithConfig(func(c *proxy.Config) { c.RegisterRawPath = false }))

	contact := func(p *udpPhone) string { return contactLine(p.port(), "") }
	steps := []rawStep{
		{name: "challenge", raw: true, code: 401, msg: func(t *testing.T, p *udpPhone, _ *sip.Response, _ int) string {
			return p.register(contact(p))
		}},
		{name: "first binding", raw: true, code: 200, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, nc int) string {
			return p.register(contact(p), "Expires: 600", authorizeN(t, chal, password, nc))
		}},
		{name: "refresh", raw: true, code: 200, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, nc int) string {
			return p.register(contact(p), "Expires: 600", authorizeN(t, chal, password, nc))
		}},
		{name: "contact expires beats the header", raw: true, code: 200, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, nc int) string {
			return p.register(contactLine(p.port(), ";expires=120"), "Expires: 600", authorizeN(t, chal, password, nc))
		}},
		{name: "display name, uri and header params", raw: true, code: 200, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, nc int) string {
			return p.register(fmt.Sprintf(`Contact: "Alice" <sip:alice@127.0.0.1:%d;transport=udp;ob>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000000000001>";q=0.7;reg-id=1`, p.port()),
				authorizeN(t, chal, password, nc))
		}},
		{name: "no qop", raw: true, code: 200, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, _ int) string {
			return p.register(contact(p), authorizeN(t, chal, password, 0))
		}},
		{name: "compact forms, To tag, Via by name without rport, upper-case realm", raw: true, code: 200, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, nc int) string {
			p.cseq++
			return request("REGISTER sip:"+strings.ToUpper(realm)+" SIP/2.0",
				"v: SIP/2.0/UDP phone.example.net:5060;branch="+branch(),
				"Max-Forwards: 70",
				"f: Alice <sip:alice@"+strings.ToUpper(realm)+">;tag=ft2",
				"t: <sip:alice@"+strings.ToUpper(realm)+">;tag=tt2",
				"i: "+p.callID,
				fmt.Sprintf("CSeq: %d REGISTER", p.cseq),
				fmt.Sprintf("m: <sip:alice@127.0.0.1:%d>", p.port()),
				authorizeN(t, chal, password, nc))
		}},
		{name: "wrong password", raw: false, code: 401, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, nc int) string {
			return p.register(contact(p), authorizeN(t, chal, "wrong", nc))
		}},
		{name: "too brief", raw: false, code: 423, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, nc int) string {
			return p.register(contact(p), "Expires: 10", authorizeN(t, chal, password, nc))
		}},
		{name: "two contacts", raw: false, code: 200, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, nc int) string {
			return p.register(contact(p), contactLine(p.port()+1, ""), authorizeN(t, chal, password, nc))
		}},
		{name: "replayed nonce count", raw: false, code: 401, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, _ int) string {
			return p.register(contact(p), authorizeN(t, chal, password, 1))
		}},
		{name: "removal", raw: false, code: 200, msg: func(t *testing.T, p *udpPhone, chal *sip.Response, nc int) string {
			return p.register(contact(p), "Expires: 0", authorizeN(t, chal, password, nc))
		}},
	}

	ph := newUDPPhone(t, rawSrv.UDP)
	var chal [2]*sip.Response
	nc := 0
	answered := 0.0
	for _, st := range steps {
		nc++
		var got [2]string
		cseq := ph.cseq
		for i, srv := range []*proxytest.Server{rawSrv, fullSrv} {
			ph.server = srv.UDP
			ph.cseq = cseq // the same request, CSeq included, to both
			res := ph.do(st.msg(t, ph, chal[i], nc))
			if res.StatusCode != st.code {
				t.Fatalf("%s: server %d answered %d %s, want %d", st.name, i, res.StatusCode, res.Reason, st.code)
			}
			if st.name == "challenge" {
				chal[i] = res
			}
			got[i] = comparable(res)
		}
		if got[0] != got[1] {
			t.Errorf("%s: answers differ\nraw path:\n%s\nfull path:\n%s", st.name, got[0], got[1])
		}
		if a, b := bindingsOf(rawLoc), bindingsOf(fullLoc); a != b {
			t.Errorf("%s: bindings differ\nraw path:\n%s\nfull path:\n%s", st.name, a, b)
		}
		if st.raw {
			answered++
		}
		if got := counter(t, rawSrv.Registry, "sipedge_proxy_register_raw_total", map[string]string{"outcome": "answered"}); got != answered {
			t.Fatalf("%s: raw path answered %v, want %v", st.name, got, answered)
		}
	}
	if got := counter(t, fullSrv.Registry, "sipedge_proxy_register_raw_total", map[string]string{"outcome": "answered"}); got != 0 {
		t.Errorf("server without the raw path answered %v on it", got)
	}
	if got := counter(t, rawSrv.Registry, "sipedge_proxy_register_raw_total", map[string]string{"outcome": "declined_registrar"}); got < 3 {
		t.Errorf("declined by the registrar %v times, want at least 3 (wrong password, too brief, replay)", got)
	}
	if got := counter(t, rawSrv.Registry, "sipedge_proxy_register_raw_total", map[string]string{"outcome": "declined_reader"}); got != 1 {
		t.Errorf("declined by the reader %v times, want 1 (two contacts)", got)
	}
}
