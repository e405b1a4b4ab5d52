package proxy

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// fuzzRequest is data parsed as sipgo parses it, when it is a request.
func fuzzRequest(data []byte) *sip.Request {
	msg, err := sip.ParseMessage(data)
	if err != nil {
		return nil
	}
	req, _ := msg.(*sip.Request)
	return req
}

// FuzzInDialogRouting runs the parts of in-dialog forwarding that read
// what the sender wrote (Via branches for loops, Route and Request-URI
// with its alias, Contact, Max-Forwards) over arbitrary requests. Nothing
// may panic; a next hop, when found, is a real address; our own Routes are
// gone after popping.
func FuzzInDialogRouting(f *testing.F) {
	seeds := []string{
		"BYE sip:bob@192.0.2.9:5070;alias=198.51.100.7~40000~2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nRoute: <sip:127.0.0.1:5060;lr;r2=on>, <sip:127.0.0.1:5060;transport=tcp;lr;r2=on>\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContact: <sip:a@10.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-se0123456789abcdef.x\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nRoute: <sip:127.0.0.1;lr>\r\nRoute: <sip:proxy.example.net;lr>\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=3\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 0\r\nContent-Length: 0\r\n\r\n",
		"ACK sips:[2001:db8::1]:5061 SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK4\r\nRoute: <sip:127.0.0.1:5060;lr>\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	cfg := Default()
	cfg.Listen = "127.0.0.1:5060"
	s, err := New(cfg, nil, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.shutdown)
	s.local = localAddrs{bound: netip.MustParseAddr("127.0.0.1"), port: 5060}
	fw := &forwarder{s: s}
	done, cancel := context.WithCancel(context.Background())
	cancel() // no DNS while fuzzing: names fail at once
	f.Fuzz(func(t *testing.T, data []byte) {
		req := fuzzRequest(data)
		if req == nil {
			return
		}
		req.SetSource("192.0.2.50:5062")
		req.SetTransport("UDP")
		_ = fw.looped(req)
		fwd := req.Clone()
		popped := popOwnRoutes(fw, fwd)
		if h, ok := fwd.GetHeader("Route").(*sip.RouteHeader); ok && fw.isSelf(h.Address.Host, h.Address.Port) {
			t.Fatalf("our Route %s left after popping %d", h.Address.String(), len(popped))
		}
		if len(popped) > 0 {
			literal := literalNextHop(fwd)
			dest, tr, err := fw.nextHop(done, fwd, popped)
			if err == nil && (!dest.IsValid() || dest.Port() == 0 || tr == "") {
				t.Fatalf("next hop %s %q", dest, tr)
			}
			// The ACK fast path sends from the reader only what needs no
			// lookup.
			if literal && err != nil && strings.Contains(err.Error(), "resolve") {
				t.Fatalf("next hop said literal, then looked up: %v", err)
			}
		}
		_ = fw.routedByUs(req, popped)
		_ = decMaxForwards(fwd)
		fw.aliasContact(fwd, req.Source(), req.Transport())
		_ = fwd.String()
		_ = newBranch(fwd)
	})
}
