package registrar

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/sipedge/sipedge/location"
)

const benchRegister = "REGISTER sip:acme.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK776asdhds;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:alice@acme.example.com>;tag=456248\r\n" +
	"To: <sip:alice@acme.example.com>\r\n" +
	"Call-ID: 843817637684230@998sdasdh09\r\n" +
	"CSeq: 1826 REGISTER\r\n" +
	"Contact: <sip:alice@192.168.1.20:5062;transport=udp>\r\n" +
	"Expires: 3600\r\n" +
	"User-Agent: Yealink SIP-T46S 66.86.0.15\r\n" +
	"%AUTH%" +
	"Content-Length: 0\r\n\r\n"

func parseRequest(tb testing.TB, s string) *sip.Request {
	tb.Helper()
	msg, err := sip.NewParser().ParseSIP([]byte(s))
	if err != nil {
		tb.Fatal(err)
	}
	return msg.(*sip.Request)
}

// BenchmarkHandleRegister measures an authenticated refresh (the steady
// state of a registered phone) through the real store and table. The
// credentials are RFC 2069-style so the same Authorization stays valid; the
// CSeq advances so every iteration is a real update, not a retransmission.
func BenchmarkHandleRegister(b *testing.B) {
	for _, alg := range []string{AlgMD5, AlgSHA256} {
		b.Run(alg, func(b *testing.B) {
			e := newCore(b, nil)
			e.svc.log = slog.New(slog.DiscardHandler)
			src := Source{Addr: netip.MustParseAddrPort("203.0.113.7:40112"),
				Local: netip.MustParseAddrPort("198.51.100.1:5060"), Transport: location.UDP}
			res := e.svc.HandleRegister(parseRequest(b, strings.Replace(benchRegister, "%AUTH%", "", 1)), src)
			var chal *digest.Challenge
			for _, h := range res.GetHeaders("WWW-Authenticate") {
				c, err := digest.ParseChallenge(h.Value())
				if err != nil {
					b.Fatal(err)
				}
				if c.Algorithm == alg {
					chal = c
				}
			}
			chal.QOP = nil
			cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:acme.example.com",
				Username: "alice", Password: alicePass})
			if err != nil {
				b.Fatal(err)
			}
			req := parseRequest(b, strings.Replace(benchRegister, "%AUTH%", "Authorization: "+cred.String()+"\r\n", 1))
			cseq := req.CSeq()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				cseq.SeqNo++
				if res := e.svc.HandleRegister(req, src); res.StatusCode != 200 {
					b.Fatalf("%s", res.Short())
				}
			}
		})
	}
}
