package proxy

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// The ACK fast path. The ACK for a 2xx is a transaction of its own that is
// never answered, and a proxy forwards it statelessly (RFC 3261 §16.11,
// §17.1.1.3), yet through sipgo every one got a goroutine, a server
// transaction with its timers, and a copy of itself: a tenth of a call.
// Here it is parsed and forwarded in the socket reader, through the same
// chain and the same checks (our Route token for its Call-ID, loops,
// Max-Forwards) as the full path.
//
// What must not be taken: the ACK for a non-2xx answer to an INVITE of ours,
// which belongs to sipgo's server transaction (it stops that transaction's
// retransmissions). It carries the INVITE's branch, so the branches of the
// INVITEs with a live server transaction are kept, and an ACK with one of
// them goes the full way. An ACK whose next hop is a name to resolve is forwarded from
// a goroutine of its own, not to hold the reader up on DNS.

// ackPath is the chain the fast ACK runs through.
type ackPath struct {
	handler Handler
}

// enableAckPath turns the ACK fast path on for f.
func (s *Server) enableAckPath(f *forwarder) {
	if s.fast == nil || !s.cfg.AckFastPath {
		return
	}
	s.fast.ack.Store(&ackPath{handler: buildChain(HandlerFunc(f.ackStateless), s.chain())})
}

// fastAckForward takes data if it is an ACK that no server transaction of
// ours waits for, and forwards it; it reports whether it took it.
func (s *Server) fastAckForward(p sip.TransportReadProps, data []byte) (taken bool) {
	fp := s.fast
	if fp == nil || !bytes.HasPrefix(data, ackPrefix) {
		return false
	}
	ap := fp.ack.Load()
	if ap == nil {
		return false
	}
	fc, raddr := fp.ours(p)
	if fc == nil {
		return false
	}
	defer s.fastRecover("ack", raddr, &taken)
	msg, err := fp.parser.ParseSIP(data)
	if err != nil {
		return false // sipgo drops it with its own log line
	}
	req, ok := msg.(*sip.Request)
	if !ok || req.Method != sip.ACK {
		return false
	}
	if v := req.Via(); v == nil || fp.invites.has(v) {
		return false
	}
	s.m.ackFast.Inc()
	s.serveFast(ap.handler, fc, raddr, req)
	return true
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
	if !literalNextHop(req) {
		go f.sendAck(ctx, req, req, popped)
		return nil
	}
	f.sendAck(ctx, req, req, popped)
	return nil
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
