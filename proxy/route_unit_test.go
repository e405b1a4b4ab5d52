package proxy

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/routing"
)

const routeInvite = "INVITE sip:bob@acme.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
	"From: \"Alice\" <sip:alice@acme.example.com>;tag=a1\r\n" +
	"To: <sip:bob@acme.example.com>\r\n" +
	"Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n" +
	"X-Sipedge-Forwarded-By: spoof\r\nx-sipedge-other: spoof\r\n" +
	"P-Asserted-Identity: <sip:911@evil>\r\nX-Keep: yes\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 0\r\n\r\n"

// applyBranch strips what the branch says (the whole X-Sipedge- namespace
// in any case), rewrites From and To keeping their tags and params, adds
// the branch's headers, and lets no header value with CR, LF or NUL
// through, even one routing would never produce.
func TestApplyBranch(t *testing.T) {
	tests := []struct {
		name     string
		b        routing.Branch
		wantFrom string
		wantTo   string
		present  map[string]string
		absent   []string
	}{
		{
			name: "device leg",
			b: routing.Branch{
				Kind:         routing.KindDevice,
				From:         routing.Party{Display: "Alice A", User: "1001", Host: "acme.example.com"},
				To:           routing.Party{User: "+14158867900", Host: "acme.example.com"},
				Headers:      []routing.Header{{Name: "Alert-Info", Value: "<http://r/1.wav>"}, {Name: "X-In", Value: "v"}},
				StripHeaders: []string{"X-Sipedge-*", "P-Asserted-Identity"},
			},
			wantFrom: `"Alice A" <sip:1001@acme.example.com>;tag=a1`,
			wantTo:   `<sip:+14158867900@acme.example.com>`,
			present:  map[string]string{"Alert-Info": "<http://r/1.wav>", "X-In": "v", "X-Keep": "yes"},
			absent:   []string{"X-Sipedge-Forwarded-By", "x-sipedge-other", "P-Asserted-Identity"},
		},
		{
			name: "gateway leg: To host is the gateway",
			b: routing.Branch{
				Kind:         routing.KindGateway,
				From:         routing.Party{User: "+14155550100", Host: "acme.example.com"},
				To:           routing.Party{User: "+14155550199"},
				Headers:      []routing.Header{{Name: "X-Sipedge-Forwarded-By", Value: "dev1"}},
				StripHeaders: []string{"X-Sipedge-*"},
			},
			wantFrom: `<sip:+14155550100@acme.example.com>;tag=a1`,
			wantTo:   `<sip:+14155550199@192.0.2.7:5080>`,
			present:  map[string]string{"X-Sipedge-Forwarded-By": "dev1", "P-Asserted-Identity": "<sip:911@evil>"},
			absent:   []string{"x-sipedge-other"},
		},
		{
			name: "unsafe values never reach the wire",
			b: routing.Branch{
				Kind: routing.KindDevice,
				From: routing.Party{Display: "Eve\r\nX-Evil: 1", User: "bad\nuser", Host: "h\x00st"},
				To:   routing.Party{User: "bob", Host: "acme.example.com"},
				Headers: []routing.Header{
					{Name: "X-Evil", Value: "a\r\nVia: SIP/2.0/UDP evil"},
					{Name: "X-Nul", Value: "a\x00b"},
					{Name: "X-Bad\r\nName", Value: "v"},
					{Name: "X-Good", Value: "ok"},
				},
			},
			wantFrom: `"Alice" <sip:alice@acme.example.com>;tag=a1`,
			wantTo:   `<sip:bob@acme.example.com>`,
			present:  map[string]string{"X-Good": "ok"},
			absent:   []string{"X-Evil", "X-Nul"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := parseReq(t, routeInvite)
			req.Recipient = sip.Uri{Scheme: "sip", User: "x", Host: "192.0.2.7", Port: 5080}
			applyBranch(req, &tc.b)
			if got := req.From().Value(); got != tc.wantFrom {
				t.Errorf("From %s, want %s", got, tc.wantFrom)
			}
			if got := req.To().Value(); got != tc.wantTo {
				t.Errorf("To %s, want %s", got, tc.wantTo)
			}
			for n, v := range tc.present {
				if h := req.GetHeader(n); h == nil || h.Value() != v {
					t.Errorf("%s = %v, want %q", n, h, v)
				}
			}
			for _, n := range tc.absent {
				if h := req.GetHeader(n); h != nil {
					t.Errorf("%s: %s still there", n, h.Value())
				}
			}
			wire := req.String()
			if strings.Contains(wire, "evil") && !strings.Contains(wire, "sip:911@evil") || strings.ContainsRune(wire, 0) {
				t.Errorf("unsafe value on the wire:\n%s", wire)
			}
			if _, err := sip.NewParser().ParseSIP([]byte(wire)); err != nil {
				t.Errorf("rewritten INVITE does not parse: %v\n%s", err, wire)
			}
		})
	}
}

// A branch with codecs offers the device only those (media.audio.codecs),
// and Content-Length follows the new body.
func TestApplyBranchCodecs(t *testing.T) {
	req := parseReq(t, routeInvite)
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	req.SetBody([]byte(sdp))
	applyBranch(req, &routing.Branch{Codecs: []string{"PCMA"}})
	body := string(req.Body())
	if strings.Contains(body, "PCMU") || !strings.Contains(body, "PCMA") || !strings.Contains(body, "telephone-event") {
		t.Errorf("filtered offer:\n%s", body)
	}
	if cl := req.ContentLength(); cl == nil || int(*cl) != len(body) {
		t.Errorf("Content-Length %v, body %d bytes", cl, len(body))
	}
}

// A refusal answers with its Reason header, unless the value is unsafe.
func TestRefusalReason(t *testing.T) {
	se := StatusOf(refusal(routing.RestrictedRefusal(routing.ClassInternational)))
	if se.Code != 403 || len(se.Headers) != 1 || se.Headers[0].Name() != "Reason" ||
		se.Headers[0].Value() != `Q.850;cause=21;text="Call Restricted (international)"` {
		t.Errorf("got %d %v", se.Code, se.Headers)
	}
	se = StatusOf(refusal(routing.Refusal{Code: 480, Phrase: "Temporarily Unavailable", Reason: "x\r\nVia: evil"}))
	if se.Code != 480 || len(se.Headers) != 0 {
		t.Errorf("unsafe Reason passed: %d %v", se.Code, se.Headers)
	}
}

// FuzzApplyBranch rewrites arbitrary INVITEs with arbitrary branch values:
// nothing panics, and no control character the branch carried reaches the
// wire (the request still parses with the same header count).
func FuzzApplyBranch(f *testing.F) {
	f.Add([]byte(routeInvite), "Alice", "1001", "acme.example.com", "X-In", "v", "X-Sipedge-*")
	f.Add([]byte(routeInvite), "E\r\nve", "u\n", "h\x00", "X-E", "a\r\nb: c", "P-Asserted-Identity")
	f.Fuzz(func(t *testing.T, raw []byte, display, user, host, hname, hval, strip string) {
		msg, err := sip.NewParser().ParseSIP(raw)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.From() == nil || req.To() == nil {
			return
		}
		before := len(req.Headers())
		b := routing.Branch{
			From:         routing.Party{Display: display, User: user, Host: host},
			To:           routing.Party{User: user, Host: host},
			Headers:      []routing.Header{{Name: hname, Value: hval}},
			StripHeaders: []string{strip},
		}
		applyBranch(req, &b)
		wire := req.String()
		for _, v := range []string{display, user, host, hname, hval} {
			if !wireOK(v) && v != "" && strings.Contains(wire, v) && !strings.Contains(string(raw), v) {
				t.Fatalf("unsafe %q on the wire:\n%s", v, wire)
			}
		}
		if len(req.Headers()) > before+1 {
			t.Fatalf("%d headers from %d plus one", len(req.Headers()), before)
		}
	})
}

// In-dialog requests lose X-Sipedge-* headers too, in any letter case, and
// keep everything else.
func TestStripInternalInDialog(t *testing.T) {
	req := sip.NewRequest(sip.BYE, sip.Uri{Scheme: "sip", User: "bob", Host: "acme.example.com"})
	req.AppendHeader(sip.NewHeader("X-Sipedge-Forwarded-By", "spoofed"))
	req.AppendHeader(sip.NewHeader("x-sipedge-require-keypress", "true"))
	req.AppendHeader(sip.NewHeader("X-Sipedge-Forwarded-By", "twice"))
	req.AppendHeader(sip.NewHeader("X-Other", "kept"))
	stripInternal(req)
	for _, h := range req.Headers() {
		if strings.HasPrefix(strings.ToLower(h.Name()), "x-sipedge-") {
			t.Errorf("%s: %s survived", h.Name(), h.Value())
		}
	}
	if h := req.GetHeader("X-Other"); h == nil || h.Value() != "kept" {
		t.Errorf("X-Other lost: %v", h)
	}
}
