package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// forwardOverhead is about what forwarding adds to a request: our Via and
// up to two Record-Routes.
const forwardOverhead = 200

// largeUDP is RFC 3261 §18.1.1's size for a request whose path MTU is
// unknown: above it, TCP where the target allows. It does not follow
// sip.UDPMTUSize, which the daemon raises so that sipgo sends large
// datagrams to UDP-only phones at all.
const largeUDP = 1300

// branch is one forwarded copy of an INVITE.
type branch struct {
	t          target
	req        *sip.Request // as sent: CANCEL, ACK and BYE are built from it
	tx         sip.ClientTransaction
	ringing    bool // a provisional arrived, so a CANCEL may go (RFC 3261 §9.1)
	cancel     bool // we want it gone
	cancelSent bool
	timedOut   bool // its ring timeout fired
	done       bool
	final      *sip.Response // received or made up here (local)
	local      bool
}

// event is what a branch's watcher reports to the fork loop.
type event struct {
	b       *branch
	res     *sip.Response
	err     error // the transaction ended without a final response
	timeout bool
	timerC  bool // the timeout is Timer C's
}

// defaultTimerC is RFC 3261's "greater than 3 minutes".
const defaultTimerC = 180 * time.Second

// timerC is the configured Timer C.
func (f *forwarder) timerC() time.Duration {
	if d := f.s.cfg.TimerC; d > 0 {
		return d
	}
	return defaultTimerC
}

// forkRun is one initial INVITE being forwarded: all its branches, and the
// state of the answer upstream. Only the fork loop touches it.
type forkRun struct {
	f      *forwarder
	tx     sip.ServerTransaction
	req    *sip.Request
	p      plan
	start  time.Time
	events chan event

	branches  []*branch
	next      int // serial plans: the next target to try
	live      int // watchers running
	responded bool
	upCancel  bool // the caller cancelled; sipgo answered 487 itself
	reqSize   int  // r.req's wire size, once measured
	kept      bool // answered: the call stays counted until its BYE
}

// invite handles every INVITE: loop check, in-dialog routing, or an
// initial INVITE authenticated, planned and forked.
func (f *forwarder) invite(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	return f.serveInitial(ctx, tx, req, func(p plan) error { return f.fork(ctx, tx, req, p) })
}

// serveInitial is what INVITE and the other forwarded methods share: the
// loop check, in-dialog requests by their Route, then authentication and
// the plan of an initial request, which run carries out.
func (f *forwarder) serveInitial(ctx context.Context, tx sip.ServerTransaction, req *sip.Request, run func(plan) error) error {
	if f.looped(req) {
		return Status(482, "Loop Detected")
	}
	if hasToTag(req) {
		return f.inDialog(ctx, tx, req)
	}
	c, err := f.identify(tx, req)
	if err != nil || c == nil {
		return err
	}
	p, err := f.plan(req, c)
	if err != nil {
		return err
	}
	defer p.release()
	return run(p)
}

// fork runs the plan and blocks until every branch has ended, answering
// upstream on the way: provisional responses (not 100) as they come, the
// first 2xx at once, else the best final response once all are done
// (RFC 3261 §16.7).
func (f *forwarder) fork(ctx context.Context, tx sip.ServerTransaction, req *sip.Request, p plan) error {
	r := &forkRun{f: f, tx: tx, req: req, p: p, start: time.Now(), events: make(chan event)}
	f.s.m.callsActive.Inc()
	defer func() {
		if !r.kept {
			f.s.m.callsActive.Dec()
		}
	}()

	cancelled := make(chan struct{})
	var once sync.Once
	if !tx.OnCancel(func(*sip.Request) { once.Do(func() { close(cancelled) }) }) {
		return nil // cancelled before we began; sipgo answered 487
	}
	if p.serial {
		r.startNext()
	} else {
		for _, t := range p.targets {
			r.startBranch(t)
		}
	}
	stop := ctx.Done()
	for r.live > 0 {
		select {
		case ev := <-r.events:
			r.handle(ev)
		case <-cancelled:
			cancelled = nil
			r.upCancel = true
			r.cancelAll()
		case <-stop:
			// Shutting down: end the branches; the caller gets 503 below.
			stop = nil
			r.cancelAll()
		}
	}
	if !r.responded && !r.upCancel {
		r.respondBest()
	}
	return nil
}

// startNext starts the next target of a serial plan that can be started.
func (r *forkRun) startNext() bool {
	for r.next < len(r.p.targets) {
		t := r.p.targets[r.next]
		r.next++
		if r.startBranch(t) {
			return true
		}
		r.f.s.m.failovers.Inc()
	}
	return false
}

// startBranch forwards one copy; a copy that cannot even be sent counts as
// a branch answered 503 here.
func (r *forkRun) startBranch(t target) bool {
	f := r.f
	// RFC 3261 §18.1.1: a request this close to the MTU goes over a
	// congestion-controlled transport. Gateways listen on TCP too; so may
	// a phone registered over UDP from the address in its Contact (no NAT
	// between us), which is tried over TCP first. A NAT'd phone's UDP flow
	// has no such alternative.
	big := t.transport == "UDP" && r.size()+forwardOverhead > min(largeUDP, sip.UDPMTUSize-200)
	if big && t.gw != nil {
		t.transport = "TCP"
	}
	b := &branch{t: t}
	r.branches = append(r.branches, b)
	if t.gw == nil && !t.dial && t.transport != "UDP" && !f.flowOpen(t) {
		// The phone's connection is gone and its port is no listener:
		// dialing it would only wait for a refusal (see SendToBinding).
		f.s.m.branches[outcomeError].Inc()
		b.finish(480, "Temporarily Unavailable")
		return false
	}
	var (
		tx  sip.ClientTransaction
		fwd *sip.Request
		err error
	)
	if big && t.gw == nil && !t.dial && directBinding(t) {
		tt := t
		tt.transport = "TCP"
		tx, fwd, err = r.send(tt)
		if err == nil {
			b.t = tt
			f.s.m.bigTCP[bigTCP].Inc()
		} else {
			f.s.log.Info("large request: no TCP to the device, trying UDP", "call_id", callID(r.req), "dst", t.dest.String(), "err", err)
			f.s.m.bigTCP[bigUDPFallback].Inc()
		}
	}
	if tx == nil {
		tx, fwd, err = r.send(t)
	}
	b.req = fwd
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			b.finish(se.Code, se.Reason)
			return false
		}
		f.s.log.Info("branch not sent", "call_id", callID(r.req), "dst", t.dest.String(), "transport", t.transport, "err", err)
		f.s.m.branches[outcomeError].Inc()
		b.finish(503, "Service Unavailable")
		return false
	}
	b.tx = tx
	r.live++
	ring := r.p.ring
	if t.ring > 0 {
		ring = t.ring
	}
	go watch(b, ring, f.timerC(), r.events)
	return true
}

// send builds the copy of the request for t and starts its client
// transaction. A *StatusError is a copy that must not go at all.
func (r *forkRun) send(t target) (sip.ClientTransaction, *sip.Request, error) {
	f := r.f
	fwd := r.req.Clone()
	fwd.Recipient = *t.uri.Clone()
	if t.br != nil {
		applyBranch(fwd, t.br)
	}
	popOwnRoutes(f, fwd)
	if err := decMaxForwards(fwd); err != nil {
		return nil, fwd, err
	}
	f.recordRoute(fwd, r.req.Transport(), t.transport)
	f.aliasContact(fwd, r.req.Source(), r.req.Transport())
	f.aim(fwd, t.dest, t.transport)
	fwd.PrependHeader(f.via(t.transport, newBranch(fwd)))
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	tx, err := f.client.TransactionRequest(ctx, fwd, prebuilt)
	if err != nil {
		return nil, fwd, fmt.Errorf("proxy: forward INVITE over %s: %w", t.transport, err)
	}
	f.s.m.trackTx(txClient, tx)
	return tx, fwd, nil
}

// size is the wire size of the request as it came in.
func (r *forkRun) size() int {
	if r.reqSize == 0 {
		r.reqSize = requestLen(r.req)
	}
	return r.reqSize
}

// directBinding reports whether a device target's Contact names the
// address its binding was learned from: nothing between us rewrites
// addresses, so the phone's own listener may be reached over another
// transport on the same port.
func directBinding(t target) bool {
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(t.uri.Host, "["), "]"))
	if err != nil {
		return false
	}
	port := t.uri.Port
	if port == 0 {
		port = 5060
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)) == t.dest
}

// finish records a final response made up here.
func (b *branch) finish(code int, reason string) {
	b.done = true
	b.local = true
	b.final = &sip.Response{StatusCode: code, Reason: reason}
}

// watch forwards a branch's responses to the fork loop, and its timers:
// the ring timeout, and Timer C (RFC 3261 §16.6 step 11), which every
// provisional response restarts. At the first of them to fire the loop
// CANCELs (or gives up on a branch that never even rang); 64·T1 later a
// last timeout ends the transaction for a callee that ignores the CANCEL.
// It returns after one final response or the end of the transaction.
func watch(b *branch, ring, timerC time.Duration, events chan<- event) {
	ringT := time.NewTimer(ring)
	defer ringT.Stop()
	cT := time.NewTimer(timerC)
	defer cT.Stop()
	var giveUp <-chan time.Time
	fired := false
	expire := func(ev event) {
		events <- ev
		fired = true
		ringT.Stop()
		cT.Stop()
		giveUp = time.After(64 * sip.T1)
	}
	for {
		select {
		case res := <-b.tx.Responses():
			events <- event{b: b, res: res}
			if !res.IsProvisional() {
				return
			}
			if !fired {
				cT.Reset(timerC)
			}
		case <-b.tx.Done():
			events <- event{b: b, err: b.tx.Err()}
			return
		case <-ringT.C:
			expire(event{b: b, timeout: true})
		case <-cT.C:
			expire(event{b: b, timeout: true, timerC: true})
		case <-giveUp:
			giveUp = nil
			events <- event{b: b, timeout: true}
		}
	}
}

func (r *forkRun) handle(ev event) {
	b := ev.b
	switch {
	case ev.timeout:
		if b.done {
			return
		}
		if ev.timerC {
			r.f.s.m.timerC.Inc()
			r.f.s.log.Info("timer C expired", "call_id", callID(r.req), "dst", b.t.dest.String(), "ringing", b.ringing)
		}
		if !b.ringing || b.cancelSent {
			b.timedOut = true
			b.tx.Terminate() // its Done ends the watcher
			return
		}
		b.timedOut = true
		b.cancel = true
		r.sendCancel(b)

	case ev.err != nil:
		r.live--
		code, reason, outcome := 408, "Request Timeout", outcomeTimeout
		if errors.Is(ev.err, sip.ErrTransactionTransport) && !b.timedOut {
			code, reason, outcome = 503, "Service Unavailable", outcomeError
		}
		if b.cancel && !b.timedOut {
			outcome = outcomeCancelled
		}
		r.f.s.m.branches[outcome].Inc()
		b.finish(code, reason)
		r.finalOf(b)

	case ev.res.IsProvisional():
		b.ringing = true
		if b.cancel && !b.cancelSent {
			r.sendCancel(b)
			return
		}
		if ev.res.StatusCode > 100 && !r.responded && !r.upCancel {
			r.relay(ev.res)
		}

	case ev.res.IsSuccess():
		r.live--
		b.done = true
		b.final = ev.res
		if r.responded || r.upCancel {
			// Answered after we cancelled it (or after another branch won):
			// nobody upstream will ACK this, so we do, then hang up.
			r.f.s.m.branches[outcomeCancelled].Inc()
			r.f.ackBye(b, ev.res)
			return
		}
		r.f.s.m.branches[outcomeAnswered].Inc()
		r.f.s.m.callsSetup.Inc()
		r.kept = r.f.dialogUp(callID(r.req))
		// Catch the callee's 2xx retransmissions before the first 200 goes
		// up: once the caller has it, a retransmission may come at once, and
		// one arriving before the hook is set would be lost.
		up := r.req
		b.tx.OnRetransmission(func(res *sip.Response) {
			if res.IsSuccess() {
				if r.p.rp != nil {
					res = res.Clone()
					restoreParties(res, up)
				}
				r.f.relayStateless(up, res)
			}
		})
		r.relay(ev.res)
		r.answered()
		for _, o := range r.branches {
			if o != b && !o.done {
				o.cancel = true
				r.sendCancel(o)
			}
		}

	default:
		r.live--
		b.done = true
		b.final = ev.res
		outcome := outcomeRejected
		switch {
		case b.timedOut && ev.res.StatusCode == 487:
			// Our own CANCEL at the ring timeout: for the caller that is
			// no answer in time, not a cancelled request.
			outcome = outcomeTimeout
			b.finish(408, "Request Timeout")
		case b.cancel && ev.res.StatusCode == 487:
			outcome = outcomeCancelled
		}
		r.f.s.m.branches[outcome].Inc()
		r.finalOf(b)
	}
}

// finalOf reacts to a branch ending with a final response ≥ 300: a 6xx
// ends the whole search (RFC 3261 §16.7 step 5), a 408/5xx on a serial plan
// fails over to the next target (never on 6xx).
func (r *forkRun) finalOf(b *branch) {
	if r.responded || r.upCancel {
		return
	}
	code := b.final.StatusCode
	if code >= 600 {
		r.cancelAll()
		r.respond(b)
		return
	}
	if (r.p.serial || len(b.t.alts) > 0) && (code == 408 || code >= 500) {
		r.f.s.m.failovers.Inc()
		if b.t.gw != nil {
			r.f.s.log.Info("gateway failover", "call_id", callID(r.req), "pool", b.t.gw.pool.cfg.Name, "target", b.t.gw.name, "code", code)
		}
		if r.p.serial {
			r.startNext()
		} else {
			r.startAlt(b.t.alts)
		}
	}
}

// startAlt starts the first of a leg's failover targets that can be
// started (a gateway leg forked in parallel with device legs).
func (r *forkRun) startAlt(alts []target) {
	for len(alts) > 0 {
		t := alts[0]
		t.alts, alts = alts[1:], alts[1:]
		if r.startBranch(t) {
			return
		}
		r.f.s.m.failovers.Inc()
	}
}

// cancelAll cancels every branch still pending.
func (r *forkRun) cancelAll() {
	for _, b := range r.branches {
		if !b.done {
			b.cancel = true
			r.sendCancel(b)
		}
	}
	r.next = len(r.p.targets) // and starts no more
	for _, b := range r.branches {
		b.t.alts = nil
	}
}

// sendCancel sends the CANCEL once a provisional came (until then the
// provisional handler sends it).
func (r *forkRun) sendCancel(b *branch) {
	if b.cancelSent || !b.ringing || b.tx == nil {
		return
	}
	b.cancelSent = true
	r.f.cancelBranch(b.req)
}

// relay sends a downstream response upstream through the server transaction.
func (r *forkRun) relay(res *sip.Response) {
	up := r.f.upstreamCopy(res)
	if r.p.rp != nil {
		restoreParties(up, r.req)
	}
	if err := r.tx.Respond(up); err != nil {
		r.f.s.log.Debug("response not relayed", "call_id", callID(r.req), "code", res.StatusCode, "err", err)
	}
}

func (r *forkRun) answered() {
	r.responded = true
	r.f.s.m.setupTime.Observe(time.Since(r.start).Seconds())
}

// respond sends b's final response upstream.
func (r *forkRun) respond(b *branch) {
	r.answered()
	res := b.final
	if b.local || res.StatusCode == 503 {
		code, reason := res.StatusCode, res.Reason
		if !b.local {
			// RFC 3261 §16.7 step 6: a 503 from downstream means that hop
			// is overloaded, not us.
			code, reason = 500, "Server Internal Error"
		}
		out := sip.NewResponseFromRequest(r.req, code, reason, nil)
		if err := r.tx.Respond(out); err != nil {
			r.f.s.log.Debug("final response not sent", "call_id", callID(r.req), "code", code, "err", err)
		}
		return
	}
	r.relay(res)
}

// respondBest picks the answer once every branch has failed: a 6xx if any,
// else the lowest class, and within it a response received over one made
// up here, the earliest first.
func (r *forkRun) respondBest() {
	var best *branch
	for _, b := range r.branches {
		if b.final == nil {
			continue
		}
		if best == nil || betterFinal(b, best) {
			best = b
		}
	}
	if best == nil {
		best = &branch{}
		best.finish(480, "Temporarily Unavailable")
	}
	if r.f.s.baseCtx.Err() != nil && best.local {
		best.finish(503, "Service Unavailable")
	}
	r.respond(best)
}

func betterFinal(a, b *branch) bool {
	ca, cb := a.final.StatusCode/100, b.final.StatusCode/100
	if ca == 6 || cb == 6 {
		return ca == 6 && cb != 6
	}
	if ca != cb {
		return ca < cb
	}
	return !a.local && b.local
}

// upstreamCopy is res as it goes back: our Via off the top, and a NAT'd
// callee's Contact marked with where it really is. The copy has its own
// header list but shares the headers themselves, and the body: a received
// message is never edited in place here (what differs upstream, a Contact
// with an alias, the caller's From and To, is put in as a new header), and
// a deep copy was most of what relaying a response allocated.
func (f *forwarder) upstreamCopy(res *sip.Response) *sip.Response {
	up := sip.NewResponse(res.StatusCode, res.Reason)
	up.SipVersion = res.SipVersion
	via := false
	for _, h := range res.Headers() {
		if _, ok := h.(*sip.ViaHeader); ok && !via {
			via = true
			continue
		}
		up.AppendHeader(h)
	}
	up.SetBody(res.Body())
	up.SetTransport(res.Transport())
	up.SetSource(res.Source())
	up.SetDestination(res.Destination())
	f.aliasContact(up, res.Source(), res.Transport())
	return up
}

// relayStateless sends a 2xx retransmission upstream after the server
// transaction has gone, to where the INVITE came from.
func (f *forwarder) relayStateless(inv *sip.Request, res *sip.Response) {
	up := f.upstreamCopy(res)
	up.SetDestination(inv.Source())
	up.SetTransport(inv.Transport())
	if err := f.s.srv.WriteResponse(up); err != nil {
		f.s.log.Debug("2xx retransmission not relayed", "call_id", callID(inv), "err", fmt.Errorf("proxy: %w", err))
	}
}
