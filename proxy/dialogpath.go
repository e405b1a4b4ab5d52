package proxy

import (
	"bytes"
	"context"
	"crypto/hmac"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// The dialog fast path. Once a call is up, its ACK and its BYE only need
// passing on: the ACK for a 2xx is never answered and a proxy forwards it
// statelessly (RFC 3261 §16.11, §17.1.1.3), and a BYE may be forwarded
// statelessly too, its answer following the Via stack back. Through sipgo
// each got a goroutine, a server transaction with its timers and a copy of
// itself, and the BYE a client transaction and a goroutine for its answer.
// Here, over UDP, they are parsed and forwarded in the socket reader,
// through the same chain and checks (our Route token for the Call-ID,
// loops, Max-Forwards) as the full path.
//
// The BYE goes with a branch that carries an HMAC of its Call-ID and of
// where its answers go (the sender's Via, after the NAT fix): an answer
// that matches no transaction is relayed only when its Via below ours is
// the one that HMAC names, so a forged answer cannot aim the proxy at
// anyone else. The branch is a function of the request, so a retransmitted
// BYE goes on with the same one (§16.11).
//
// What must not be taken: the ACK for a non-2xx answer to an INVITE of ours,
// which belongs to sipgo's server transaction (it stops that transaction's
// retransmissions). It carries the INVITE's branch, so the branches of the
// INVITEs with a live server transaction are kept, and an ACK with one of
// them goes the full way. A request whose next hop is a name to resolve, or
// over a stream that may have to connect first, is sent from a goroutine of
// its own (fromReader): the reader never waits.

var byePrefix = []byte("BYE ")

// dialogPath is the chains the fast ACK and BYE run through, and the
// forwarder that relays the answers to those BYEs.
type dialogPath struct {
	ack, bye Handler
	f        *forwarder
}

// enableDialogPath turns the dialog fast path on for f.
func (s *Server) enableDialogPath(f *forwarder) {
	if s.fast == nil || !s.cfg.DialogFastPath {
		return
	}
	s.fast.dialog.Store(&dialogPath{
		ack: buildChain(HandlerFunc(f.ackStateless), s.chain()),
		bye: buildChain(HandlerFunc(f.byeStateless), s.chain()),
		f:   f,
	})
}

// fastDialog takes data if it is an ACK no server transaction of ours
// waits for, or a BYE within a dialog, and forwards it; it reports
// whether it took it.
func (s *Server) fastDialog(p sip.TransportReadProps, data []byte) (taken bool) {
	fp := s.fast
	if fp == nil || !bytes.HasPrefix(data, ackPrefix) && !bytes.HasPrefix(data, byePrefix) {
		return false
	}
	dp := fp.dialog.Load()
	if dp == nil {
		return false
	}
	fc, raddr := fp.ours(p)
	if fc == nil {
		return false
	}
	defer s.fastRecover("dialog", raddr, &taken)
	req := fp.request(data)
	if req == nil {
		return false
	}
	v := req.Via()
	if v == nil {
		return false
	}
	var h Handler
	switch {
	case req.Method == sip.ACK && !fp.invites.has(v):
		s.m.dialogFast[dialogFastAck].Inc()
		h = dp.ack
	case req.Method == sip.BYE && hasToTag(req):
		s.m.dialogFast[dialogFastBye].Inc()
		h = dp.bye
	default:
		return false
	}
	s.serveFast(h, fc, raddr, req)
	return true
}

var responsePrefix = []byte("SIP/2.0 ")

// fastAnswer relays data if it is an answer to a BYE we forwarded
// statelessly, and reports whether it did; anything else goes on to sipgo
// (stray.go relays such answers too, the slow way).
func (s *Server) fastAnswer(p sip.TransportReadProps, data []byte) (taken bool) {
	fp := s.fast
	if fp == nil || !bytes.HasPrefix(data, responsePrefix) {
		return false
	}
	dp := fp.dialog.Load()
	if dp == nil {
		return false
	}
	fc, raddr := fp.ours(p)
	if fc == nil || !statelessBranchIn(data) {
		return false
	}
	defer s.fastRecover("answer", raddr, &taken)
	if dp.f.relayRawAnswer(fc, data, s.m.dialogFast[dialogFastAnswer]) {
		return true
	}
	msg, err := fp.parser.ParseSIP(data)
	if err != nil {
		return false
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return false
	}
	res.SetTransport("UDP")
	res.SetSource(raddr.String())
	return dp.f.relayStatelessAnswer(res, s.m.dialogFast[dialogFastAnswer])
}

// statelessBranchIn reports whether the first branch of ours in msg is a
// stateless one: a cheap look before parsing.
func statelessBranchIn(msg []byte) bool {
	i := bytes.Index(msg, []byte(branchPrefix))
	if i < 0 {
		return false
	}
	rest := msg[i+len(branchPrefix):]
	return len(rest) > loopHashLen+len(statelessMark) && rest[loopHashLen] == '.' &&
		string(rest[loopHashLen+1:loopHashLen+1+len(statelessMark)]) == statelessMark
}

// ackStateless is ack for an ACK parsed in the reader: nobody else holds
// req, so it is forwarded as it is, not copied.
func (f *forwarder) ackStateless(ctx context.Context, _ sip.ServerTransaction, req *sip.Request) error {
	if f.looped(req) {
		return nil
	}
	// routedByUs reads only the Call-ID, which popping leaves alone.
	popped := popOwnRoutes(f, req)
	if len(popped) == 0 || !f.routedByUs(req, popped) {
		return nil
	}
	f.fromReader(ctx, req, popped, func(dest netip.AddrPort, tr string) error {
		f.ackTo(req, req, dest, tr)
		return nil
	})
	return nil
}

// byeStateless is inDialog for a BYE parsed in the reader, without a
// transaction: the answers come back through relayStatelessAnswer.
func (f *forwarder) byeStateless(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	if f.looped(req) {
		return Status(482, "Loop Detected")
	}
	popped, err := f.enterDialog(req, req)
	if err != nil {
		return err
	}
	up, upTr, ok := viaDestination(req.Via())
	if !ok {
		return Status(400, "Bad Request")
	}
	if err := decMaxForwards(req); err != nil {
		return err
	}
	f.aliasContact(req, req.Source(), req.Transport())
	return f.fromReader(ctx, req, popped, func(dest netip.AddrPort, tr string) error {
		f.aim(req, dest, tr)
		req.PrependHeader(f.via(tr, branchPrefix+loopHash(req)+"."+statelessMark+f.answerToken(callID(req), up, upTr)))
		// The call ends with its BYE, whatever the answer (RFC 3261 §15.1.2).
		f.dialogDown(callID(req))
		if err := f.client.WriteRequest(req, prebuilt); err != nil {
			req.RemoveHeader("Via") // ours: the answer goes by the sender's
			return &StatusError{Code: 503, Reason: "Service Unavailable", Err: fmt.Errorf("proxy: forward BYE: %w", err)}
		}
		return nil
	})
}

// fromReader finds the next hop of req and sends it there with send: at
// once when that needs no lookup and goes over UDP, which never waits;
// else from a goroutine of its own, so that the only reader of the socket
// waits neither on DNS nor on a connection. An error from the goroutine
// is logged, as there is no answering then.
func (f *forwarder) fromReader(ctx context.Context, req *sip.Request, popped []sip.Uri, send func(netip.AddrPort, string) error) error {
	later := func(dest netip.AddrPort, tr string, err error) {
		if err == nil {
			err = send(dest, tr)
		}
		if err != nil {
			f.s.log.Info("request not forwarded", "method", string(req.Method), "call_id", callID(req), "err", err)
		}
	}
	if !literalNextHop(req) {
		go func() {
			dest, tr, err := f.nextHop(ctx, req, popped)
			later(dest, tr, err)
		}()
		return nil
	}
	dest, tr, err := f.nextHop(ctx, req, popped)
	if err != nil {
		return &StatusError{Code: 404, Reason: "Not Here", Err: err}
	}
	if tr != "UDP" {
		go later(dest, tr, nil)
		return nil
	}
	return send(dest, tr)
}

// statelessMark starts the random part of a stateless request's branch.
const statelessMark = "sl"

// answerToken binds a stateless request's branch to its Call-ID and to
// where its answers go.
func (f *forwarder) answerToken(callID string, up netip.AddrPort, tr string) string {
	m := f.mac()
	defer f.macs.Put(m)
	m.Write([]byte("answer\x00"))
	m.Write([]byte(callID))
	m.Write([]byte{0})
	m.Write([]byte(up.String()))
	m.Write([]byte{0})
	m.Write([]byte(strings.ToUpper(tr)))
	return macToken(m)
}

// relayStatelessAnswer passes on an answer to a request we forwarded
// statelessly (a BYE): our Via off, to the Via below it, when our branch
// carries the token for that Via. It reports whether res was one; relayed
// counts it, before it is on the wire.
func (f *forwarder) relayStatelessAnswer(res *sip.Response, relayed prometheus.Counter) bool {
	vias := res.GetHeaders("Via")
	if len(vias) < 2 {
		return false
	}
	top, ok := vias[0].(*sip.ViaHeader)
	if !ok {
		return false
	}
	next, ok := vias[1].(*sip.ViaHeader)
	if !ok {
		return false
	}
	dest, tr, ok := f.statelessAnswerDest(top, next, resCallID(res))
	if !ok {
		return false
	}
	if res.StatusCode == 100 {
		return true // hop by hop
	}
	up := f.upstreamCopy(res)
	up.SetTransport(tr)
	up.SetDestination(dest.String())
	relayed.Inc()
	if err := f.s.srv.WriteResponse(up); err != nil {
		f.s.log.Info("answer not relayed", "call_id", resCallID(res), "dst", dest.String(), "err", err)
	}
	return true
}

// statelessAnswerDest is where an answer whose top Via is top, the next
// one next, goes: when top is ours with a stateless branch whose HMAC
// names callID and next's destination (after the NAT fix), that
// destination and its transport.
func (f *forwarder) statelessAnswerDest(top, next *sip.ViaHeader, callID string) (netip.AddrPort, string, bool) {
	if !f.isSelf(top.Host, top.Port) {
		return netip.AddrPort{}, "", false
	}
	br, _ := top.Params.Get("branch")
	rest, ok := strings.CutPrefix(br, branchPrefix)
	if !ok || len(rest) < loopHashLen+1+len(statelessMark) || rest[loopHashLen] != '.' {
		return netip.AddrPort{}, "", false
	}
	token, ok := strings.CutPrefix(rest[loopHashLen+1:], statelessMark)
	if !ok {
		return netip.AddrPort{}, "", false
	}
	dest, tr, ok := viaDestination(next)
	if !ok || !hmac.Equal([]byte(token), []byte(f.answerToken(callID, dest, tr))) {
		return netip.AddrPort{}, "", false
	}
	return dest, tr, true
}

// literalNextHop reports whether nextHop can place req without a lookup:
// its next Route, else its Request-URI, names an IP address (or carries
// our alias, which does).
func literalNextHop(req *sip.Request) bool {
	if h, ok := req.GetHeader("Route").(*sip.RouteHeader); ok {
		return isLiteral(h.Address.Host)
	}
	if req.Recipient.UriParams.Has("alias") {
		return true
	}
	return isLiteral(req.Recipient.Host)
}

func isLiteral(host string) bool {
	_, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil
}

// inviteBranches are the top-Via branches of the INVITEs whose server
// transactions are alive: an ACK with one of them is that transaction's.
type inviteBranches struct {
	mu sync.Mutex
	m  map[string]int
}

// track keeps req's branch while tx lives.
func (b *inviteBranches) track(tx sip.ServerTransaction, req *sip.Request) {
	v := req.Via()
	if v == nil {
		return
	}
	branch, _ := v.Params.Get("branch")
	b.mu.Lock()
	if b.m == nil {
		b.m = make(map[string]int)
	}
	b.m[branch]++
	b.mu.Unlock()
	if !tx.OnTerminate(func(string, error) { b.drop(branch) }) {
		b.drop(branch)
	}
}

func (b *inviteBranches) drop(branch string) {
	b.mu.Lock()
	if b.m[branch] <= 1 {
		delete(b.m, branch)
	} else {
		b.m[branch]--
	}
	b.mu.Unlock()
}

func (b *inviteBranches) has(v *sip.ViaHeader) bool {
	branch, _ := v.Params.Get("branch")
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[branch] > 0
}
