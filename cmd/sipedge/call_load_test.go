package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Calls between raw UDP phones (see udpPhone), for the load tests: the
// caller runs INVITE (407, ACK, INVITE with credentials), 200, ACK, BYE;
// the callee answers from its own loop. Each phone owns its socket, so the
// server sees every phone as a distinct source.

// callee counts what a phone answering calls saw.
type callee struct {
	invites, acks, byes atomic.Int64
}

// answer serves calls on ph's socket until ctx ends: 180 and 200 to an
// INVITE (the same answer to a retransmission), nothing to an ACK, 200 to a
// BYE. It must start after the phone registered, since it owns the socket's
// reads from then on.
func (ph *udpPhone) answer(ctx context.Context, cs *callee) {
	la := ph.c.LocalAddr().String()
	buf := make([]byte, 65535)
	for ctx.Err() == nil {
		_ = ph.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := ph.c.Read(buf)
		if err != nil {
			if isTimeout(err) {
				continue
			}
			return
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		req, ok := m.(*sip.Request)
		if !ok {
			continue
		}
		switch req.Method {
		case sip.INVITE:
			cs.invites.Add(1)
			ringing := sip.NewResponseFromRequest(req, 180, "Ringing", nil)
			ok := sip.NewResponseFromRequest(req, 200, "OK", nil)
			// The tag is the Call-ID's, so a retransmitted INVITE gets the same answer.
			tag := "c" + strings.ReplaceAll(req.CallID().Value(), "@", "")
			ringing.To().Params.Add("tag", tag)
			ok.To().Params.Add("tag", tag)
			ok.AppendHeader(sip.NewHeader("Contact", "<sip:"+ph.user+"@"+la+">"))
			_, _ = ph.c.Write([]byte(ringing.String()))
			_, _ = ph.c.Write([]byte(ok.String()))
		case sip.ACK:
			cs.acks.Add(1)
		case sip.BYE:
			cs.byes.Add(1)
			_, _ = ph.c.Write([]byte(sip.NewResponseFromRequest(req, 200, "OK", nil).String()))
		}
	}
}

// callMsg renders one request of a call.
func (ph *udpPhone) callMsg(method, ruri, branch, callID, fromTag, to string, seq int, extra ...string) []byte {
	la := ph.c.LocalAddr().String()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;rport;branch=%s\r\nMax-Forwards: 70\r\n", la, branch)
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\nTo: %s\r\n", ph.user, testRealm, fromTag, to)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\n", callID, seq, method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", ph.user, la)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("User-Agent: LoadPhone/1.0\r\nContent-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// call places one call to user through the server and hangs it up: it
// returns nil when the BYE was answered 200.
func (ph *udpPhone) call(ctx context.Context, user string) error {
	ruri := "sip:" + user + "@" + testRealm
	callID := "call-" + sip.GenerateTagN(12)
	fromTag := sip.GenerateTagN(8)
	to := "<" + ruri + ">"

	br := sip.GenerateBranch()
	res, err := ph.roundTrip(ctx, ph.callMsg("INVITE", ruri, br, callID, fromTag, to, 1), 1)
	if err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	if res.StatusCode == 407 {
		// The ACK of a non-2xx answer is part of the INVITE transaction: same branch.
		_, _ = ph.c.Write(ph.callMsg("ACK", ruri, br, callID, fromTag, res.To().Value(), 1))
		var chal *digest.Challenge
		for _, h := range res.GetHeaders("Proxy-Authenticate") {
			if c, err := digest.ParseChallenge(h.Value()); err == nil && (chal == nil || strings.EqualFold(c.Algorithm, "MD5")) {
				chal = c
			}
		}
		if chal == nil {
			return errors.New("407 without a usable challenge")
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: ruri, Username: ph.user, Password: ph.pass, Count: 1})
		if err != nil {
			return fmt.Errorf("digest: %w", err)
		}
		res, err = ph.roundTrip(ctx, ph.callMsg("INVITE", ruri, sip.GenerateBranch(), callID, fromTag, to, 2,
			"Proxy-Authorization: "+cred.String()), 2)
		if err != nil {
			return fmt.Errorf("invite with credentials: %w", err)
		}
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("invite: %d %s", res.StatusCode, res.Reason)
	}
	seq := int(res.CSeq().SeqNo)
	// The route set is the 200's Record-Route in reverse (RFC 3261 §12.1.2);
	// the server record-routes, so every in-dialog request goes back to it.
	var routes []string
	for _, h := range res.GetHeaders("Record-Route") {
		for _, v := range strings.Split(h.Value(), ",") {
			routes = append(routes, "Route: "+strings.TrimSpace(v))
		}
	}
	slices.Reverse(routes)
	target := ruri
	if c := res.Contact(); c != nil {
		target = c.Address.String()
	}
	dialogTo := res.To().Value()
	_, _ = ph.c.Write(ph.callMsg("ACK", target, sip.GenerateBranch(), callID, fromTag, dialogTo, seq, routes...))
	bye, err := ph.roundTrip(ctx, ph.callMsg("BYE", target, sip.GenerateBranch(), callID, fromTag, dialogTo, seq+1, routes...), seq+1)
	if err != nil {
		return fmt.Errorf("bye: %w", err)
	}
	if bye.StatusCode != 200 {
		return fmt.Errorf("bye: %d %s", bye.StatusCode, bye.Reason)
	}
	return nil
}

// isTimeout tells a read deadline from a real socket error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
