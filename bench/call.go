package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// Call places calls through the proxy under test and answers them too.
//
// Users are split in two: the first half are callees, registered by
// WarmUp with the generator's own sockets as their contacts, and answered
// by the UAS side of whichever worker socket the proxy sends their
// INVITEs to; the second half are callers. Session k is caller
// half+1+(k mod half) calling callee 1+(k mod half): INVITE, 407, ACK,
// INVITE with Proxy-Authorization, 180, 200, ACK, hold, BYE, 200. The
// ACK of a 2xx and the BYE follow the dialog's route set (the 2xx's
// Record-Route reversed) to its remote target (the 2xx's Contact), sent
// to the target address as loose routing allows.
//
// Latency is the call's setup (first INVITE to 200, the challenge round
// included); the whole call's duration is reported beside it. With RTP
// both ends stream PCMU during the hold, directly between the
// generator's media sockets.
type Call struct {
	// Realm is the users' domain: URIs and the digest realm.
	Realm string
	// Users are callees (first half) then callers (second half).
	Users []User
	// Alg picks the challenge answered, as Register.Alg.
	Alg string
	// Hold is the time between the ACK and the BYE.
	Hold time.Duration
	// RTP streams audio both ways during the hold.
	RTP bool
	// Expires is the callees' registration lifetime, default 3600.
	Expires int

	warm    bool
	reg     Register
	locals  []*net.UDPAddr
	warmed  int // workers of the warm-up, 0 if none ran
	half    int
	workers int
	next    atomic.Uint64
	anyAlg  bool
	prefer  Alg
	ha1     [2][][]byte // callers
	ha2     [2][]string // INVITE to each callee
	aor     [][]byte    // sip:<callee>@<realm>
	ready   bool
}

// dialog is a caller's call in progress.
type dialog struct {
	callee, caller int
	cseq           uint32
	ack            []byte // the 2xx's ACK, sent again for a retransmitted 2xx
	stream         streamRef
}

// Call session states.
const (
	callInvite = iota
	callInviteAuth
	callBye
)

// Name implements Scenario.
func (c *Call) Name() string {
	switch {
	case c.warm:
		return "call-register"
	case c.RTP:
		return "rtp"
	}
	return "call"
}

// Prepare implements Scenario.
func (c *Call) Prepare(workers int) error {
	if c.Realm == "" || !validRealm(c.Realm) {
		return fmt.Errorf("bench: call: realm %q: want a host name", c.Realm)
	}
	if len(c.Users) < 2 {
		return errors.New("bench: call: want at least 2 users (callees, then callers)")
	}
	if c.Hold < 0 {
		return fmt.Errorf("bench: call: hold %v: must be ≥ 0", c.Hold)
	}
	c.half = len(c.Users) / 2
	if c.warm {
		c.reg.Realm, c.reg.Users, c.reg.Alg, c.reg.Expires = c.Realm, c.Users[:c.half], c.Alg, c.Expires
		return c.reg.Prepare(workers)
	}
	if c.warmed > 0 && c.warmed != workers {
		return fmt.Errorf("bench: call: %d sockets, but the callees registered from %d", workers, c.warmed)
	}
	c.workers = workers
	c.anyAlg = c.Alg == ""
	if !c.anyAlg {
		a, ok := ParseAlg(c.Alg)
		if !ok {
			return fmt.Errorf("bench: call: algorithm %q: want MD5 or SHA-256", c.Alg)
		}
		c.prefer = a
	}
	if !c.ready {
		c.aor = make([][]byte, c.half)
		for _, a := range []Alg{MD5, SHA256} {
			c.ha1[a] = make([][]byte, c.half)
			c.ha2[a] = make([]string, c.half)
			for i := range c.half {
				u := c.Users[c.half+i]
				c.ha1[a][i] = []byte(HA1(a, u.Name, c.Realm, u.Password))
				uri := "sip:" + c.Users[i].Name + "@" + c.Realm
				c.aor[i] = []byte(uri)
				c.ha2[a][i] = HA2(a, "INVITE", uri)
			}
		}
		c.ready = true
	}
	return nil
}

// WarmUp registers the callees from the sockets that later runs with this
// Call bind again, so the proxy finds them there. cfg is as for Run; its
// rate (at least 1000/s) paces the registrations, Max and Duration are
// set here.
func (c *Call) WarmUp(ctx context.Context, cfg Config) (*Result, error) {
	c.warm = true
	defer func() { c.warm = false }()
	cfg.Defaults()
	n := len(c.Users) / 2
	// Not measured, so no need to crawl at a low call rate.
	cfg.Rate = max(cfg.Rate, 1000)
	cfg.Max = n
	cfg.Duration = time.Duration(float64(n)/cfg.Rate*float64(time.Second)) + time.Second
	cfg.Progress = nil
	res, err := Run(ctx, cfg)
	if err != nil {
		return res, fmt.Errorf("bench: call warm-up: %w", err)
	}
	c.warmed = cfg.Sockets
	return res, nil
}

// Registered counts the callees WarmUp registered.
func (c *Call) Registered() int {
	if c.reg.state == nil {
		return 0
	}
	return c.reg.Registered()
}

func (c *Call) uasConfig() uasConfig {
	return uasConfig{media: c.RTP && !c.warm, hold: c.Hold, report: !c.warm}
}

func (c *Call) localAddr(i int) *net.UDPAddr {
	if i < len(c.locals) {
		return c.locals[i]
	}
	return nil
}

func (c *Call) bound(i int, a *net.UDPAddr) {
	for len(c.locals) <= i {
		c.locals = append(c.locals, nil)
	}
	c.locals[i] = &net.UDPAddr{IP: a.IP, Port: a.Port}
}

func (c *Call) timeoutCause(s *Session) string {
	if !c.warm && s.State == callBye {
		return "bye timeout"
	}
	return "timeout"
}

// Start implements Scenario.
func (c *Call) Start(s *Session, b []byte) ([]byte, bool) {
	if c.warm {
		return c.reg.Start(s, b)
	}
	k := c.next.Add(1) - 1
	if s.dlg == nil {
		s.dlg = &dialog{}
	}
	d := s.dlg
	d.callee = int(k % uint64(c.half))
	d.caller = d.callee
	d.cseq = 1
	d.ack = d.ack[:0]
	d.stream = streamRef{}
	s.State = callInvite
	return c.invite(s, b, nil), true
}

// Response implements Scenario.
func (c *Call) Response(s *Session, r *Response, b []byte) Action {
	if c.warm {
		return c.reg.Response(s, r, b)
	}
	d := s.dlg
	if s.State == callBye {
		if r.Code >= 200 && r.Code < 300 {
			return Action{Done: true}
		}
		return Action{Fail: "bye failed"}
	}
	if r.Code >= 300 {
		// Every non-2xx final response to an INVITE is ACKed in its own
		// transaction: the response's branch is the INVITE's (§17.1.1.3).
		b = c.ackNon2xx(s, r, b)
		ackLen := len(b)
		if r.Code != 401 && r.Code != 407 {
			return Action{Oneway: b, Fail: statusCause(r.Code)}
		}
		if s.State == callInviteAuth {
			return Action{Oneway: b, Fail: "407 twice"}
		}
		ch, ok := c.choose(r)
		switch {
		case !ok:
			return Action{Oneway: b, Fail: "no usable challenge"}
		case !bytes.EqualFold(ch.Realm, []byte(c.Realm)):
			return Action{Oneway: b, Fail: "challenge for another realm"}
		}
		s.w.challenged++
		d.cseq++
		s.State = callInviteAuth
		b = c.invite(s, b, &ch)
		return Action{Oneway: b[:ackLen], Next: b[ackLen:]}
	}
	// 2xx: the dialog is up.
	target := contactURI(r.Contact)
	if len(target) == 0 || bytes.ContainsAny(target, " \t\r\n\x00") {
		b = c.ack2xx(s, r, b, []byte(c.aor[d.callee]))
		return Action{Oneway: b, Fail: "2xx without usable contact"}
	}
	b = c.ack2xx(s, r, b, target)
	ackLen := len(b)
	d.ack = append(d.ack[:0], b...)
	if s.w.media != nil {
		if peer, ok := sdpAudio(r.Body); ok {
			d.stream = s.w.media.start(ssrcFor(0, s.Worker, s.ID), peer, s.w.r.now()+int64(c.Hold))
		}
	}
	b = c.bye(s, r, b, target)
	s.State = callBye
	return Action{Oneway: b[:ackLen], Next: b[ackLen:], After: c.Hold, Setup: true}
}

// late ACKs a final response to the INVITE that came again.
func (c *Call) late(s *Session, r *Response, b []byte) []byte {
	if c.warm || !equalFoldASCII(r.CSeqMethod, "INVITE") {
		return nil
	}
	if r.Code >= 300 {
		return c.ackNon2xx(s, r, b)
	}
	if len(s.dlg.ack) == 0 || r.CSeq != s.dlg.cseq {
		return nil
	}
	s.w.reacked++
	return s.dlg.ack
}

// Finish implements Scenario.
func (c *Call) Finish(s *Session, ok bool) {
	if c.warm {
		c.reg.Finish(s, ok)
		return
	}
	if !ok && s.w.media != nil {
		s.w.media.stop(s.dlg.stream)
	}
}

func (c *Call) choose(r *Response) (Challenge, bool) {
	for i := 0; i < r.NChallenges; i++ {
		ch, ok := ParseChallenge(r.Challenges[i])
		if ok && (c.anyAlg || ch.Alg == c.prefer) {
			return ch, true
		}
	}
	return Challenge{}, false
}

// appendDialogHeaders appends From, To (with toTag if any), Call-ID and CSeq.
func (c *Call) appendDialogHeaders(b []byte, s *Session, toTag []byte, cseq uint32, method string) []byte {
	d := s.dlg
	b = append(b, "Max-Forwards: 70\r\nFrom: <sip:"...)
	b = append(b, c.Users[c.half+d.caller].Name...)
	b = append(b, '@')
	b = append(b, c.Realm...)
	b = append(b, ">;tag="...)
	b = s.AppendTag(b)
	b = append(b, "\r\nTo: <"...)
	b = append(b, c.aor[d.callee]...)
	b = append(b, '>')
	if len(toTag) > 0 {
		b = append(b, ";tag="...)
		b = append(b, toTag...)
	}
	b = append(b, "\r\nCall-ID: "...)
	b = s.AppendCallID(b)
	b = append(b, "\r\nCSeq: "...)
	b = strconv.AppendUint(b, uint64(cseq), 10)
	b = append(b, ' ')
	b = append(b, method...)
	return append(b, "\r\n"...)
}

func (c *Call) invite(s *Session, b []byte, ch *Challenge) []byte {
	d := s.dlg
	b = append(b, "INVITE "...)
	b = append(b, c.aor[d.callee]...)
	b = append(b, " SIP/2.0\r\n"...)
	b = s.AppendVia(b)
	b = c.appendDialogHeaders(b, s, nil, d.cseq, "INVITE")
	b = append(b, "Contact: <sip:"...)
	b = append(b, c.Users[c.half+d.caller].Name...)
	b = append(b, '@')
	b = append(b, s.Local()...)
	b = append(b, ">\r\n"...)
	if ch != nil {
		b = c.appendProxyAuthorization(b, s, ch)
	}
	// The SDP goes last, so its length is known when the header is written.
	b = append(b, "User-Agent: sipbench\r\nContent-Type: application/sdp\r\nContent-Length: "...)
	mark := len(b)
	b = append(b, "\r\n\r\n"...)
	body := len(b)
	b = appendSDP(b, s.ID, s.w.mediaAddr())
	var n [8]byte
	cl := strconv.AppendInt(n[:0], int64(len(b)-body), 10)
	// Shift the headers' end and the body right to make room for the length.
	b = append(b, cl...)
	copy(b[mark+len(cl):], b[mark:len(b)-len(cl)])
	copy(b[mark:], cl)
	return b
}

func (c *Call) appendProxyAuthorization(b []byte, s *Session, ch *Challenge) []byte {
	d := s.dlg
	var cnBuf [24]byte
	nc := []byte("00000001")
	cnonce := s.AppendTag(cnBuf[:0])
	var qop []byte
	if ch.QOPAuth {
		qop = []byte("auth")
	}
	b = append(b, `Proxy-Authorization: Digest username="`...)
	b = append(b, c.Users[c.half+d.caller].Name...)
	b = append(b, `", realm="`...)
	b = append(b, c.Realm...)
	b = append(b, `", nonce="`...)
	b = append(b, ch.Nonce...)
	b = append(b, `", uri="`...)
	b = append(b, c.aor[d.callee]...)
	b = append(b, `", response="`...)
	b = appendResponse(b, ch.Alg, c.ha1[ch.Alg][d.caller], ch.Nonce, nc, cnonce, qop, c.ha2[ch.Alg][d.callee])
	b = append(b, `", algorithm=`...)
	b = append(b, ch.Alg.String()...)
	if ch.QOPAuth {
		b = append(b, `, cnonce="`...)
		b = append(b, cnonce...)
		b = append(b, `", qop=auth, nc=`...)
		b = append(b, nc...)
	}
	if len(ch.Opaque) > 0 {
		b = append(b, `, opaque="`...)
		b = append(b, ch.Opaque...)
		b = append(b, '"')
	}
	return append(b, "\r\n"...)
}

// ackNon2xx is the ACK of a failed INVITE: same Request-URI, branch and
// CSeq number as the INVITE, the response's To tag.
func (c *Call) ackNon2xx(s *Session, r *Response, b []byte) []byte {
	b = append(b, "ACK "...)
	b = append(b, c.aor[s.dlg.callee]...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/UDP "...)
	b = append(b, s.Local()...)
	b = append(b, ";branch="...)
	b = append(b, r.Branch...)
	b = append(b, ";rport\r\n"...)
	b = c.appendDialogHeaders(b, s, r.ToTag, r.CSeq, "ACK")
	return append(b, "Content-Length: 0\r\n\r\n"...)
}

// ack2xx is the ACK of an answered INVITE, a request of its own: a new
// branch, the route set, the remote target.
func (c *Call) ack2xx(s *Session, r *Response, b, target []byte) []byte {
	b = append(b, "ACK "...)
	b = append(b, target...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/UDP "...)
	b = append(b, s.Local()...)
	b = append(b, ";branch="...)
	// Not a transaction the reader ever matches: parseBranch refuses it.
	b = append(b, s.branch...)
	b = append(b, ".ack;rport\r\n"...)
	b = appendRouteSet(b, r.RecordRoute[:r.NRecordRoute])
	b = c.appendDialogHeaders(b, s, r.ToTag, s.dlg.cseq, "ACK")
	return append(b, "Content-Length: 0\r\n\r\n"...)
}

func (c *Call) bye(s *Session, r *Response, b, target []byte) []byte {
	b = append(b, "BYE "...)
	b = append(b, target...)
	b = append(b, " SIP/2.0\r\n"...)
	b = s.AppendVia(b)
	b = appendRouteSet(b, r.RecordRoute[:r.NRecordRoute])
	b = c.appendDialogHeaders(b, s, r.ToTag, s.dlg.cseq+1, "BYE")
	return append(b, "User-Agent: sipbench\r\nContent-Length: 0\r\n\r\n"...)
}
