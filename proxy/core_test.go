package proxy_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

// callResult is what a complete call showed each side.
type callResult struct {
	invite, bye *sip.Request  // as the callee got them
	codes       []int         // the responses the caller got to its INVITE
	ok          *sip.Response // the caller's 200 to the INVITE
}

// fullCall runs a call from caller to callee (user) through the proxy:
// INVITE with sdp, 180, 200, ACK, BYE; it fails the test when a step does
// not reach the other side.
func fullCall(t *testing.T, caller, callee *proxytest.Phone, user, sdp string) callResult {
	t.Helper()
	ctx := ctxT(t)
	var r callResult
	sess, err := caller.InviteBody(ctx, user, sdp)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	answered := make(chan error, 1)
	ringing := make(chan struct{})
	go func() {
		answered <- caller.Answer(ctx, sess, func(res *sip.Response) {
			r.codes = append(r.codes, res.StatusCode)
			if res.StatusCode == 180 {
				close(ringing)
			}
		})
	}()
	in, err := callee.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.invite = in.Req
	if err := in.Dialog.Respond(180, "Ringing", nil); err != nil {
		t.Fatal(err)
	}
	wait(t, ringing, "the 180 at the caller")
	ok := make(chan error, 1)
	go func() {
		ok <- in.Dialog.Respond(200, "OK", []byte("v=0\r\n"), sip.NewHeader("Content-Type", "application/sdp"))
	}()
	if err := wait(t, answered, "the caller's answer"); err != nil {
		t.Fatalf("caller: %v (responses %v)", err, r.codes)
	}
	r.ok = sess.InviteResponse
	if err := sess.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, callee.Acks(), "the ACK at the callee")
	if err := wait(t, ok, "the callee's 200 to complete"); err != nil {
		t.Fatal(err)
	}
	if err := sess.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	r.bye = wait(t, callee.Byes(), "the BYE at the callee")
	wait(t, in.Dialog.Context().Done(), "the callee's dialog to end")
	return r
}

// largeSDP is an SDP body of exactly n bytes (at least 120).
func largeSDP(n int) string {
	const base = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	return base + "a=x-pad:" + strings.Repeat("x", max(n-len(base)-10, 0)) + "\r\n"
}

// RFC 3261 §18.1.1: an INVITE too large for UDP goes over TCP to a phone
// registered over UDP from the address in its Contact, when that phone
// listens on TCP; without a TCP listener it falls back to UDP while the
// size allows; a small INVITE stays on UDP.
func TestLargeInviteToUDPDeviceGoesOverTCP(t *testing.T) {
	env, alice, bob, carol := largeInviteEnv(t)

	big := largeSDP(1500)
	r := fullCall(t, alice, bob, "bob", big)
	if tr := r.invite.Transport(); tr != "TCP" {
		t.Errorf("large INVITE reached bob over %s, want TCP", tr)
	}
	if v := r.invite.Via(); v == nil || v.Transport != "TCP" {
		t.Errorf("our Via on the large INVITE: %v, want transport TCP", v)
	}
	if got := string(r.invite.Body()); got != big {
		t.Errorf("bob got a body of %d bytes, want the %d sent", len(got), len(big))
	}
	if got := env.gauge(t, "sipedge_proxy_large_requests_total", map[string]string{"transport": "tcp"}); got != 1 {
		t.Errorf("large_requests_total{tcp} = %v, want 1", got)
	}

	// Bob calls over UDP: one Record-Route (a transport change would add
	// two, more than forwardOverhead allows for).
	r = fullCall(t, bob, carol, "carol", largeSDP(200))
	if tr := r.invite.Transport(); tr != "UDP" {
		t.Errorf("small INVITE reached carol over %s, want UDP", tr)
	}

	// Carol has no TCP listener: an INVITE over the threshold (the caller's
	// copy over 1100 bytes) yet within what sipgo sends as one datagram
	// (1300 bytes: this copy, grown by our Via and Record-Route) still
	// reaches her over UDP.
	mid := largeSDP(200 + 1280 - len(r.invite.String()))
	r = fullCall(t, bob, carol, "carol", mid)
	if tr := r.invite.Transport(); tr != "UDP" {
		t.Errorf("INVITE reached carol over %s, want UDP", tr)
	}
	if n := len(r.invite.String()); n <= 1260 || n > 1300 {
		t.Errorf("carol's INVITE is %d bytes, want about 1280: the test proves nothing", n)
	}
	if got := env.gauge(t, "sipedge_proxy_large_requests_total", map[string]string{"transport": "udp_fallback"}); got != 1 {
		t.Errorf("large_requests_total{udp_fallback} = %v, want 1", got)
	}
	waitIdle(t, env)
}

// largeInviteEnv: alice on TCP; bob registered over UDP and listening on
// TCP at the same address; carol on UDP only.
func largeInviteEnv(t *testing.T) (env *callEnv, alice, bob, carol *proxytest.Phone) {
	t.Helper()
	env = newCallEnv(t, envOpts{})
	alice = env.phone(t, "TCP", "alice")
	bob = proxytest.NewPhone(t, env.srv, "UDP", realm, "bob", "bob-secret", proxytest.WithTCPListener())
	if err := bob.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	carol = env.phone(t, "UDP", "carol")
	return env, alice, bob, carol
}

// With sipgo's UDP limit raised as the daemon raises it (so that UDP-only
// phones get large requests at all), the switch to TCP still happens at
// RFC 3261's 1300 bytes, and a phone without TCP gets the whole request
// over UDP.
func TestLargeInviteWithRaisedUDPLimit(t *testing.T) {
	saved := sip.UDPMTUSize
	sip.UDPMTUSize = 65000
	t.Cleanup(func() { sip.UDPMTUSize = saved })
	env, alice, bob, carol := largeInviteEnv(t)
	big := largeSDP(3000)
	if r := fullCall(t, alice, bob, "bob", big); r.invite.Transport() != "TCP" {
		t.Errorf("large INVITE reached bob over %s, want TCP", r.invite.Transport())
	}
	r := fullCall(t, alice, carol, "carol", big)
	if tr := r.invite.Transport(); tr != "UDP" || string(r.invite.Body()) != big {
		t.Errorf("large INVITE reached carol over %s with %d bytes of body, want UDP and %d", tr, len(r.invite.Body()), len(big))
	}
	waitIdle(t, env)
}

// Timer C (RFC 3261 §16.6 step 11): each provisional restarts it, so a
// callee that keeps sending 180s rings past it and can still answer; one
// that goes quiet after its 180 is CANCELled when it fires, and the caller,
// with no final answer from anybody, gets 408.
func TestTimerC(t *testing.T) {
	const timerC = time.Second
	cfg := func(c *proxy.Config) {
		c.TimerC = timerC
		c.RingTimeout = time.Minute // far beyond: only Timer C may end the branch
	}
	t.Run("provisionals restart it", func(t *testing.T) {
		env := newCallEnv(t, envOpts{cfg: cfg})
		alice := env.phone(t, "UDP", "alice")
		bob := env.phone(t, "UDP", "bob")
		c := env.dial(t, ctxT(t), alice, "bob")
		in, err := bob.WaitCall(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		// Ring for over two Timer C periods, a 180 every 0.4 of one (sipgo's
		// caller gives up after ten responses).
		start := time.Now()
		tick := time.NewTicker(timerC * 2 / 5)
		defer tick.Stop()
		for time.Since(start) < 2*timerC {
			if err := in.Dialog.Respond(180, "Ringing", nil); err != nil {
				t.Fatal(err)
			}
			select {
			case <-in.Dialog.Context().Done():
				t.Fatal("the callee's INVITE ended while it was still ringing")
			case <-tick.C:
			}
		}
		answered := make(chan error, 1)
		go func() {
			answered <- in.Dialog.Respond(200, "OK", []byte("v=0\r\n"), sip.NewHeader("Content-Type", "application/sdp"))
		}()
		if err := wait(t, c.done, "the caller's answer"); err != nil {
			t.Fatal(err)
		}
		if res := c.final(); res == nil || res.StatusCode != 200 {
			t.Fatalf("caller's final answer %v, want 200", res)
		}
		hangUp(t, c, bob, answered)
		if got := env.gauge(t, "sipedge_proxy_timer_c_expired_total", nil); got != 0 {
			t.Errorf("timer_c_expired_total = %v, want 0", got)
		}
		waitIdle(t, env)
	})
	t.Run("silence after a provisional", func(t *testing.T) {
		env := newCallEnv(t, envOpts{cfg: cfg})
		alice := env.phone(t, "UDP", "alice")
		bob := env.phone(t, "UDP", "bob")
		c := env.dial(t, ctxT(t), alice, "bob")
		in, err := bob.WaitCall(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Dialog.Respond(180, "Ringing", nil); err != nil {
			t.Fatal(err)
		}
		wait(t, in.Dialog.Context().Done(), "the proxy's CANCEL at the callee")
		wait(t, c.done, "the caller's final answer")
		if res := c.final(); res == nil || res.StatusCode != 408 {
			t.Fatalf("caller's final answer %v, want 408", res)
		}
		if got := env.gauge(t, "sipedge_proxy_timer_c_expired_total", nil); got != 1 {
			t.Errorf("timer_c_expired_total = %v, want 1", got)
		}
		if got := env.gauge(t, "sipedge_proxy_branches_total", map[string]string{"outcome": "timeout"}); got != 1 {
			t.Errorf("branches_total{timeout} = %v, want 1", got)
		}
		waitIdle(t, env)
	})
}

// rawCall is a call between two raw UDP phones through the proxy: the
// caller a PBX (IP-authenticated device at 127.0.0.4), the callee bob.
type rawCall struct {
	caller, callee *rawPhone
	callID         string
	inv            *sip.Request  // the INVITE as bob got it
	ok             *sip.Response // bob's 200 as he sent it
	rr, to         string        // the caller's Route and To (with bob's tag)
}

func pbxEnv(t *testing.T, cfg func(*proxy.Config)) *callEnv {
	return newCallEnv(t, envOpts{cfg: cfg, devices: []map[string]any{{
		"name": "pbx", "enabled": true, "sip": map[string]any{"method": "ip", "ip": "127.0.0.4", "username": "pbx"},
	}}})
}

// rawEstablish sets up a call from the PBX to bob (INVITE, 200, ACK).
func rawEstablish(t *testing.T, env *callEnv, callID string) *rawCall {
	t.Helper()
	c := &rawCall{callee: newRawPhone(t, env.srv), callID: callID}
	c.callee.register(t, "bob", "bob-secret")
	c.caller = newRawPhoneAt(t, env.srv, net.IPv4(127, 0, 0, 4))
	contact := c.caller.contact("pbx")
	c.caller.send(t, request("INVITE sip:bob@"+realm+" SIP/2.0",
		"Via: SIP/2.0/UDP "+c.caller.addr.String()+";branch="+branch()+";rport",
		"From: <sip:pbx@"+realm+">;tag=pbx1", "To: <sip:bob@"+realm+">",
		"Call-ID: "+callID, "CSeq: 1 INVITE", "Max-Forwards: 70",
		"Contact: <"+contact.String()+">"))
	c.inv = c.callee.expectRequest(t, sip.INVITE)
	c.ok = c.callee.respond(t, c.inv, 200, "")
	first := c.caller.expectResponse(t, sip.INVITE)
	if first.StatusCode != 200 {
		t.Fatalf("caller got %d, want 200", first.StatusCode)
	}
	tag, _ := c.ok.To().Params.Get("tag")
	c.rr = first.GetHeader("Record-Route").Value()
	c.to = "To: <sip:bob@" + realm + ">;tag=" + tag
	c.inDialog(t, "ACK", 1, branch())
	c.callee.expectRequest(t, sip.ACK)
	return c
}

// inDialog sends an in-dialog request from the caller to bob.
func (c *rawCall) inDialog(t *testing.T, method string, seq int, br string, extra ...string) {
	t.Helper()
	callee := c.callee.contact("bob")
	hdrs := append([]string{
		"Via: SIP/2.0/UDP " + c.caller.addr.String() + ";branch=" + br + ";rport",
		"Route: " + c.rr, "From: <sip:pbx@" + realm + ">;tag=pbx1", c.to,
		"Call-ID: " + c.callID, "CSeq: " + strconv.Itoa(seq) + " " + method, "Max-Forwards: 70",
	}, extra...)
	c.caller.send(t, request(method+" "+callee.String()+" SIP/2.0", hdrs...))
}

// hangUp ends the call with a BYE from the caller.
func (c *rawCall) hangUp(t *testing.T, seq int) {
	t.Helper()
	c.inDialog(t, "BYE", seq, branch())
	bye := c.callee.expectRequest(t, sip.BYE)
	c.callee.respond(t, bye, 200, "")
	if res := c.caller.expectResponse(t, sip.BYE); res.StatusCode != 200 {
		t.Fatalf("BYE answered %d", res.StatusCode)
	}
}

// A re-INVITE the far side has not answered yet is CANCELled by its
// sender: the proxy answers the CANCEL (sipgo does, with the 487), sends
// its own CANCEL down the branch for the callee's copy, and the callee's
// 487 is ACKed hop by hop.
func TestReInviteCancelled(t *testing.T) {
	env := pbxEnv(t, nil)
	c := rawEstablish(t, env, "reinvite-cancel")
	br := branch()
	pbx := c.caller.contact("pbx")
	contact := "Contact: <" + pbx.String() + ">"
	c.inDialog(t, "INVITE", 2, br, contact)
	reinv := c.callee.expectRequest(t, sip.INVITE)
	if seq := reinv.CSeq().SeqNo; seq != 2 {
		t.Fatalf("callee got INVITE CSeq %d, want the re-INVITE's 2", seq)
	}
	c.callee.respond(t, reinv, 180, "")
	if res := c.caller.expectResponse(t, sip.INVITE); res.StatusCode != 180 {
		t.Fatalf("caller got %d to its re-INVITE, want 180", res.StatusCode)
	}
	c.inDialog(t, "CANCEL", 2, br)

	cancel := c.callee.expectRequest(t, sip.CANCEL)
	if got, want := cancel.Via().Params, reinv.Via().Params; func() bool {
		a, _ := got.Get("branch")
		b, _ := want.Get("branch")
		return a != b
	}() {
		t.Fatalf("CANCEL Via %s does not match the re-INVITE's %s", cancel.Via().Value(), reinv.Via().Value())
	}
	if got, want := cancel.StartLine(), strings.Replace(reinv.StartLine(), "INVITE", "CANCEL", 1); cancel.CSeq().SeqNo != 2 || got != want {
		t.Errorf("CANCEL %q CSeq %d, want %q CSeq 2", got, cancel.CSeq().SeqNo, want)
	}
	c.callee.respond(t, cancel, 200, "")
	c.callee.respond(t, reinv, 487, "")
	c.callee.expectRequest(t, sip.ACK) // the proxy's, for the 487

	var cancelOK, inv487 bool
	for !cancelOK || !inv487 {
		res, ok := c.caller.read(t).(*sip.Response)
		if !ok {
			continue
		}
		switch {
		case res.CSeq().MethodName == sip.CANCEL && res.StatusCode == 200:
			cancelOK = true
		case res.CSeq().MethodName == sip.INVITE && res.StatusCode == 487:
			inv487 = true
		case res.CSeq().MethodName == sip.INVITE && res.StatusCode == 180:
		default:
			t.Fatalf("caller got %d to %s", res.StatusCode, res.CSeq().MethodName)
		}
	}
	c.inDialog(t, "ACK", 2, br)
	c.hangUp(t, 3)
	waitIdle(t, env)
}

// A callee's 2xx to INVITE that no client transaction matches any more is
// relayed statelessly upstream by the Via below ours (RFC 6026 §7); one
// whose top Via is not ours is dropped.
func TestStray2xxRelayedByVia(t *testing.T) {
	env := pbxEnv(t, nil)
	c := rawEstablish(t, env, "stray-2xx")
	ours := c.ok.Via()
	oldBranch, _ := ours.Params.Get("branch")
	stray := func(subject, branch, sentBy string) string {
		res := c.ok.Clone()
		res.AppendHeader(sip.NewHeader("Subject", subject))
		msg := strings.Replace(res.String(), oldBranch, branch, 1)
		if sentBy != "" {
			msg = strings.Replace(msg, "SIP/2.0/UDP "+ours.SentBy(), "SIP/2.0/UDP "+sentBy, 1)
		}
		return msg
	}
	// Its transaction ended long ago, as far as the fresh branch tells.
	c.callee.send(t, stray("stray-1", branch(), ""))
	got := c.caller.expectResponse(t, sip.INVITE)
	if s := header(got, "Subject"); s != "stray-1" || got.StatusCode != 200 {
		t.Fatalf("caller got %d Subject %s, want the stray 200", got.StatusCode, s)
	}
	if n := len(got.GetHeaders("Via")); n != 1 {
		t.Errorf("relayed 2xx has %d Vias, want the caller's only", n)
	}
	if tag, _ := got.To().Params.Get("tag"); "To: <sip:bob@"+realm+">;tag="+tag != c.to {
		t.Errorf("relayed 2xx To tag %q", tag)
	}
	// Not ours on top, or ours on top of a call we never saw answered (a
	// forged Via aiming the proxy at someone): dropped; the next relayed
	// one is the next stray.
	c.callee.send(t, stray("foreign", branch(), "127.0.0.9:5999"))
	c.callee.send(t, strings.Replace(stray("unknown call", branch(), ""), c.ok.CallID().Value(), "not-a-call@example.com", -1))
	c.callee.send(t, stray("stray-2", branch(), ""))
	got = c.caller.expectResponse(t, sip.INVITE)
	if s := header(got, "Subject"); s != "stray-2" {
		t.Fatalf("caller got Subject %s, want stray-2 (the foreign one dropped)", s)
	}
	if n := env.gauge(t, "sipedge_proxy_stray_responses_total", map[string]string{"action": "relayed"}); n != 2 {
		t.Errorf("stray_responses_total{relayed} = %v, want 2", n)
	}
	c.hangUp(t, 2)
	waitIdle(t, env)
}

// streamPhone is a phone on one raw TCP or TLS connection to the server:
// it reports the keepalive pings it reads and, when alive, pongs them.
type streamPhone struct {
	conn  net.Conn
	src   netip.AddrPort
	pings chan struct{}
	other chan string // anything but a ping
}

func dialStream(t *testing.T, srv *proxytest.Server, tr string) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if tr == "TLS" {
		c, err = tls.Dial("tcp", srv.TLS.String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	} else {
		c, err = net.Dial("tcp4", srv.TCP.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newStreamPhone(t *testing.T, srv *proxytest.Server, tr string, alive bool) *streamPhone {
	t.Helper()
	c := dialStream(t, srv, tr)
	src := c.LocalAddr().(*net.TCPAddr).AddrPort()
	// A request makes sure the server has accepted (and pooled) the flow.
	if _, err := c.Write([]byte(request("OPTIONS sip:"+srv.Addr(tr).String()+" SIP/2.0",
		"Via: SIP/2.0/"+tr+" "+src.String()+";branch="+branch(),
		"From: <sip:a@127.0.0.1>;tag=1", "To: <sip:a@127.0.0.1>", "Call-ID: ka-"+src.String(),
		"CSeq: 1 OPTIONS", "Max-Forwards: 70"))); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := readSIP(rd); err != nil {
		t.Fatalf("OPTIONS answer: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	p := &streamPhone{conn: c, src: src, pings: make(chan struct{}, 64), other: make(chan string, 4)}
	go func() {
		for {
			b, err := rd.Peek(1)
			if err != nil {
				return
			}
			if b[0] != '\r' {
				msg, err := readSIP(rd)
				if err != nil {
					return
				}
				p.other <- strings.SplitN(string(msg), "\r\n", 2)[0]
				continue
			}
			ping := make([]byte, 4)
			if _, err := io.ReadFull(rd, ping); err != nil {
				return
			}
			if string(ping) != "\r\n\r\n" {
				p.other <- strconv.Quote(string(ping))
				continue
			}
			if alive {
				if _, err := c.Write([]byte("\r\n")); err != nil {
					return
				}
			}
			select {
			case p.pings <- struct{}{}:
			default:
			}
		}
	}()
	return p
}

// On TCP and TLS flows the keepalive is RFC 5626's double CRLF on the
// binding's own connection, and a single CRLF back is its answer: a phone
// that pongs keeps its binding, a silent one loses it after max_misses
// pings. Neither gets an OPTIONS. A phone's own ping gets its pong.
func TestCRLFKeepalives(t *testing.T) {
	cert := proxytest.SelfSignedCert(t)
	for _, tr := range []string{"TCP", "TLS"} {
		t.Run(tr, func(t *testing.T) {
			sig := &signalHandler{phrase: "binding removed after unanswered keepalives", ch: make(chan slog.Record, 4)}
			srv := proxytest.NewServer(t, nil, proxytest.WithLogger(slog.New(sig)), proxytest.WithConfig(func(c *proxy.Config) {
				c.Listen = "127.0.0.1:0"
				c.TLS = proxy.TLSConfig{Listen: "127.0.0.1:0", Certificates: []tls.Certificate{cert}}
			}))
			waitServing(t, srv)

			// The phone's own ping.
			own := dialStream(t, srv, tr)
			if _, err := own.Write([]byte("\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			_ = own.SetReadDeadline(time.Now().Add(5 * time.Second))
			pong := make([]byte, 2)
			if _, err := io.ReadFull(own, pong); err != nil || string(pong) != "\r\n" {
				t.Fatalf("pong to our ping: %q, %v; want CRLF", pong, err)
			}

			loc := location.New(location.Options{})
			alive := newStreamPhone(t, srv, tr, true)
			silent := newStreamPhone(t, srv, tr, false)
			ltr := location.TCP
			if tr == "TLS" {
				ltr = location.TLS
			}
			put := func(user string, p *streamPhone) {
				b := location.Binding{
					Contact: "sip:" + user + "@192.168.1.20:5060;transport=" + strings.ToLower(tr), Source: p.src,
					Transport: ltr, NAT: true, Expires: time.Now().Add(time.Hour), Realm: realm,
				}
				loc.Update(user+"@"+realm, func([]location.Binding) []location.Binding { return []location.Binding{b} })
			}
			put("alive", alive)
			put("silent", silent)

			cfg := proxy.KeepaliveConfig{Interval: 300 * time.Millisecond, MaxMisses: 3, Rate: 100, Timeout: 300 * time.Millisecond}
			reg, stop := runKeepalives(t, srv, loc, cfg)
			defer stop()

			rec := wait(t, sig.ch, "the silent binding's removal")
			rec.Attrs(func(a slog.Attr) bool {
				if a.Key == "aor" && a.Value.String() != "silent@"+realm {
					t.Errorf("removed %s, want the silent phone's binding", a.Value)
				}
				return true
			})
			if n := len(loc.Lookup("silent@"+realm, nil)); n != 0 {
				t.Errorf("silent phone keeps %d bindings", n)
			}
			for range cfg.MaxMisses {
				wait(t, silent.pings, "the silent phone's pings")
			}
			// Another round for the phone that answers: still there.
			for range cfg.MaxMisses + 1 {
				wait(t, alive.pings, "the alive phone's pings")
			}
			if n := len(loc.Lookup("alive@"+realm, nil)); n != 1 {
				t.Errorf("answering phone has %d bindings, want 1", n)
			}
			// Rounds before the last are counted; a pong late under load
			// is a miss, not a removal.
			if n := counter(t, reg, "sipedge_proxy_keepalives_total", map[string]string{"kind": "crlf", "outcome": "answered"}); n < 1 {
				t.Errorf("keepalives_total{crlf,answered} = %v, want the alive phone's pongs counted", n)
			}
			if n := counter(t, reg, "sipedge_proxy_keepalives_total", map[string]string{"kind": "options", "outcome": "answered"}); n != 0 {
				t.Errorf("keepalives_total{options,answered} = %v, want 0", n)
			}
			for _, p := range []*streamPhone{alive, silent} {
				select {
				case m := <-p.other:
					t.Errorf("phone got %s, want only CRLF pings", m)
				default:
				}
			}
		})
	}
}

// IPv6 end to end: the proxy on [::1], phones on ::1 registering and
// calling each other over UDP and TCP; Via, Record-Route and Contact carry
// bracketed addresses, and every request and answer gets through.
func TestCallIPv6(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			env := newCallEnv(t, envOpts{cfg: func(c *proxy.Config) { c.Listen = "[::1]:0" }})
			if !env.srv.UDP.Addr().Is6() {
				t.Fatalf("server on %s, want ::1", env.srv.UDP)
			}
			alice := env.phone(t, tr, "alice")
			bob := env.phone(t, tr, "bob")
			bs := env.loc.Lookup("bob@"+realm, nil)
			if len(bs) != 1 || !bs[0].Source.Addr().Is6() {
				t.Fatalf("bob's bindings %+v, want one from ::1", bs)
			}
			r := fullCall(t, alice, bob, "bob", largeSDP(200))
			via := r.invite.Via()
			if via == nil || via.Host != "::1" || !strings.Contains(via.Value(), "[::1]:") {
				t.Errorf("our Via on the INVITE: %v, want [::1]", via)
			}
			rr := r.invite.GetHeader("Record-Route")
			if rr == nil || !strings.Contains(rr.Value(), "<sip:[::1]:") {
				t.Errorf("Record-Route %v, want sip:[::1]:port", rr)
			}
			if r.ok == nil || r.ok.StatusCode != 200 {
				t.Errorf("caller's answer %v, want 200", r.ok)
			}
			if r.bye == nil || r.bye.Transport() != tr {
				t.Errorf("BYE at the callee %v, want one over %s", r.bye, tr)
			}
			waitIdle(t, env)
		})
	}
}

// Timer C bounds a re-INVITE too: a callee that sent a 180 and went quiet
// gets our CANCEL, and the sender gets 408 rather than the 487.
func TestReInviteTimerC(t *testing.T) {
	env := pbxEnv(t, func(c *proxy.Config) { c.TimerC = 500 * time.Millisecond })
	c := rawEstablish(t, env, "reinvite-timer-c")
	br := branch()
	pbx := c.caller.contact("pbx")
	c.inDialog(t, "INVITE", 2, br, "Contact: <"+pbx.String()+">")
	reinv := c.callee.expectRequest(t, sip.INVITE)
	c.callee.respond(t, reinv, 180, "")
	cancel := c.callee.expectRequest(t, sip.CANCEL)
	c.callee.respond(t, cancel, 200, "")
	c.callee.respond(t, reinv, 487, "")
	if res := c.caller.expectResponse(t, sip.INVITE); res.StatusCode == 180 {
		if res = c.caller.expectResponse(t, sip.INVITE); res.StatusCode != 408 {
			t.Fatalf("caller got %d to its re-INVITE, want 408", res.StatusCode)
		}
	} else if res.StatusCode != 408 {
		t.Fatalf("caller got %d to its re-INVITE, want 408", res.StatusCode)
	}
	c.inDialog(t, "ACK", 2, br)
	if got := env.gauge(t, "sipedge_proxy_timer_c_expired_total", nil); got != 1 {
		t.Errorf("timer_c_expired_total = %v, want 1", got)
	}
	c.hangUp(t, 3)
	waitIdle(t, env)
}
