package proxy

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

const rawAnswerSeed = "SIP/2.0 200 OK\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sipedge-0123456789abcdef.slTOKEN\r\n" +
	"Via: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKcaller;received=192.0.2.7;rport=40000\r\n" +
	"From: <sip:alice@example.com>;tag=a\r\n" +
	"To: <sip:bob@example.com>;tag=b\r\n" +
	"Call-ID: call-1@example.com\r\n" +
	"CSeq: 2 BYE\r\n" +
	"Content-Length: 0\r\n\r\n"

// TestReadRawAnswer: what the raw relay reads, and what it leaves to the
// parsed path.
func TestReadRawAnswer(t *testing.T) {
	a, ok := readRawAnswer(rawAnswerSeed)
	if !ok || a.status != 200 || a.callID != "call-1@example.com" || !strings.HasPrefix(a.next, "SIP/2.0/UDP 10.0.0.7:5062") {
		t.Fatalf("readRawAnswer = %+v, %v", a, ok)
	}
	if got := rawAnswerSeed[a.topFrom:a.topTo]; !strings.HasPrefix(got, "Via: SIP/2.0/UDP 127.0.0.1:5060;") || !strings.HasSuffix(got, "\r\n") {
		t.Errorf("top Via line = %q", got)
	}
	next, ok := rawVia(a.next)
	if !ok {
		t.Fatal("rawVia refused the second Via")
	}
	if dest, tr, ok := viaDestination(next); !ok || dest.String() != "192.0.2.7:40000" || tr != "UDP" {
		t.Errorf("second Via leads to %v %s %v, want 192.0.2.7:40000 UDP", dest, tr, ok)
	}
	for name, msg := range map[string]string{
		"two Vias on the top line":   strings.Replace(rawAnswerSeed, "slTOKEN\r\nVia: ", "slTOKEN, ", 1),
		"two Vias on the next line":  strings.Replace(rawAnswerSeed, "rport=40000", "rport=40000, SIP/2.0/UDP 10.0.0.8", 1),
		"a Contact":                  strings.Replace(rawAnswerSeed, "CSeq:", "Contact: <sip:bob@10.0.0.9>\r\nCSeq:", 1),
		"one Via":                    strings.Replace(rawAnswerSeed, "Via: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKcaller;received=192.0.2.7;rport=40000\r\n", "", 1),
		"a body not as long as said": strings.Replace(rawAnswerSeed, "\r\n\r\n", "\r\n\r\nv=0\r\n", 1),
		"no Content-Length":          strings.Replace(rawAnswerSeed, "Content-Length: 0\r\n", "", 1),
		"a folded line":              strings.Replace(rawAnswerSeed, "CSeq: 2 BYE", "CSeq: 2\r\n BYE", 1),
		"a control character":        strings.Replace(rawAnswerSeed, "200 OK", "200 O\x01K", 1),
		"two Call-IDs":               strings.Replace(rawAnswerSeed, "CSeq:", "i: other\r\nCSeq:", 1),
	} {
		if _, ok := readRawAnswer(msg); ok {
			t.Errorf("%s: read raw, want it left to the parsed path", name)
		}
	}
	for name, v := range map[string]string{
		"branch twice":      "SIP/2.0/UDP 10.0.0.7;branch=a;branch=b",
		"Branch odd case":   "SIP/2.0/UDP 10.0.0.7;Branch=a",
		"no sent-by":        "SIP/2.0/UDP ;branch=a",
		"not SIP/2.0":       "SIP/3.0/UDP 10.0.0.7;branch=a",
		"a bad param value": "SIP/2.0/UDP 10.0.0.7;branch=a b",
	} {
		if _, ok := rawVia(v); ok {
			t.Errorf("rawVia(%s) accepted", name)
		}
	}
	if v, ok := rawVia("SIP/2.0/udp 10.0.0.7;rport;branch=z9"); !ok || !v.Params.Has("rport") || v.Port != 0 {
		t.Errorf("rawVia with a bare rport = %+v, %v", v, ok)
	}
}

// FuzzRawAnswer checks the raw relay against sipgo's parser: whatever the
// raw reader takes and sipgo parses, both read the same status, Call-ID
// and the two Vias the relay decides on, and what the relay sends parses
// with one Via fewer and the same body.
func FuzzRawAnswer(f *testing.F) {
	f.Add([]byte(rawAnswerSeed))
	f.Add([]byte(strings.Replace(rawAnswerSeed, "Via: SIP/2.0/UDP 10.0.0.7", "v: SIP/2.0/TCP [2001:db8::7]:5070;x=y\r\nVia: SIP/2.0/UDP 10.0.0.8", 1)))
	f.Add([]byte(strings.Replace(rawAnswerSeed, ";received=192.0.2.7;rport=40000", ";rport", 1)))
	f.Add([]byte(strings.Replace(rawAnswerSeed, "Content-Length: 0\r\n\r\n", "Content-Length: 5\r\n\r\nhello", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := string(data)
		a, ok := readRawAnswer(msg)
		if !ok {
			return
		}
		top, okTop := rawVia(a.top)
		next, okNext := rawVia(a.next)
		if !okTop || !okNext {
			return
		}
		m, err := sip.ParseMessage(data)
		if err != nil {
			// A message sipgo refuses for a header the relay does not
			// read is passed on as it came, as a stateless proxy does.
			return
		}
		res, isRes := m.(*sip.Response)
		if !isRes {
			t.Fatalf("raw relay reads %q as an answer, sipgo as %T", data, m)
		}
		vias := res.GetHeaders("Via")
		if res.StatusCode != a.status || resCallID(res) != a.callID || len(vias) < 2 {
			t.Fatalf("raw: %d %q; sipgo: %d %q, %d Vias", a.status, a.callID, res.StatusCode, resCallID(res), len(vias))
		}
		for i, raw := range []*sip.ViaHeader{top, next} {
			p, ok := vias[i].(*sip.ViaHeader)
			if !ok {
				t.Fatalf("sipgo Via %d is %T", i, vias[i])
			}
			if !sameVia(raw, p) {
				t.Fatalf("Via %d: raw %+v, sipgo %+v", i, raw, p)
			}
		}
		sent, err := sip.ParseMessage([]byte(msg[:a.topFrom] + msg[a.topTo:]))
		if err != nil {
			t.Fatalf("relayed answer does not parse: %v", err)
		}
		if n := len(sent.GetHeaders("Via")); n != len(vias)-1 {
			t.Fatalf("relayed answer has %d Vias, want %d", n, len(vias)-1)
		}
		if string(sent.Body()) != string(res.Body()) {
			t.Fatalf("relayed body %q, want %q", sent.Body(), res.Body())
		}
	})
}

// sameVia compares what the relay decides on: sent-by, transport, and the
// branch, received and rport parameters.
func sameVia(a, b *sip.ViaHeader) bool {
	unbracket := func(h string) string { return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]") }
	if unbracket(a.Host) != unbracket(b.Host) || a.Port != b.Port || !strings.EqualFold(a.Transport, b.Transport) {
		return false
	}
	for _, name := range []string{"branch", "received", "rport"} {
		av, aok := a.Params.Get(name)
		bv, bok := b.Params.Get(name)
		if av != bv || aok != bok {
			return false
		}
	}
	return true
}
