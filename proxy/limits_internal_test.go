package proxy

import (
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkLimitsCheck is the per-request cost of the limits stage on a
// phone's REGISTER with credentials.
func BenchmarkLimitsCheck(b *testing.B) {
	l, err := newLimits(LimitsConfig{}, nil, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	msg, err := sip.ParseMessage([]byte("REGISTER sip:acme.example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK776asdhds\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:alice@acme.example.com>;tag=1928301774\r\n" +
		"To: <sip:alice@acme.example.com>\r\n" +
		"Call-ID: a84b4c76e66710@192.0.2.10\r\n" +
		"CSeq: 2 REGISTER\r\n" +
		"Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600\r\n" +
		`Authorization: Digest username="alice", realm="acme.example.com", nonce="AAAAAGsEpS-ME7jWhkWJJbz8FAS7Dn_dN3amwg", uri="sip:acme.example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001` + "\r\n" +
		"User-Agent: Phone/1.0\r\n" +
		"Content-Length: 0\r\n\r\n"))
	if err != nil {
		b.Fatal(err)
	}
	req := msg.(*sip.Request)
	b.ReportAllocs()
	for b.Loop() {
		if se := l.check(req); se != nil {
			b.Fatal(se)
		}
	}
}

// The lengths the limits count are those of the message sipgo writes.
func TestRequestLen(t *testing.T) {
	for _, via := range []string{
		"SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK776asdhds",
		"SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK1;received=2001:db8::2",
		"SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1;x=\"a b\"",
		"SIP/2.0/WSS ::ffff:192.0.2.1:5061;branch=z9hG4bK1",
		"SIP/2.0/UDP h",
	} {
		msg, err := sip.ParseMessage([]byte("INVITE sip:bob@[2001:db8::9]:5070;transport=tcp SIP/2.0\r\n" +
			"Via: " + via + "\r\n" +
			"v: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK0\r\n" +
			"From: \"A\" <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n" +
			"Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 4\r\n\r\nv=0\n"))
		if err != nil {
			t.Fatalf("%s: %v", via, err)
		}
		req := msg.(*sip.Request)
		if got, want := requestLen(req), len(req.String()); got != want {
			t.Errorf("Via %s: requestLen %d, want %d", via, got, want)
		}
		lw := new(lenWriter)
		for _, h := range req.Headers() {
			if got, want := headerLen(h, lw), len(h.Name()+": "+h.Value()); got != want {
				t.Errorf("%s: headerLen %d, want %d", h.Name(), got, want)
			}
		}
	}
}

// The name-addr headers and the request URI are counted from their parts;
// each count must be what sipgo writes.
func TestRequestLenNameAddr(t *testing.T) {
	for _, m := range []string{
		"INVITE sip:bob:pw@bench.sipedge.test:5070;transport=tcp;lr?subject=x&priority=urgent SIP/2.0\r\n" +
			"From: \"Alice Smith\" <sips:alice@example.com;user=phone>;tag=9fxced76sl\r\n" +
			"To: <tel:+15551234567;phone-context=example.com>\r\n" +
			"Contact: <sip:alice@[2001:db8::5]:5062;ob>;expires=60;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"\r\n",
		"REGISTER sip:example.com SIP/2.0\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n" +
			"Contact: *\r\nExpires: 0\r\n",
		"INVITE sip:[::ffff:192.0.2.1]:5060 SIP/2.0\r\nFrom: sip:a@192.0.2.1;tag=2\r\nTo: \"B\" <sip:b@[fe80::1%25eth0]>\r\n" +
			"Contact: <sip:a@192.0.2.1:5060>, <sip:a@198.51.100.7;transport=udp>;q=0.5\r\n",
		"OPTIONS sip:h SIP/2.0\r\nFrom: <sip:h>;tag=3\r\nTo: <sip:h>\r\nContact: <urn:service:sos>\r\n",
	} {
		msg, err := sip.ParseMessage([]byte(m + "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
		if err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		req := msg.(*sip.Request)
		if got, want := requestLen(req), len(req.String()); got != want {
			t.Errorf("requestLen %d, want %d for %q", got, want, req.String())
		}
		lw := new(lenWriter)
		for _, h := range req.Headers() {
			if got, want := headerLen(h, lw), len(h.Name()+": "+h.Value()); got != want {
				t.Errorf("%s: headerLen %d, want %d (%q)", h.Name(), got, want, h.Value())
			}
		}
	}
}

func FuzzRequestLen(f *testing.F) {
	f.Add([]byte("OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP [fe80::1%eth0]:5060;branch=z9hG4bK1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"))
	f.Add([]byte("INVITE sip:bob@[2001:db8::9] SIP/2.0\r\nVia: SIP/2.0/TCP 2001:db8::1;branch=z9hG4bK1;rport\r\nContent-Length: 1\r\n\r\nx"))
	f.Add([]byte("INVITE sips:u:p@h.example:5061;lr?x=y SIP/2.0\r\nFrom: \"A\" <sip:a@[::1]:5060;user=phone>;tag=1\r\n" +
		"To: <tel:+1555;phone-context=h>\r\nContact: *\r\nContact: <sip:c@h;ob>;expires=60\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req := fuzzRequest(data)
		if req == nil {
			return
		}
		if got, want := requestLen(req), len(req.String()); got != want {
			t.Fatalf("requestLen %d, want %d for %q", got, want, req.String())
		}
	})
}
