package proxy

import (
	"context"
	"slices"

	"github.com/emiago/sipgo/sip"
)

// cancelBranch sends a CANCEL for a forwarded INVITE (RFC 3261 §9.1): same
// Request-URI, Call-ID, From, To, CSeq number and Route set, and our Via
// only, with the INVITE's branch, so the callee matches it to the INVITE.
// The answer (200, or 481 when the INVITE is already done) only ends the
// CANCEL's own transaction; the INVITE's 487 comes on the branch.
func (f *forwarder) cancelBranch(inv *sip.Request) {
	c := sip.NewRequest(sip.CANCEL, inv.Recipient)
	c.AppendHeader(sip.HeaderClone(inv.Via()))
	for _, h := range inv.GetHeaders("Route") {
		c.AppendHeader(sip.HeaderClone(h))
	}
	c.AppendHeader(sip.HeaderClone(inv.From()))
	c.AppendHeader(sip.HeaderClone(inv.To()))
	c.AppendHeader(sip.HeaderClone(inv.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	c.AppendHeader(sip.NewHeader("Content-Length", "0"))
	c.SetTransport(inv.Transport())
	c.SetDestination(inv.Destination())
	c.Laddr = inv.Laddr
	f.background(func() { f.send(c) })
}

// ackBye ends a call answered on a branch nobody upstream wants any more:
// ACK the 2xx (or the callee keeps retransmitting it), then BYE it. Both go
// to the branch's next hop, with the route set the 2xx's Record-Route gives
// beyond us.
func (f *forwarder) ackBye(b *branch, res *sip.Response) {
	inv := b.req
	uri := inv.Recipient
	if c := res.Contact(); c != nil {
		uri = c.Address
	}
	routes := downstreamRoutes(f, res)
	build := func(m sip.RequestMethod, seq uint32) *sip.Request {
		r := sip.NewRequest(m, uri)
		r.AppendHeader(f.via(inv.Transport(), newBranch(inv)))
		for _, u := range routes {
			r.AppendHeader(&sip.RouteHeader{Address: u})
		}
		r.AppendHeader(sip.HeaderClone(inv.From()))
		r.AppendHeader(sip.HeaderClone(res.To()))
		r.AppendHeader(sip.HeaderClone(inv.CallID()))
		r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: m})
		mf := sip.MaxForwardsHeader(70)
		r.AppendHeader(&mf)
		r.AppendHeader(sip.NewHeader("Content-Length", "0"))
		r.SetTransport(inv.Transport())
		r.SetDestination(inv.Destination())
		r.Laddr = inv.Laddr
		return r
	}
	seq := inv.CSeq().SeqNo
	ack := build(sip.ACK, seq)
	if err := f.client.WriteRequest(ack, prebuilt); err != nil {
		f.s.log.Info("ACK for a cancelled branch not sent", "call_id", callID(inv), "err", err)
	}
	bye := build(sip.BYE, seq+1)
	f.s.log.Info("hanging up a branch answered after it was cancelled", "call_id", callID(inv), "dst", inv.Destination())
	f.background(func() { f.send(bye) })
}

// downstreamRoutes is the route set towards the callee: the Record-Route
// entries of res above our own, reversed (RFC 3261 §12.1.2).
func downstreamRoutes(f *forwarder, res *sip.Response) []sip.Uri {
	var above []sip.Uri
	for _, h := range res.GetHeaders("Record-Route") {
		rr, ok := h.(*sip.RecordRouteHeader)
		if !ok {
			continue
		}
		if f.isSelf(rr.Address.Host, rr.Address.Port) {
			break
		}
		above = append(above, rr.Address)
	}
	slices.Reverse(above)
	return above
}

// background runs fn tracked, so shutdown waits for it.
func (f *forwarder) background(fn func()) {
	f.s.track.enter()
	go func() {
		defer f.s.track.leave()
		fn()
	}()
}

// send runs a request we originate to its final response (or Timer F) and
// drops the answer.
func (f *forwarder) send(req *sip.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	tx, err := f.client.TransactionRequest(ctx, req, prebuilt)
	cancel()
	if err != nil {
		f.s.log.Info("request not sent", "method", string(req.Method), "call_id", callID(req), "err", err)
		return
	}
	f.s.m.trackTx(txClient, tx)
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if !res.IsProvisional() {
				return
			}
		case <-tx.Done():
			return
		case <-f.s.baseCtx.Done():
			return
		}
	}
}
