package proxy_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

var transports = []string{"UDP", "TCP"}

func TestOptionsAnswered(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			res, err := srv.Do(ctxT(t), tr, sip.NewRequest(sip.OPTIONS, srv.URI("")))
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 {
				t.Fatalf("got %d %s, want 200", res.StatusCode, res.Reason)
			}
			for _, m := range []string{"OPTIONS", "ACK"} {
				if !hasToken(header(res, "Allow"), m) {
					t.Errorf("Allow %q lacks %s", header(res, "Allow"), m)
				}
			}
			if hasToken(header(res, "Allow"), "REGISTER") {
				t.Errorf("Allow %q offers REGISTER without a registrar", header(res, "Allow"))
			}
			if got := header(res, "Accept"); got != "application/sdp" {
				t.Errorf("Accept = %q", got)
			}
			if res.GetHeader("Supported") == nil {
				t.Error("no Supported header")
			}
			if got := header(res, "Server"); got != "sipedge" {
				t.Errorf("Server = %q, want sipedge", got)
			}
			if got := counter(t, srv.Registry, "sipedge_proxy_requests_total", map[string]string{"method": "OPTIONS", "transport": tr}); got != 1 {
				t.Errorf("requests_total{OPTIONS,%s} = %v, want 1", tr, got)
			}
		})
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_responses_total", map[string]string{"method": "OPTIONS", "class": "2xx"}); got != 2 {
		t.Errorf("responses_total{OPTIONS,2xx} = %v, want 2", got)
	}
}

func TestRouteByMethod(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	tests := []struct {
		name      string
		method    sip.RequestMethod
		user      string
		code      int
		wantAllow bool
	}{
		{name: "unknown method", method: "FOO", code: 405, wantAllow: true},
		{name: "invite not yet", method: sip.INVITE, user: "alice", code: 501},
		{name: "register without registrar", method: sip.REGISTER, user: "alice", code: 501},
		{name: "options to a user", method: sip.OPTIONS, user: "alice", code: 501},
		{name: "message", method: sip.MESSAGE, user: "alice", code: 501},
		{name: "cancel matching nothing", method: sip.CANCEL, user: "alice", code: 481},
	}
	for _, tc := range tests {
		for _, tr := range transports {
			t.Run(tc.name+"/"+tr, func(t *testing.T) {
				res, err := srv.Do(ctxT(t), tr, sip.NewRequest(tc.method, srv.URI(tc.user)))
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != tc.code {
					t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tc.code)
				}
				allow := header(res, "Allow")
				if tc.wantAllow != (allow != "<absent>") {
					t.Fatalf("Allow = %q, want present=%v", allow, tc.wantAllow)
				}
				if tc.wantAllow && (!hasToken(allow, "OPTIONS") || hasToken(allow, string(tc.method))) {
					t.Errorf("Allow = %q", allow)
				}
			})
		}
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_requests_total", map[string]string{"method": "other", "transport": "UDP"}); got != 1 {
		t.Errorf("unknown method counted as %v under other/UDP, want 1", got)
	}
}

// Requests sipgo can parse but that are malformed: sent as raw bytes, the
// answer read off the socket.
func TestMalformedRequestsRaw(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	uri := fmt.Sprintf("sip:%s", srv.UDP)
	via := func() string { return "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=" + branch() + ";rport" }
	const (
		from = "From: <sip:alice@example.com>;tag=1"
		to   = "To: <sip:alice@example.com>"
		cid  = "Call-ID: malformed-1"
		mf   = "Max-Forwards: 70"
	)
	tests := []struct {
		name   string
		msg    string
		code   int
		reason string
	}{
		{"missing call-id", request("OPTIONS "+uri+" SIP/2.0", via(), from, to, "CSeq: 1 OPTIONS", mf), 400, "Missing Call-ID header"},
		{"cseq method mismatch", request("OPTIONS "+uri+" SIP/2.0", via(), from, to, cid, "CSeq: 1 INVITE", mf), 400, "CSeq method does not match request method"},
		{"missing from", request("OPTIONS "+uri+" SIP/2.0", via(), to, cid, "CSeq: 1 OPTIONS", mf), 400, "Missing From header"},
		{"missing to", request("OPTIONS "+uri+" SIP/2.0", via(), from, cid, "CSeq: 1 OPTIONS", mf), 400, "Missing To header"},
		{"forwarded without max-forwards", request("INVITE sip:bob@"+srv.UDP.String()+" SIP/2.0", via(), from, to, cid, "CSeq: 1 INVITE"), 400, "Missing Max-Forwards header"},
		{"no hops left", request("MESSAGE sip:bob@"+srv.UDP.String()+" SIP/2.0", via(), from, to, cid, "CSeq: 1 MESSAGE", "Max-Forwards: 0"), 483, "Too Many Hops"},
		{"unsupported scheme", request("OPTIONS http://example.com SIP/2.0", via(), from, to, cid, "CSeq: 1 OPTIONS", mf), 416, "Unsupported URI Scheme"},
		{"sip version", request("OPTIONS "+uri+" SIP/3.0", via(), from, to, cid, "CSeq: 1 OPTIONS", mf), 505, "Version Not Supported"},
		{"well formed", request("OPTIONS "+uri+" SIP/2.0", via(), from, to, cid, "CSeq: 1 OPTIONS", mf), 200, "OK"},
		{"tel uri passes sanity", request("MESSAGE tel:+15551234 SIP/2.0", via(), from, to, cid, "CSeq: 1 MESSAGE", mf), 501, "Not Implemented"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rawUDP(t, srv.UDP, tc.msg)
			res := readResponse(t, c)
			if res.StatusCode != tc.code || res.Reason != tc.reason {
				t.Fatalf("got %d %q, want %d %q", res.StatusCode, res.Reason, tc.code, tc.reason)
			}
		})
	}
}

// RFC 3581: a request with an empty rport gets rport and received filled in
// the response's Via; without rport, received still appears when the Via
// host is not the source, and the answer still goes to the source.
func TestViaReceivedRport(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	uri := fmt.Sprintf("sip:%s", srv.UDP)
	tests := []struct {
		name         string
		via          string
		wantRport    bool
		wantReceived bool
	}{
		{name: "empty rport, private sent-by", via: "SIP/2.0/UDP 10.9.9.9:5062;rport;branch=", wantRport: true, wantReceived: true},
		{name: "empty rport, sent-by is source", via: "SIP/2.0/UDP 127.0.0.1:%d;rport;branch=", wantRport: true, wantReceived: true},
		{name: "no rport, private sent-by", via: "SIP/2.0/UDP 10.9.9.9:5062;branch=", wantReceived: true},
		{name: "no rport, host name", via: "SIP/2.0/UDP phone.invalid:5062;branch=", wantReceived: true},
		{name: "no rport, sent-by is source", via: "SIP/2.0/UDP 127.0.0.1:%d;branch="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.UDP))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			port := c.LocalAddr().(*net.UDPAddr).Port
			via := tc.via
			if strings.Contains(via, "%d") {
				via = fmt.Sprintf(via, port)
			}
			msg := request("OPTIONS "+uri+" SIP/2.0", "Via: "+via+branch(), "From: <sip:a@example.com>;tag=1", "To: <sip:a@example.com>", "Call-ID: via-"+branch(), "CSeq: 7 OPTIONS", "Max-Forwards: 70")
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			res := readResponse(t, c) // arriving here at all proves it went to the source
			if res.StatusCode != 200 {
				t.Fatalf("got %d %s", res.StatusCode, res.Reason)
			}
			v := res.Via()
			rport, hasRport := v.Params.Get("rport")
			received, hasReceived := v.Params.Get("received")
			if tc.wantRport && rport != fmt.Sprint(port) {
				t.Errorf("rport = %q, want %d", rport, port)
			}
			if !tc.wantRport && hasRport {
				t.Errorf("rport = %q, want none", rport)
			}
			if tc.wantReceived && received != "127.0.0.1" {
				t.Errorf("received = %q, want 127.0.0.1", received)
			}
			if !tc.wantReceived && hasReceived {
				t.Errorf("received = %q, want none", received)
			}
		})
	}
}

func TestJunkDatagramsDropped(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.UDP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	junk := []struct {
		reason string // "" when it reaches sipgo's parser and dies there
		b      []byte
	}{
		{"keepalive", []byte("\r\n\r\n")},
		{"keepalive", []byte("\r\n\r\n\r\n\r\n\r\n\r\n")},
		{"short", []byte("ping")},
		{"not_sip", []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}, // STUN binding
		{"not_sip", []byte{0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 9, 9, 9, 9, 9, 9, 9}}, // TLS hello
		{"", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"", []byte("INVITE sip:bob@example.com SIP/2.0\r\nVia: broken\r\n\r\n")},
	}
	uri := fmt.Sprintf("sip:%s", srv.UDP)
	ping := func() {
		t.Helper()
		msg := request("OPTIONS "+uri+" SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.1:1;rport;branch="+branch(), "From: <sip:a@example.com>;tag=1", "To: <sip:a@example.com>", "Call-ID: "+branch(), "CSeq: 1 OPTIONS", "Max-Forwards: 70")
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if res := readResponse(t, c); res.StatusCode != 200 {
			t.Fatalf("got %d %s", res.StatusCode, res.Reason)
		}
	}
	// In batches, each closed by an answered OPTIONS, so the socket buffer
	// never overflows and the kernel drops nothing: every count is exact.
	want := map[string]float64{}
	const total, batch = 1000, 50
	for i := range total {
		j := junk[i%len(junk)]
		if _, err := c.Write(j.b); err != nil {
			t.Fatal(err)
		}
		if j.reason != "" {
			want[j.reason]++
		}
		if (i+1)%batch == 0 {
			ping()
		}
	}
	ping()
	for reason, n := range want {
		if got := counter(t, srv.Registry, "sipedge_proxy_dropped_datagrams_total", map[string]string{"reason": reason}); got != n {
			t.Errorf("dropped{reason=%q} = %v, want %v", reason, got, n)
		}
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_requests_total", map[string]string{"method": "OPTIONS", "transport": "UDP"}); got != total/batch+1 {
		t.Errorf("OPTIONS handled = %v, want %v", got, total/batch+1)
	}
}

func TestPanicAnswered500(t *testing.T) {
	srv := proxytest.NewServer(t, nil, proxytest.WithHandler(sip.MESSAGE, proxy.HandlerFunc(
		func(context.Context, sip.ServerTransaction, *sip.Request) error { panic("boom") })))
	for _, tr := range transports {
		res, err := srv.Do(ctxT(t), tr, sip.NewRequest(sip.MESSAGE, srv.URI("bob")))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 500 {
			t.Fatalf("%s: got %d %s, want 500", tr, res.StatusCode, res.Reason)
		}
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_panics_total", nil); got != 2 {
		t.Errorf("panics_total = %v, want 2", got)
	}
	// The server lives on.
	if res, err := srv.Do(ctxT(t), "UDP", sip.NewRequest(sip.OPTIONS, srv.URI(""))); err != nil || res.StatusCode != 200 {
		t.Fatalf("after panic: %v %v", res, err)
	}
}

// A handler that returns an error after it answered must not cause a
// second answer; one that returns a StatusError is answered from it.
func TestAnsweredOnce(t *testing.T) {
	srv := proxytest.NewServer(t, nil,
		proxytest.WithHandler(sip.MESSAGE, proxy.HandlerFunc(func(_ context.Context, tx sip.ServerTransaction, req *sip.Request) error {
			if err := tx.Respond(sip.NewResponseFromRequest(req, 202, "Accepted", nil)); err != nil {
				return err
			}
			if err := tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil)); err == nil {
				return fmt.Errorf("second final response was sent")
			}
			return proxy.Status(486, "Busy Here")
		})),
		proxytest.WithHandler(sip.INFO, proxy.HandlerFunc(func(context.Context, sip.ServerTransaction, *sip.Request) error {
			return &proxy.StatusError{Code: 480, Reason: "Gone\r\nX-Injected: 1", Headers: []sip.Header{sip.NewHeader("Retry-After", "60")}}
		})),
	)
	res, err := srv.Do(ctxT(t), "TCP", sip.NewRequest(sip.MESSAGE, srv.URI("bob")))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 202 {
		t.Fatalf("got %d, want the first answer 202", res.StatusCode)
	}
	res, err = srv.Do(ctxT(t), "UDP", sip.NewRequest(sip.INFO, srv.URI("bob")))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 480 || res.Reason != "Gone  X-Injected: 1" || header(res, "Retry-After") != "60" || res.GetHeader("X-Injected") != nil {
		t.Fatalf("got %d %q Retry-After=%q", res.StatusCode, res.Reason, header(res, "Retry-After"))
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_responses_total", map[string]string{"method": "MESSAGE", "class": "2xx"}); got != 1 {
		t.Errorf("MESSAGE 2xx responses = %v, want 1", got)
	}
}

// inDialogBye is a BYE of some call: it carries a To tag.
func inDialogBye(srv *proxytest.Server) *sip.Request {
	req := sip.NewRequest(sip.BYE, srv.URI("bob"))
	to := &sip.ToHeader{Address: srv.URI("bob"), Params: sip.NewParams()}
	to.Params.Add("tag", "callee-tag")
	req.AppendHeader(to)
	return req
}

func TestDrainRefusesOnlyNewWork(t *testing.T) {
	srv := proxytest.NewServer(t, nil, proxytest.WithConfig(func(c *proxy.Config) { c.RetryAfter = 3 }))
	if srv.Draining() {
		t.Fatal("draining before Drain")
	}
	srv.Drain()
	for _, tr := range transports {
		res, err := srv.Do(ctxT(t), tr, sip.NewRequest(sip.OPTIONS, srv.URI("")))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 503 || header(res, "Retry-After") != "3" {
			t.Fatalf("%s: OPTIONS while draining: %d Retry-After=%q, want 503 with 3", tr, res.StatusCode, header(res, "Retry-After"))
		}
		res, err = srv.Do(ctxT(t), tr, inDialogBye(srv))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == 503 {
			t.Fatalf("%s: in-dialog BYE refused while draining", tr)
		}
	}
}

func TestInflightLimit(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	srv := proxytest.NewServer(t, nil,
		proxytest.WithConfig(func(c *proxy.Config) { c.MaxInflight = 1; c.RetryAfter = 7 }),
		proxytest.WithHandler(sip.MESSAGE, proxy.HandlerFunc(func(_ context.Context, tx sip.ServerTransaction, req *sip.Request) error {
			entered <- struct{}{}
			<-release
			return tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		})),
	)
	type result struct {
		res *sip.Response
		err error
	}
	first := make(chan result, 1)
	go func() {
		res, err := srv.Do(context.Background(), "TCP", sip.NewRequest(sip.MESSAGE, srv.URI("bob")))
		first <- result{res, err}
	}()
	<-entered
	if got := counter(t, srv.Registry, "sipedge_proxy_inflight_requests", nil); got != 1 {
		t.Errorf("inflight = %v while one request blocks, want 1", got)
	}
	for _, tr := range transports {
		res, err := srv.Do(ctxT(t), tr, sip.NewRequest(sip.OPTIONS, srv.URI("")))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 503 || header(res, "Retry-After") != "7" {
			t.Fatalf("%s: got %d Retry-After=%q, want 503 with 7", tr, res.StatusCode, header(res, "Retry-After"))
		}
	}
	// Requests of calls already up pass the ceiling: overload must not hang calls.
	for _, tr := range transports {
		res, err := srv.Do(ctxT(t), tr, inDialogBye(srv))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == 503 {
			t.Fatalf("%s: in-dialog BYE refused at the ceiling", tr)
		}
	}
	close(release)
	r := <-first
	if r.err != nil || r.res.StatusCode != 200 {
		t.Fatalf("blocked request: %v %v", r.res, r.err)
	}
	if got := counter(t, srv.Registry, "sipedge_proxy_rejected_total", nil); got != 2 {
		t.Errorf("rejected_total = %v, want 2", got)
	}
	// Capacity comes back once the released handler has returned, which may
	// be just after its 200 reached us: a leaked slot would 503 forever.
	for try := 0; ; try++ {
		res, err := srv.Do(ctxT(t), "UDP", sip.NewRequest(sip.OPTIONS, srv.URI("")))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == 200 {
			break
		}
		if try == 100 {
			t.Fatalf("after release: still %d", res.StatusCode)
		}
	}
}
