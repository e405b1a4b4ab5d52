package proxy

import (
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
)

// FuzzServeDatagram feeds raw bytes through the path a UDP datagram takes:
// our read filter, sipgo's parser, then the whole chain with a recording
// transaction. Nothing may panic, and every request that is not an ACK gets
// exactly one final answer or is deliberately dropped.
func FuzzServeDatagram(f *testing.F) {
	seeds := []string{
		"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/TCP [2001:db8::1];branch=z9hG4bK3\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n",
		"ACK sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK4\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
		"FOO tel:+1555 SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK5\r\nf: <sip:a@x>;tag=1\r\nt: <sip:b@x>\r\ni: c\r\nCSeq: 1 FOO\r\nMax-Forwards: 0\r\nl: 0\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK6\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		"\r\n\r\n",
		"\x00\x01\x00\x00\x21\x12\xa4\x42abcdefghijkl",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	s, err := New(cfg, nil, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.shutdown)
	// No ACK ever comes to the recorder: do not wait for one per input.
	s.ackWait = 0
	h := s.adapt(s.handler)
	f.Fuzz(func(t *testing.T, data []byte) {
		kept, err := s.readFilter(sip.TransportReadProps{Transport: "UDP"}, data)
		if err != nil {
			t.Fatalf("read filter returned an error on UDP: %v", err)
		}
		if kept == nil {
			return
		}
		msg, err := sip.NewParser().ParseSIP(kept) // a parser per input: sharing one races
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		if _, err := sip.ServerTxKeyMake(req); err != nil {
			return // sipgo answers these itself, statelessly, before any handler
		}
		req.SetTransport("UDP")
		req.SetSource("192.0.2.1:5060")
		rec := siptest.NewServerTxRecorder(req)
		defer rec.Terminate()
		h(req, rec)
		finals := 0
		for _, res := range rec.Result() {
			if !res.IsProvisional() {
				finals++
			}
		}
		if req.IsAck() && finals != 0 || !req.IsAck() && finals != 1 {
			t.Fatalf("%s got %d final responses", req.Method, finals)
		}
	})
}
