package registrar

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/sipedge/sipedge/location"
)

// qopAuth answers res's MD5 challenge with qop=auth and nonce count nc.
func qopAuth(t *testing.T, res *sip.Response, pass string, nc int) string {
	t.Helper()
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatal(err)
		}
		if c.Algorithm != AlgMD5 {
			continue
		}
		cred, err := digest.Digest(c, digest.Options{Method: "REGISTER", URI: "sip:acme.example.com",
			Username: "alice", Password: pass, Count: nc, Cnonce: "0a4f113b"})
		if err != nil {
			t.Fatal(err)
		}
		return "Authorization: " + cred.String() + "\r\n"
	}
	t.Fatal("no MD5 challenge")
	return ""
}

// A stateless registrar sees retransmissions. The one HandleRegister would
// answer differently, the applied request with its used nonce count, gets
// the same 200 again and changes nothing; anything short of that exact
// retransmission still meets the replay rule.
func TestHandleRegisterStatelessRetransmission(t *testing.T) {
	src := Source{Addr: netip.MustParseAddrPort("203.0.113.7:40112"),
		Local: netip.MustParseAddrPort("198.51.100.1:5060"), Transport: location.UDP}
	other := src
	other.Addr = netip.MustParseAddrPort("203.0.113.8:40112")
	withCSeq := func(s string, n string) string { return strings.Replace(s, "CSeq: 1826 ", "CSeq: "+n+" ", 1) }
	cases := []struct {
		name string
		// again builds the second request from the applied one.
		again     func(applied string, chal *sip.Response) string
		src       Source
		code      int
		unchanged bool
	}{
		{name: "same request, same source", again: func(a string, _ *sip.Response) string { return a }, src: src, code: 200, unchanged: true},
		{name: "same request from another source is a replay", again: func(a string, _ *sip.Response) string { return a }, src: other, code: 401, unchanged: true},
		{name: "new CSeq with a used nonce count is a replay", again: func(a string, _ *sip.Response) string { return withCSeq(a, "1827") }, src: src, code: 401, unchanged: true},
		{name: "same CSeq with a wrong password", again: func(_ string, c *sip.Response) string {
			return strings.Replace(benchRegister, "%AUTH%", qopAuth(t, c, "wrong", 1), 1)
		}, src: src, code: 401, unchanged: true},
		{name: "next nonce count refreshes", again: func(_ string, c *sip.Response) string {
			return withCSeq(strings.Replace(benchRegister, "%AUTH%", qopAuth(t, c, alicePass, 2), 1), "1827")
		}, src: src, code: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newCore(t, nil)
			chal := e.svc.HandleRegisterStateless(parseRequest(t, strings.Replace(benchRegister, "%AUTH%", "", 1)), src)
			if chal.StatusCode != 401 {
				t.Fatalf("challenge: %d", chal.StatusCode)
			}
			applied := strings.Replace(benchRegister, "%AUTH%", qopAuth(t, chal, alicePass, 1), 1)
			first := e.svc.HandleRegisterStateless(parseRequest(t, applied), src)
			if first.StatusCode != 200 {
				t.Fatalf("first: %d", first.StatusCode)
			}
			before := e.loc.Lookup("alice@acme.example.com", nil)
			e.clock.Advance(2e9)
			res := e.svc.HandleRegisterStateless(parseRequest(t, tc.again(applied, chal)), tc.src)
			if res.StatusCode != tc.code {
				t.Fatalf("second: %d %s, want %d", res.StatusCode, res.Reason, tc.code)
			}
			after := e.loc.Lookup("alice@acme.example.com", nil)
			if len(before) != 1 || len(after) != 1 {
				t.Fatalf("bindings %d then %d", len(before), len(after))
			}
			if same := before[0].Updated.Equal(after[0].Updated) && before[0].CSeq == after[0].CSeq; same != tc.unchanged {
				t.Errorf("binding unchanged = %v, want %v", same, tc.unchanged)
			}
			if tc.code == 200 && !strings.HasPrefix(header(res, "Contact"), "<sip:alice@192.168.1.20:5062") {
				t.Errorf("Contact %q, first answer had %q", header(res, "Contact"), header(first, "Contact"))
			}
		})
	}
}
