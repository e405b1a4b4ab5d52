package proxy

import (
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
)

// BenchmarkChainOptions is the per-request cost of the chain and adapter
// (no sockets): an OPTIONS keepalive answered 200.
func BenchmarkChainOptions(b *testing.B) {
	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	s, err := New(cfg, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.shutdown()
	h := s.adapt(s.handler)
	raw := []byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;rport;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	p := sip.NewParser()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		msg, err := p.ParseSIP(raw)
		if err != nil {
			b.Fatal(err)
		}
		req := msg.(*sip.Request)
		req.SetTransport("TCP")
		req.SetSource("192.0.2.1:40000")
		rec := siptest.NewServerTxRecorder(req)
		b.StartTimer()
		h(req, rec)
		b.StopTimer()
		rec.Terminate()
		b.StartTimer()
	}
}
