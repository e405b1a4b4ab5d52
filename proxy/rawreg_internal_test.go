package proxy

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

var rawSeeds = []string{
	string(fastRegisterBytes("u1", 1, "")),
	string(fastRegisterBytes("u2", 7, "Authorization: Digest username=\"u2\", realm=\"acme.example.com\", nonce=\"x\", uri=\"sip:acme.example.com\", response=\"00\", qop=auth, nc=00000001, cnonce=\"a\"\r\n")),
	"REGISTER sip:x SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK3;rport\r\nf: \"Al\" <sip:a@x>;tag=1\r\nt: sip:a@x\r\ni: c\r\nCSeq: 2 REGISTER\r\nm: <sip:a@1.2.3.4>;expires=60\r\nl: 0\r\n\r\n",
	"REGISTER sips:[::1]:5061 SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK9;rport=7\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK8\r\nFrom: Bob <sip:b@x.org:5060;user=phone>;tag=9\r\nTo: <sip:b@x.org>;tag=z\r\nCall-ID: 1@2\r\nCSeq: 2147483647 REGISTER\r\nContact: \"B\" <sip:b@[2001:db8::1];transport=udp>;+sip.instance=\"<urn:uuid:1>\";q=0.5\r\nExpires: 30\r\nMax-Forwards: 255\r\nSupported: path, gruu\r\n\r\n",
	"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=b\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@h>\r\nContact: <sip:a@i>\r\n\r\n",
}

// FuzzRawRegister holds the raw reader to what the full path would make of
// the same bytes: whatever it accepts, sipgo's parser accepts too, sanity
// and the limits let through, and every field it reads equals sipgo's.
// So the raw path never answers what the full path would refuse, nor reads
// a request differently.
func FuzzRawRegister(f *testing.F) {
	for _, s := range rawSeeds {
		f.Add([]byte(s))
	}
	lim := DefaultLimits()
	limits := &limits{cfg: lim}
	parser := sip.NewParser()
	f.Fuzz(func(t *testing.T, data []byte) {
		var r rawReq
		if !strings.HasPrefix(string(data), "REGISTER ") || !parseRawRegister(string(data), &r, &lim) {
			return
		}
		msg, err := parser.ParseSIP(data)
		if err != nil {
			t.Fatalf("raw reader took what sipgo refuses (%v)", err)
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.Method != sip.REGISTER {
			t.Fatalf("raw reader took a %T %v", msg, msg)
		}
		if se := checkRequest(req); se != nil {
			t.Fatalf("raw reader took what sanity refuses: %d %s", se.Code, se.Reason)
		}
		if len(req.Body()) != 0 {
			t.Fatalf("raw reader took a body of %d bytes", len(req.Body()))
		}
		if se := limits.check(req); se != nil {
			t.Fatalf("raw reader took what the limits refuse: %d %s", se.Code, se.Reason)
		}
		to, from := req.To(), req.From()
		eq := func(what, raw, parsed string) {
			t.Helper()
			if raw != parsed {
				t.Fatalf("%s: raw %q, sipgo %q", what, raw, parsed)
			}
		}
		eq("To user", r.reg.ToUser, to.Address.User)
		eq("To host", r.reg.ToHost, to.Address.Host)
		eq("From user", r.reg.FromUser, from.Address.User)
		eq("From host", r.reg.FromHost, from.Address.Host)
		ftag, _ := from.Params.Get("tag")
		eq("From tag", r.fromTag, ftag)
		if r.toTagged != hasToTag(req) {
			t.Fatalf("To tagged: raw %v, sipgo %v", r.toTagged, hasToTag(req))
		}
		eq("Call-ID", r.reg.CallID, req.CallID().Value())
		if r.reg.CSeq != req.CSeq().SeqNo {
			t.Fatalf("CSeq: raw %d, sipgo %d", r.reg.CSeq, req.CSeq().SeqNo)
		}
		vias := 0
		for _, h := range req.Headers() {
			if _, ok := h.(*sip.ViaHeader); ok {
				vias++
			}
		}
		if vias != r.nvia {
			t.Fatalf("Via: raw %d, sipgo %d", r.nvia, vias)
		}
		via := req.Via()
		eq("Via host", strings.Trim(r.viaHost, "[]"), strings.Trim(via.Host, "[]"))
		br, _ := via.Params.Get("branch")
		eq("branch", r.branch, br)
		rp, hasRport := via.Params.Get("rport")
		if (r.rportAt >= 0) != (hasRport && rp == "") {
			t.Fatalf("empty rport: raw %v, sipgo %q %v", r.rportAt >= 0, rp, hasRport)
		}
		if r.rportAt >= 0 && r.vias[0][r.rportAt-len("rport"):r.rportAt] != "rport" {
			t.Fatalf("rport position %d in %q", r.rportAt, r.vias[0])
		}
		cs := req.GetHeaders("Contact")
		if len(cs) != 1 {
			t.Fatalf("raw reader took %d Contact headers", len(cs))
		}
		eq("Contact", r.reg.Contact.Value(), cs[0].Value())
		for _, h := range []struct {
			name string
			raw  string
			has  bool
		}{
			{"Expires", r.reg.Expires, r.reg.HasExpires},
			{"Authorization", r.reg.Authorization, r.reg.Authorization != ""},
			{"User-Agent", r.reg.UserAgent, r.reg.UserAgent != ""},
		} {
			got := req.GetHeader(h.name)
			if h.has != (got != nil && (h.name == "Expires" || got.Value() != "")) {
				t.Fatalf("%s: raw has %v, sipgo %v", h.name, h.has, got)
			}
			if got != nil && h.has {
				eq(h.name, h.raw, got.Value())
			}
		}
	})
}

// The reader's verdicts on the seeds, so a change that makes it take less
// (or more) than intended shows.
func TestRawReaderTakes(t *testing.T) {
	lim := DefaultLimits()
	want := []bool{true, true, true, true, false}
	for i, s := range rawSeeds {
		var r rawReq
		if got := parseRawRegister(s, &r, &lim); got != want[i] {
			t.Errorf("seed %d: taken %v, want %v:\n%s", i, got, want[i], s)
		}
	}
	refused := map[string]string{
		"folded line":       strings.Replace(rawSeeds[0], "\r\nMax-Forwards: 70", "\r\n Max-Forwards: 70", 1),
		"bare LF":           strings.Replace(rawSeeds[0], "Call-ID: ", "Call-ID: x\ny", 1),
		"body":              strings.Replace(rawSeeds[0], "Content-Length: 0\r\n\r\n", "Content-Length: 2\r\n\r\nab", 1),
		"content type":      strings.Replace(rawSeeds[0], "Expires:", "Content-Type: text/plain\r\nExpires:", 1),
		"route":             strings.Replace(rawSeeds[0], "Expires:", "Route: <sip:p>\r\nExpires:", 1),
		"date":              strings.Replace(rawSeeds[0], "Expires:", "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\nExpires:", 1),
		"two Call-IDs":      strings.Replace(rawSeeds[0], "Expires:", "i: other\r\nExpires:", 1),
		"contact list":      strings.Replace(rawSeeds[0], ";transport=udp>", ";transport=udp>, <sip:b@c>", 1),
		"star":              strings.Replace(rawSeeds[0], "Contact: <sip:u1@192.168.1.20:5062;transport=udp>", "Contact: *", 1),
		"no contact":        strings.Replace(rawSeeds[0], "Contact: <sip:u1@192.168.1.20:5062;transport=udp>\r\n", "", 1),
		"received in Via":   strings.Replace(rawSeeds[0], ";rport", ";rport;received=1.2.3.4", 1),
		"TCP Via":           strings.Replace(rawSeeds[0], "SIP/2.0/UDP", "SIP/2.0/TCP", 1),
		"escaped user":      strings.Replace(rawSeeds[0], "To: <sip:u1@", "To: <sip:u%31@", 1),
		"CSeq method":       strings.Replace(rawSeeds[0], "1 REGISTER", "1 INVITE", 1),
		"Max-Forwards 256":  strings.Replace(rawSeeds[0], "Max-Forwards: 70", "Max-Forwards: 256", 1),
		"version":           strings.Replace(rawSeeds[0], "SIP/2.0\r\n", "SIP/3.0\r\n", 1),
		"tel Request-URI":   strings.Replace(rawSeeds[0], "REGISTER sip:", "REGISTER tel:", 1),
		"URI headers":       strings.Replace(rawSeeds[0], "SIP/2.0\r\n", "?x=y SIP/2.0\r\n", 1),
		"no branch":         strings.Replace(rawSeeds[0], ";branch=z9hG4bK776asdhdsu1", "", 1),
		"two Authorization": strings.Replace(rawSeeds[1], "Content-Length", "Authorization: Digest x=y\r\nContent-Length", 1),
	}
	for name, s := range refused {
		var r rawReq
		if parseRawRegister(s, &r, &lim) {
			t.Errorf("%s: taken", name)
		}
	}
	var r rawReq
	tight := lim
	tight.MaxHeaders = 5
	if parseRawRegister(rawSeeds[0], &r, &tight) {
		t.Error("taken past max_headers")
	}
}
