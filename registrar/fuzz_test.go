package registrar

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/sipedge/sipedge/location"
)

func FuzzRegister(f *testing.F) {
	seeds := []string{
		"REGISTER sip:acme.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@acme.example.com>;tag=1\r\nTo: <sip:alice@acme.example.com>\r\nCall-ID: a@b\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@10.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sip:acme.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@acme.example.com>;tag=1\r\nTo: <sip:alice@acme.example.com>\r\nCall-ID: a@b\r\nCSeq: 2 REGISTER\r\nContact: *\r\nExpires: 0\r\nAuthorization: Digest username=\"alice\", realm=\"acme.example.com\", nonce=\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", uri=\"sip:acme.example.com\", response=\"00\", qop=auth, nc=00000001, cnonce=\"x\"\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sip:127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK1\r\nFrom: <sip:trunk@acme.example.com>;tag=1\r\nTo: <sip:trunk@acme.example.com>\r\nCall-ID: a@b\r\nCSeq: 1 REGISTER\r\nContact: <sip:trunk@127.0.0.2>;expires=30, <sip:x@y>;expires=99999999999\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sip:acme.example.com SIP/2.0\r\nTo: <sip:@\">\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	e := newCore(f, nil)
	e.svc.log = slog.New(slog.DiscardHandler) // fuzzing would fill the buffer
	f.Fuzz(func(t *testing.T, data []byte, trusted bool) {
		msg, err := sip.NewParser().ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.Method != sip.REGISTER {
			return
		}
		src := Source{Addr: netip.MustParseAddrPort("10.9.8.7:5060"), Local: netip.MustParseAddrPort("10.0.0.9:5060"), Transport: location.UDP}
		if trusted {
			src.Addr = netip.MustParseAddrPort(trunkIP + ":5060")
		}
		res := e.svc.HandleRegister(req, src)
		if res == nil {
			return
		}
		for _, h := range res.Headers() {
			if strings.ContainsAny(h.Name()+h.Value(), "\r\n\x00") {
				t.Fatalf("response header %q: %q carries CR, LF or NUL", h.Name(), h.Value())
			}
		}
	})
}
