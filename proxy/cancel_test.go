package proxy_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

// waitIdle waits until the proxy runs no handler (so no branch is left),
// then checks the gauges that would show a leak.
func waitIdle(t *testing.T, env *callEnv) {
	t.Helper()
	if err := env.srv.WaitIdle(ctxT(t)); err != nil {
		t.Fatalf("proxy never went idle: %v", err)
	}
	if got := env.gauge(t, "sipedge_proxy_inflight_requests", nil); got != 0 {
		t.Errorf("inflight_requests = %v, want 0", got)
	}
	if got := env.gauge(t, "sipedge_proxy_calls_active", nil); got != 0 {
		t.Errorf("calls_active = %v, want 0", got)
	}
}

// outCall is a call being placed; done reports the end of the wait for
// its answer, rang the first 180.
type outCall struct {
	sess *sipgo.DialogClientSession
	rang chan struct{}
	done chan error
}

func (c *outCall) final() *sip.Response { return c.sess.InviteResponse }

func (e *callEnv) dial(t *testing.T, ctx context.Context, from *proxytest.Phone, to string) *outCall {
	t.Helper()
	sess, err := from.Invite(ctxT(t), to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	c := &outCall{sess: sess, rang: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		rang := false
		c.done <- from.Answer(ctx, sess, func(res *sip.Response) {
			if res.StatusCode == 180 && !rang {
				rang = true
				close(c.rang)
			}
		})
	}()
	return c
}

// hangUp ACKs an answered call, waits for the callee's 200 to complete,
// then hangs up and waits for the BYE at the callee.
func hangUp(t *testing.T, c *outCall, callee *proxytest.Phone, answered <-chan error) {
	t.Helper()
	ctx := ctxT(t)
	if err := c.sess.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, answered, "the callee's 200 to be ACKed"); err != nil {
		t.Fatal(err)
	}
	if err := c.sess.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, callee.Byes(), "the BYE at the callee")
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// The caller cancels while the callee rings: the caller gets 487, the
// callee sees the CANCEL (its INVITE ends unanswered), and the proxy keeps
// no branch, goroutine or count.
func TestCallCancelledByCaller(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			env := newCallEnv(t, envOpts{})
			alice := env.phone(t, tr, "alice")
			bob := env.phone(t, tr, "bob")
			ctx, cancel := context.WithCancel(ctxT(t))
			r := env.dial(t, ctx, alice, "bob")
			in, err := bob.WaitCall(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := in.Dialog.Respond(180, "Ringing", nil); err != nil {
				t.Fatal(err)
			}
			wait(t, r.rang, "180 at the caller")
			cancel() // sipgo's dialog sends the CANCEL
			wait(t, r.done, "the caller's CANCEL to finish")
			if res := r.final(); res == nil || res.StatusCode != 487 {
				t.Fatalf("caller's final answer %v, want 487", res)
			}
			wait(t, in.Dialog.Context().Done(), "the callee to see the CANCEL")
			if in.Dialog.LoadState() == sip.DialogStateEstablished {
				t.Error("callee dialog established")
			}
			waitIdle(t, env)
			if got := env.gauge(t, "sipedge_proxy_branches_total", map[string]string{"outcome": "cancelled"}); got != 1 {
				t.Errorf("branches_total{cancelled} = %v, want 1", got)
			}
		})
	}
}

// Two contacts of one AOR ring in parallel; the first 200 wins, the other
// branch is CANCELled, and the call then works as any other.
func TestForkFirstAnswerWins(t *testing.T) {
	env := newCallEnv(t, envOpts{maxContacts: 2})
	alice := env.phone(t, "UDP", "alice")
	bob1 := env.phone(t, "UDP", "bob")
	bob2 := env.phone(t, "TCP", "bob")
	ctx := ctxT(t)
	r := env.dial(t, ctx, alice, "bob")
	in1, err := bob1.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in2, err := bob2.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := in2.Dialog.Respond(180, "Ringing", nil); err != nil {
		t.Fatal(err)
	}
	wait(t, r.rang, "180 at the caller")
	ok := make(chan error, 1)
	go func() { ok <- in1.Dialog.Respond(200, "OK", nil) }()
	if err := wait(t, r.done, "the answer"); err != nil {
		t.Fatal(err)
	}
	if res := r.final(); res.StatusCode != 200 || res.Contact().Address.Port != bob1.Contact.Port {
		t.Fatalf("caller got %d from %v, want bob1's 200", res.StatusCode, res.Contact())
	}
	wait(t, in2.Dialog.Context().Done(), "the CANCEL at the losing branch")
	if in2.Dialog.LoadState() == sip.DialogStateEstablished {
		t.Error("losing branch established a dialog")
	}
	hangUp(t, r, bob1, ok)
	waitIdle(t, env)
	if got := env.gauge(t, "sipedge_proxy_branches_total", map[string]string{"outcome": "cancelled"}); got != 1 {
		t.Errorf("branches_total{cancelled} = %v, want 1", got)
	}
}

// A callee that answers 200 after we CANCELled it (the 200 crossed the
// CANCEL) gets an ACK and then a BYE from the proxy, so no call hangs.
func TestLate200OnCancelledBranch(t *testing.T) {
	env := newCallEnv(t, envOpts{maxContacts: 2})
	alice := env.phone(t, "UDP", "alice")
	bob1 := env.phone(t, "UDP", "bob")
	late := newRawPhone(t, env.srv)
	late.register(t, "bob", "bob-secret")
	ctx := ctxT(t)
	r := env.dial(t, ctx, alice, "bob")
	in1, err := bob1.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inv := late.expectRequest(t, sip.INVITE)
	ringing := late.respond(t, inv, 180, "")
	toTag, _ := ringing.To().Params.Get("tag")

	ok := make(chan error, 1)
	go func() { ok <- in1.Dialog.Respond(200, "OK", nil) }()
	if err := wait(t, r.done, "the answer"); err != nil {
		t.Fatal(err)
	}
	if res := r.final(); res.StatusCode != 200 {
		t.Fatalf("caller got %d, want 200", res.StatusCode)
	}
	can := late.expectRequest(t, sip.CANCEL)
	late.respond(t, can, 200, "")
	// Instead of 487: the answer crossed the CANCEL.
	late.respond(t, inv, 200, toTag)
	ack := late.expectRequest(t, sip.ACK)
	bye := late.expectRequest(t, sip.BYE)
	for _, m := range []*sip.Request{ack, bye} {
		if tag, _ := m.To().Params.Get("tag"); tag != toTag {
			t.Errorf("%s To tag %q, want the 200's %q", m.Method, tag, toTag)
		}
		if m.CallID().Value() != inv.CallID().Value() {
			t.Errorf("%s Call-ID %q, want the INVITE's", m.Method, m.CallID().Value())
		}
	}
	if ack.CSeq().SeqNo != inv.CSeq().SeqNo || bye.CSeq().SeqNo <= inv.CSeq().SeqNo {
		t.Errorf("CSeq ACK %d BYE %d for INVITE %d", ack.CSeq().SeqNo, bye.CSeq().SeqNo, inv.CSeq().SeqNo)
	}
	late.respond(t, bye, 200, "")
	hangUp(t, r, bob1, ok)
	waitIdle(t, env)
	if got := env.gauge(t, "sipedge_proxy_branches_total", map[string]string{"outcome": "cancelled"}); got != 1 {
		t.Errorf("branches_total{cancelled} = %v, want 1", got)
	}
}

// A branch that rings past the ring timeout is CANCELled, and the caller
// hears 408.
func TestRingTimeout(t *testing.T) {
	env := newCallEnv(t, envOpts{cfg: func(c *proxy.Config) { c.RingTimeout = 300 * time.Millisecond }})
	alice := env.phone(t, "UDP", "alice")
	bob := env.phone(t, "UDP", "bob")
	ctx := ctxT(t)
	r := env.dial(t, ctx, alice, "bob")
	in, err := bob.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Dialog.Respond(180, "Ringing", nil); err != nil {
		t.Fatal(err)
	}
	wait(t, in.Dialog.Context().Done(), "the CANCEL at the ring timeout")
	wait(t, r.done, "the caller's final answer")
	if res := r.final(); res == nil || res.StatusCode != 408 {
		t.Fatalf("caller got %v, want 408", res)
	}
	waitIdle(t, env)
	if got := env.gauge(t, "sipedge_proxy_branches_total", map[string]string{"outcome": "timeout"}); got != 1 {
		t.Errorf("branches_total{timeout} = %v, want 1", got)
	}
}

// Max-Forwards 0 on a request to forward is 483, before any challenge.
func TestMaxForwardsZero(t *testing.T) {
	env := newCallEnv(t, envOpts{})
	c := rawUDP(t, env.srv.UDP, request("INVITE sip:bob@"+realm+" SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:9;branch="+branch(),
		"From: <sip:alice@"+realm+">;tag=1", "To: <sip:bob@"+realm+">",
		"Call-ID: mf0", "CSeq: 1 INVITE", "Max-Forwards: 0"))
	res := readResponse(t, c)
	for res.StatusCode == 100 {
		res = readResponse(t, c)
	}
	if res.StatusCode != 483 {
		t.Fatalf("got %d %s, want 483", res.StatusCode, res.Reason)
	}
}

// A request that comes back to us as we sent it is a loop: 482. Here the
// callee "forwards" the INVITE it got straight back to the proxy.
func TestLoopDetected(t *testing.T) {
	env := newCallEnv(t, envOpts{})
	alice := env.phone(t, "UDP", "alice")
	loop := newRawPhone(t, env.srv)
	loop.register(t, "bob", "bob-secret")
	ctx := ctxT(t)
	r := env.dial(t, ctx, alice, "bob")
	inv := loop.expectRequest(t, sip.INVITE)
	loop.send(t, inv.String())
	res := loop.expectResponse(t, sip.INVITE)
	if res.StatusCode != 482 {
		t.Fatalf("looped INVITE answered %d %s, want 482", res.StatusCode, res.Reason)
	}
	loop.respond(t, inv, 486, "")
	wait(t, r.done, "the caller's answer")
	if res := r.final(); res == nil || res.StatusCode != 486 {
		t.Fatalf("caller got %v, want the callee's 486", res)
	}
	waitIdle(t, env)
}

// rawPhone is a phone made of one UDP socket, for the behaviour no sane
// SIP stack produces on request (answers crossing a CANCEL, loops).
type rawPhone struct {
	c    *net.UDPConn
	addr netip.AddrPort
	srv  netip.AddrPort
}

func newRawPhone(t *testing.T, srv *proxytest.Server) *rawPhone {
	return newRawPhoneAt(t, srv, net.IPv4(127, 0, 0, 1))
}

func newRawPhoneAt(t *testing.T, srv *proxytest.Server, ip net.IP) *rawPhone {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPhone{c: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), srv: srv.UDP}
}

func (p *rawPhone) send(t *testing.T, msg string) {
	t.Helper()
	if _, err := p.c.WriteToUDPAddrPort([]byte(msg), p.srv); err != nil {
		t.Fatal(err)
	}
}

func (p *rawPhone) read(t *testing.T) sip.Message {
	t.Helper()
	b := p.readBytes(t)
	m, err := sip.ParseMessage(b)
	if err != nil {
		t.Fatalf("raw phone: %q: %v", b, err)
	}
	return m
}

// readBytes is the next datagram as it came.
func (p *rawPhone) readBytes(t *testing.T) []byte {
	t.Helper()
	buf := make([]byte, 65535)
	if err := p.c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, _, err := p.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("raw phone: %v", err)
	}
	return buf[:n]
}

// expectRequest skips responses and other methods (retransmissions).
func (p *rawPhone) expectRequest(t *testing.T, m sip.RequestMethod) *sip.Request {
	t.Helper()
	for range 20 {
		if req, ok := p.read(t).(*sip.Request); ok && req.Method == m {
			return req
		}
	}
	t.Fatalf("raw phone: no %s", m)
	return nil
}

func (p *rawPhone) expectResponse(t *testing.T, m sip.RequestMethod) *sip.Response {
	t.Helper()
	for range 20 {
		if res, ok := p.read(t).(*sip.Response); ok && res.CSeq().MethodName == m && res.StatusCode > 100 {
			return res
		}
	}
	t.Fatalf("raw phone: no response to %s", m)
	return nil
}

// respond answers req; toTag, when set, replaces the generated tag.
func (p *rawPhone) respond(t *testing.T, req *sip.Request, code int, toTag string) *sip.Response {
	t.Helper()
	res := sip.NewResponseFromRequest(req, code, "", nil)
	if toTag != "" {
		res.To().Params.Add("tag", toTag)
	}
	if code >= 200 && code < 300 && req.Method == sip.INVITE {
		res.AppendHeader(&sip.ContactHeader{Address: p.contact("bob")})
	}
	p.send(t, res.String())
	return res
}

func (p *rawPhone) contact(user string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: p.addr.Addr().String(), Port: int(p.addr.Port())}
}

// register registers the socket as a contact of user, with digest.
func (p *rawPhone) register(t *testing.T, user, password string) {
	t.Helper()
	callID := "raw-" + sip.GenerateTagN(10)
	contact := p.contact(user)
	reg := func(seq int, auth string) string {
		hdrs := []string{
			"Via: SIP/2.0/UDP " + p.addr.String() + ";branch=" + branch(),
			"From: <sip:" + user + "@" + realm + ">;tag=r" + callID,
			"To: <sip:" + user + "@" + realm + ">",
			"Call-ID: " + callID, "CSeq: " + strconv.Itoa(seq) + " REGISTER", "Max-Forwards: 70",
			"Contact: <" + contact.String() + ">", "Expires: 600",
		}
		if auth != "" {
			hdrs = append(hdrs, "Authorization: "+auth)
		}
		return request("REGISTER sip:"+realm+" SIP/2.0", hdrs...)
	}
	p.send(t, reg(1, ""))
	res := p.expectResponse(t, sip.REGISTER)
	if res.StatusCode != 401 {
		t.Fatalf("raw REGISTER: %d, want 401", res.StatusCode)
	}
	var chal *digest.Challenge
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err == nil && (c.Algorithm == "" || strings.EqualFold(c.Algorithm, "MD5")) {
			chal = c
		}
	}
	if chal == nil {
		t.Fatal("raw REGISTER: no MD5 challenge")
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + realm, Username: user, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	p.send(t, reg(2, cred.String()))
	if res := p.expectResponse(t, sip.REGISTER); res.StatusCode != 200 {
		t.Fatalf("raw REGISTER with credentials: %d %s", res.StatusCode, res.Reason)
	}
}

// A callee's 2xx retransmissions (its ACK is late or lost) reach the caller
// too, after the proxy's server transaction has answered.
func TestRetransmitted2xxRelayed(t *testing.T) {
	env := newCallEnv(t, envOpts{devices: []map[string]any{{
		"name": "pbx", "enabled": true, "sip": map[string]any{"method": "ip", "ip": "127.0.0.4", "username": "pbx"},
	}}})
	callee := newRawPhone(t, env.srv)
	callee.register(t, "bob", "bob-secret")
	caller := newRawPhoneAt(t, env.srv, net.IPv4(127, 0, 0, 4))
	contact := caller.contact("pbx")
	caller.send(t, request("INVITE sip:bob@"+realm+" SIP/2.0",
		"Via: SIP/2.0/UDP "+caller.addr.String()+";branch="+branch()+";rport",
		"From: <sip:pbx@"+realm+">;tag=pbx1", "To: <sip:bob@"+realm+">",
		"Call-ID: retrans-2xx", "CSeq: 1 INVITE", "Max-Forwards: 70",
		"Contact: <"+contact.String()+">"))
	inv := callee.expectRequest(t, sip.INVITE)
	ok := callee.respond(t, inv, 200, "")
	tag, _ := ok.To().Params.Get("tag")
	first := caller.expectResponse(t, sip.INVITE)
	callee.send(t, ok.String()) // the retransmission
	second := caller.expectResponse(t, sip.INVITE)
	for i, res := range []*sip.Response{first, second} {
		if res.StatusCode != 200 {
			t.Fatalf("response %d: %d, want 200", i+1, res.StatusCode)
		}
		if got, _ := res.To().Params.Get("tag"); got != tag {
			t.Errorf("response %d To tag %q, want %q", i+1, got, tag)
		}
		if n := len(res.GetHeaders("Via")); n != 1 {
			t.Errorf("response %d has %d Vias, want the caller's only", i+1, n)
		}
	}
	// End the call: ACK and BYE along the route set.
	rr := first.GetHeader("Record-Route").Value()
	to := "To: <sip:bob@" + realm + ">;tag=" + tag
	calleeContact := callee.contact("bob")
	for _, m := range []string{"ACK", "BYE"} {
		seq := "1"
		if m == "BYE" {
			seq = "2"
		}
		caller.send(t, request(m+" "+calleeContact.String()+" SIP/2.0",
			"Via: SIP/2.0/UDP "+caller.addr.String()+";branch="+branch()+";rport",
			"Route: "+rr, "From: <sip:pbx@"+realm+">;tag=pbx1", to,
			"Call-ID: retrans-2xx", "CSeq: "+seq+" "+m, "Max-Forwards: 70"))
	}
	callee.expectRequest(t, sip.ACK)
	bye := callee.expectRequest(t, sip.BYE)
	callee.respond(t, bye, 200, "")
	if res := caller.expectResponse(t, sip.BYE); res.StatusCode != 200 {
		t.Fatalf("BYE answered %d", res.StatusCode)
	}
	waitIdle(t, env)
}
