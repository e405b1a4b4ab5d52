package proxy

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestSanityChecks(t *testing.T) {
	base := []string{
		"Via: SIP/2.0/UDP h;branch=z9hG4bK1", "From: <sip:a@x>;tag=1", "To: <sip:b@x>",
		"Call-ID: c", "CSeq: 1 INVITE", "Max-Forwards: 70",
	}
	msg := func(start string, hdrs []string, extra ...string) []byte {
		return []byte(start + "\r\n" + strings.Join(append(append([]string{}, hdrs...), extra...), "\r\n") + "\r\nContent-Length: 0\r\n\r\n")
	}
	without := func(name string) []string {
		var out []string
		for _, h := range base {
			if !strings.HasPrefix(h, name+":") {
				out = append(out, h)
			}
		}
		return out
	}
	const inv = "INVITE sip:b@x SIP/2.0"
	for _, tc := range []struct {
		name   string
		data   []byte
		code   int
		reason string
		unsup  string
	}{
		{name: "valid", data: msg(inv, base)},
		{name: "version", data: msg("INVITE sip:b@x SIP/3.0", base), code: 505, reason: "Version Not Supported"},
		{name: "scheme", data: msg("INVITE mailto:b@x SIP/2.0", base), code: 416},
		{name: "headers in request-uri", data: msg("INVITE sip:b@x?Route=%3Csip:y%3E SIP/2.0", base), code: 400, reason: "Request-URI must not carry headers"},
		{name: "missing From", data: msg(inv, without("From")), code: 400, reason: "Missing From header"},
		{name: "missing Max-Forwards on a forwarded request", data: msg(inv, without("Max-Forwards")), code: 400, reason: "Missing Max-Forwards header"},
		{name: "duplicate Call-ID", data: msg(inv, base, "i: other"), code: 400, reason: "Duplicate Call-ID header"},
		{name: "duplicate From", data: msg(inv, base, "From: <sip:c@x>;tag=2"), code: 400, reason: "Duplicate From header"},
		{name: "duplicate Content-Length", data: msg(inv, base, "l: 0"), code: 400, reason: "Duplicate Content-Length header"},
		{name: "two Vias are fine", data: msg(inv, base, "Via: SIP/2.0/UDP g;branch=z9hG4bK2")},
		{name: "CSeq method", data: msg("OPTIONS sip:b@x SIP/2.0", base), code: 400, reason: "CSeq method does not match request method"},
		{name: "Date not GMT", data: msg(inv, base, "Date: Fri, 01 Jan 2010 16:00:00 EST"), code: 400, reason: "Bad Date header: time zone must be GMT"},
		{name: "Date GMT", data: msg(inv, base, "Date: Fri, 01 Jan 2010 16:00:00 GMT")},
		{name: "Proxy-Require", data: msg(inv, base, "Proxy-Require: foo, bar"), code: 420, unsup: "foo, bar"},
		{name: "Max-Forwards zero", data: msg(inv, append(without("Max-Forwards"), "Max-Forwards: 0")), code: 483},
		{name: "Max-Forwards above 255", data: msg(inv, append(without("Max-Forwards"), "Max-Forwards: 300")), code: 400, reason: "Max-Forwards above 255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := sip.ParseMessage(tc.data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			se := checkRequest(m.(*sip.Request))
			switch {
			case tc.code == 0 && se != nil:
				t.Fatalf("refused: %d %s", se.Code, se.Reason)
			case tc.code == 0:
				return
			case se == nil:
				t.Fatalf("accepted, want %d", tc.code)
			case se.Code != tc.code || tc.reason != "" && se.Reason != tc.reason:
				t.Fatalf("got %d %q, want %d %q", se.Code, se.Reason, tc.code, tc.reason)
			}
			if tc.unsup != "" {
				if len(se.Headers) != 1 || se.Headers[0].Name() != "Unsupported" || se.Headers[0].Value() != tc.unsup {
					t.Fatalf("headers %v, want Unsupported: %s", se.Headers, tc.unsup)
				}
			}
		})
	}
}
