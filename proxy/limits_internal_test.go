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
