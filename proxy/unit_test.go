package proxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func parseReq(t *testing.T, raw string) *sip.Request {
	t.Helper()
	msg, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return msg.(*sip.Request)
}

func TestFixVia(t *testing.T) {
	tests := []struct {
		name   string
		via    string
		source string
		want   string // the top Via's params after
	}{
		{name: "empty rport", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport", source: "198.51.100.9:40000", want: "branch=z9hG4bK1;rport=40000;received=198.51.100.9"},
		{name: "empty rport same host", via: "SIP/2.0/UDP 198.51.100.9:5060;rport;branch=z9hG4bK1", source: "198.51.100.9:5060", want: "rport=5060;branch=z9hG4bK1;received=198.51.100.9"},
		{name: "rport already set", via: "SIP/2.0/UDP 10.0.0.5:5060;rport=1;branch=z9hG4bK1", source: "198.51.100.9:40000", want: "rport=1;branch=z9hG4bK1;received=198.51.100.9"},
		{name: "no rport, nat", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1", source: "198.51.100.9:40000", want: "branch=z9hG4bK1;received=198.51.100.9"},
		{name: "no rport, direct", via: "SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bK1", source: "198.51.100.9:5060", want: "branch=z9hG4bK1"},
		{name: "host name", via: "SIP/2.0/TCP pbx.example.com;branch=z9hG4bK1", source: "198.51.100.9:5060", want: "branch=z9hG4bK1;received=198.51.100.9"},
		{name: "ipv6 direct", via: "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1", source: "[2001:db8::1]:5060", want: "branch=z9hG4bK1"},
		{name: "ipv6 starting with a letter, direct", via: "SIP/2.0/UDP [fe80::1]:5060;branch=z9hG4bK1", source: "[fe80::1]:5060", want: "branch=z9hG4bK1"},
		{name: "name starting with a digit", via: "SIP/2.0/UDP 1and1.example.com;branch=z9hG4bK1", source: "198.51.100.9:5060", want: "branch=z9hG4bK1;received=198.51.100.9"},
		{name: "ipv6 nat", via: "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1", source: "[2001:db8::2]:5060", want: "branch=z9hG4bK1;received=2001:db8::2"},
		{name: "unparseable source", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport", source: "garbage", want: "branch=z9hG4bK1;rport"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := parseReq(t, "OPTIONS sip:x SIP/2.0\r\nVia: "+tc.via+"\r\nContent-Length: 0\r\n\r\n")
			req.SetSource(tc.source)
			fixVia(req)
			if got := req.Via().Params.ToString(';'); got != tc.want {
				t.Fatalf("params = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckRequest(t *testing.T) {
	const base = "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\n"
	tests := []struct {
		name   string
		raw    string
		code   int
		reason string
	}{
		{name: "register ok without max-forwards", raw: "REGISTER sip:x SIP/2.0\r\n" + base + "CSeq: 1 REGISTER\r\n"},
		{name: "options to us without max-forwards", raw: "OPTIONS sip:x SIP/2.0\r\n" + base + "CSeq: 1 OPTIONS\r\n"},
		{name: "invite with max-forwards", raw: "INVITE sip:b@x SIP/2.0\r\n" + base + "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"},
		{name: "tel uri", raw: "INVITE tel:+15551234 SIP/2.0\r\n" + base + "CSeq: 1 INVITE\r\nMax-Forwards: 1\r\n"},
		{name: "options to a user needs max-forwards", raw: "OPTIONS sip:b@x SIP/2.0\r\n" + base + "CSeq: 1 OPTIONS\r\n", code: 400, reason: "Missing Max-Forwards header"},
		{name: "options to a user with none left is ours", raw: "OPTIONS sip:b@x SIP/2.0\r\n" + base + "CSeq: 1 OPTIONS\r\nMax-Forwards: 0\r\n"},
		{name: "invite no hops", raw: "INVITE sip:b@x SIP/2.0\r\n" + base + "CSeq: 1 INVITE\r\nMax-Forwards: 0\r\n", code: 483, reason: "Too Many Hops"},
		{name: "cseq mismatch", raw: "BYE sip:b@x SIP/2.0\r\n" + base + "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n", code: 400, reason: "CSeq method does not match request method"},
		{name: "no cseq", raw: "OPTIONS sip:x SIP/2.0\r\n" + base, code: 400, reason: "Missing CSeq header"},
		{name: "no call-id", raw: "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCSeq: 1 OPTIONS\r\n", code: 400, reason: "Missing Call-ID header"},
		{name: "no from", raw: "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n", code: 400, reason: "Missing From header"},
		{name: "no to", raw: "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n", code: 400, reason: "Missing To header"},
		{name: "no via", raw: "OPTIONS sip:x SIP/2.0\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n", code: 400, reason: "Missing Via header"},
		{name: "scheme", raw: "OPTIONS mailto:a@x SIP/2.0\r\n" + base + "CSeq: 1 OPTIONS\r\n", code: 416, reason: "Unsupported URI Scheme"},
		{name: "version", raw: "OPTIONS sip:x SIP/1.0\r\n" + base + "CSeq: 1 OPTIONS\r\n", code: 505, reason: "Version Not Supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			se := checkRequest(parseReq(t, tc.raw+"Content-Length: 0\r\n\r\n"))
			switch {
			case tc.code == 0 && se != nil:
				t.Fatalf("rejected: %v", se)
			case tc.code != 0 && se == nil:
				t.Fatalf("accepted, want %d %s", tc.code, tc.reason)
			case tc.code != 0 && (se.Code != tc.code || se.Reason != tc.reason):
				t.Fatalf("got %d %q, want %d %q", se.Code, se.Reason, tc.code, tc.reason)
			}
		})
	}
}

func TestJunkDatagram(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		reason dropReason
		junk   bool
	}{
		{name: "crlf ping", data: "\r\n\r\n", reason: dropKeepalive, junk: true},
		{name: "long blank", data: strings.Repeat("\r\n", 40), reason: dropKeepalive, junk: true},
		{name: "nul padding", data: "\x00\x00\r\n", reason: dropKeepalive, junk: true},
		{name: "short", data: "OPTIONS sip:a", reason: dropShort, junk: true},
		{name: "binary", data: "\x00\x01\x00\x00\x21\x12\xa4\x42abcdefghijkl", reason: dropNotSIP, junk: true},
		{name: "leading space", data: " OPTIONS sip:a SIP/2.0\r\n", reason: dropNotSIP, junk: true},
		{name: "request", data: "OPTIONS sip:a SIP/2.0\r\n"},
		{name: "response", data: "SIP/2.0 200 OK\r\nVia: x\r\n"},
		{name: "lower-case method", data: "options sip:a SIP/2.0\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, junk := junkDatagram([]byte(tc.data))
			if junk != tc.junk || (junk && r != tc.reason) {
				t.Fatalf("got (%v, %v), want (%v, %v)", dropReasons[r], junk, dropReasons[tc.reason], tc.junk)
			}
		})
	}
}

func TestLibHandlerRateLimits(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	h := newLibHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.LevelWarn, 2, 3, func() time.Time { return now })
	log := slog.New(h).With("caller", "Transport<UDP>")
	payload := strings.Repeat("A", 5000)
	for range 100 {
		log.Error("failed to parse", "data", payload)
	}
	log.Info("not shown")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines after a burst of 100, want the burst of 3", len(lines))
	}
	if len(lines[0]) > 2*libLogMaxLen {
		t.Errorf("payload not truncated: %d bytes", len(lines[0]))
	}
	buf.Reset()
	now = now.Add(time.Second) // two tokens back
	log.Error("failed to parse", "data", "x")
	log.Error("failed to parse", "data", "y")
	log.Error("failed to parse", "data", "z")
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines a second later, want 2", len(lines))
	}
	if !strings.Contains(lines[0], "suppressed=97") || strings.Contains(lines[1], "suppressed") {
		t.Errorf("suppressed count not carried once: %q", lines)
	}
	if !strings.Contains(lines[0], "caller=Transport<UDP>") {
		t.Errorf("attributes lost: %q", lines[0])
	}
}

func TestStatusOf(t *testing.T) {
	cause := errors.New("disk on fire")
	tests := []struct {
		name string
		err  error
		code int
	}{
		{name: "plain error", err: cause, code: 500},
		{name: "status", err: Status(404, "Not Found"), code: 404},
		{name: "wrapped status", err: errors.Join(cause, Status(486, "Busy Here")), code: 486},
		{name: "bogus code", err: Status(200, "OK"), code: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := StatusOf(tc.err).Code; got != tc.code {
				t.Fatalf("code %d, want %d", got, tc.code)
			}
		})
	}
}

func TestCleanReason(t *testing.T) {
	if got := cleanReason("Busy\r\nX-Evil: 1\x00", 486); got != "Busy  X-Evil: 1" {
		t.Fatalf("got %q", got)
	}
	if got := cleanReason("\r\n", 503); got != "Service Unavailable" {
		t.Fatalf("got %q", got)
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next Handler) Handler {
			return HandlerFunc(func(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
				order = append(order, name)
				return next.ServeSIP(ctx, tx, req)
			})
		}
	}
	h := buildChain(HandlerFunc(func(context.Context, sip.ServerTransaction, *sip.Request) error {
		order = append(order, "end")
		return nil
	}), []Middleware{mw("a"), mw("b"), mw("c")})
	if err := h.ServeSIP(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "a,b,c,end" {
		t.Fatalf("order %s", got)
	}
}
