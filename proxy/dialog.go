package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/routing"
)

// In-dialog routing. A dialog we set up has us in its route set (our
// Record-Route), so its later requests arrive with our Route on top: we
// pop our entries (both, after a transport change) and send the request on
// to the next Route, or to the Request-URI (loose routing, RFC 3261
// §16.4/§16.12). No new challenge: the dialog was authenticated when it
// was set up.
//
// NAT: a Contact that is not where its message came from gets
// ";alias=ip~port~proto" (Kamailio's add_contact_alias), so the far end
// uses it as its remote target and the requests it sends come back to us
// naming the real flow; we strip the parameter and send there, on that
// transport (for TCP, the phone's own connection).

// request handles the methods forwarded without forking (BYE, UPDATE,
// INFO, REFER, PRACK, MESSAGE, NOTIFY, SUBSCRIBE, OPTIONS to a user).
func (f *forwarder) request(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	return f.serveInitial(ctx, tx, req, func(p plan) error {
		// No forking outside INVITE: the first (best) target only.
		t := p.targets[0]
		fwd := req.Clone()
		fwd.Recipient = *t.uri.Clone()
		popOwnRoutes(f, fwd)
		if err := decMaxForwards(fwd); err != nil {
			return err
		}
		if req.Method == sip.SUBSCRIBE || req.Method == sip.REFER {
			f.recordRoute(fwd, req.Transport(), t.transport)
		}
		f.aliasContact(fwd, req.Source(), req.Transport())
		return f.forwardOne(ctx, tx, req, fwd, t.dest, t.transport)
	})
}

// enterDialog readies fwd, the copy of req to forward (or req itself):
// our internal headers and our Routes off, the Routes checked for the
// token of req's Call-ID. It returns the Routes popped.
func (f *forwarder) enterDialog(req, fwd *sip.Request) ([]sip.Uri, error) {
	stripInternal(fwd)
	popped := popOwnRoutes(f, fwd)
	if len(popped) == 0 {
		// Not part of a dialog through us: we are no user agent.
		return nil, Status(404, "Not Here")
	}
	if !f.routedByUs(req, popped) {
		return nil, Status(403, "Forbidden")
	}
	return popped, nil
}

// inDialog forwards a request of an established dialog.
func (f *forwarder) inDialog(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	fwd := req.Clone()
	popped, err := f.enterDialog(req, fwd)
	if err != nil {
		return err
	}
	dest, tr, err := f.nextHop(ctx, fwd, popped)
	if err != nil {
		return &StatusError{Code: 404, Reason: "Not Here", Err: err}
	}
	if err := decMaxForwards(fwd); err != nil {
		return err
	}
	f.aliasContact(fwd, req.Source(), req.Transport())
	return f.forwardOne(ctx, tx, req, fwd, dest, tr)
}

// forwardOne sends fwd statefully to dest and relays its answers until the
// final one.
func (f *forwarder) forwardOne(ctx context.Context, tx sip.ServerTransaction, req, fwd *sip.Request, dest netip.AddrPort, tr string) error {
	f.aim(fwd, dest, tr)
	fwd.PrependHeader(f.via(tr, newBranch(fwd)))
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	ctx2, err := f.client.TransactionRequest(dctx, fwd, prebuilt)
	cancel()
	if err != nil {
		return &StatusError{Code: 503, Reason: "Service Unavailable", Err: fmt.Errorf("proxy: forward %s: %w", req.Method, err)}
	}
	f.s.m.trackTx(txClient, ctx2)
	ctx2tx := ctx2
	defer func() {
		if req.Method != sip.INVITE {
			ctx2tx.Terminate()
		}
	}()
	// A re-INVITE may be CANCELled (RFC 3261 §9.1): sipgo answers the
	// CANCEL and the 487 upstream itself; ours goes down the branch once
	// a provisional has come, and the callee's 487 ends the loop.
	// Timer C (RFC 3261 §16.6 step 11) bounds it as it does a fork's branch.
	var cancelled chan struct{}
	var timerC <-chan time.Time
	var cT *time.Timer
	ringing, cancelSent, timedOut := false, false, false
	if req.Method == sip.INVITE {
		cT = time.NewTimer(f.timerC())
		defer cT.Stop()
		timerC = cT.C
		ctx2tx.OnRetransmission(func(res *sip.Response) {
			if res.IsSuccess() {
				f.relayStateless(req, res)
			}
		})
		cancelled = make(chan struct{})
		var once sync.Once
		if !tx.OnCancel(func(*sip.Request) { once.Do(func() { close(cancelled) }) }) {
			once.Do(func() { close(cancelled) }) // cancelled before we got here
		}
	}
	for {
		select {
		case <-cancelled:
			cancelled = nil
			if ringing && !cancelSent {
				cancelSent = true
				f.cancelBranch(fwd)
			}
		case <-timerC:
			if timedOut {
				// The callee ignored our CANCEL: give up on it.
				timerC = nil
				ctx2tx.Terminate()
				continue
			}
			timedOut = true
			f.s.m.timerC.Inc()
			f.s.log.Info("timer C expired", "call_id", callID(req), "dst", dest.String(), "ringing", ringing)
			switch {
			case !ringing:
				timerC = nil
				ctx2tx.Terminate() // its Done answers 408
				continue
			case !cancelSent:
				cancelSent = true
				f.cancelBranch(fwd)
			}
			cT.Reset(64 * sip.T1)
		case res := <-ctx2tx.Responses():
			if res.IsProvisional() {
				ringing = true
				if !timedOut && cT != nil {
					cT.Reset(f.timerC())
				}
				if cancelled == nil && req.Method == sip.INVITE && !cancelSent {
					cancelSent = true
					f.cancelBranch(fwd)
					continue
				}
			}
			if res.IsProvisional() && res.StatusCode == 100 {
				continue
			}
			if req.Method == sip.BYE && !res.IsProvisional() {
				f.dialogDown(callID(req))
			}
			if timedOut && res.StatusCode == 487 && cancelled != nil {
				// Our CANCEL at Timer C: no answer in time, for the sender.
				return Status(408, "Request Timeout")
			}
			if err := tx.Respond(f.upstreamCopy(res)); err != nil {
				f.s.log.Debug("response not relayed", "call_id", callID(req), "code", res.StatusCode, "err", err)
			}
			if res.IsProvisional() {
				continue
			}
			return nil
		case <-ctx2tx.Done():
			err := ctx2tx.Err()
			if req.Method == sip.BYE {
				f.dialogDown(callID(req))
			}
			if errors.Is(err, sip.ErrTransactionTransport) {
				return &StatusError{Code: 503, Reason: "Service Unavailable", Err: err}
			}
			return &StatusError{Code: 408, Reason: "Request Timeout", Err: err}
		case <-ctx.Done():
			return &StatusError{Code: 503, Reason: "Service Unavailable", Err: ctx.Err()}
		}
	}
}

// ack forwards an ACK for a 2xx (those for non-2xx never get here: sipgo's
// INVITE server transaction absorbs them, and our client transaction makes
// its own downstream). Statelessly, and it is never answered.
func (f *forwarder) ack(ctx context.Context, _ sip.ServerTransaction, req *sip.Request) error {
	if f.looped(req) {
		return nil
	}
	// sipgo's transaction for the ACK holds req: forward a copy.
	fwd := req.Clone()
	popped := popOwnRoutes(f, fwd)
	if len(popped) == 0 || !f.routedByUs(req, popped) {
		return nil
	}
	f.sendAck(ctx, req, fwd, popped)
	return nil
}

// sendAck sends fwd, the ACK req with our Routes (popped) off, to its next
// hop.
func (f *forwarder) sendAck(ctx context.Context, req, fwd *sip.Request, popped []sip.Uri) {
	dest, tr, err := f.nextHop(ctx, fwd, popped)
	if err != nil {
		f.s.log.Debug("ACK not routable", "call_id", callID(req), "err", err)
		return
	}
	f.ackTo(req, fwd, dest, tr)
}

// ackTo sends fwd, the ACK req readied to go on, to dest over tr.
func (f *forwarder) ackTo(req, fwd *sip.Request, dest netip.AddrPort, tr string) {
	if decMaxForwards(fwd) != nil {
		return
	}
	f.aim(fwd, dest, tr)
	fwd.PrependHeader(f.via(tr, newBranch(fwd)))
	if err := f.client.WriteRequest(fwd, prebuilt); err != nil {
		f.s.log.Info("ACK not forwarded", "call_id", callID(req), "dst", dest.String(), "err", err)
	}
}

// popOwnRoutes removes the Route entries naming us from the top of req and
// returns them.
func popOwnRoutes(f *forwarder, req *sip.Request) []sip.Uri {
	var popped []sip.Uri
	for {
		h, ok := req.GetHeader("Route").(*sip.RouteHeader)
		if !ok || !f.isSelf(h.Address.Host, h.Address.Port) {
			return popped
		}
		popped = append(popped, h.Address)
		req.RemoveHeader(h.Name())
	}
}

// nextHop is where an in-dialog request goes after our Routes are popped:
// the next Route, else the Request-URI (its alias if it has one). The
// transport is the URI's; after a double Record-Route, the second of our
// entries names the transport of the far side.
func (f *forwarder) nextHop(ctx context.Context, req *sip.Request, popped []sip.Uri) (netip.AddrPort, string, error) {
	if h, ok := req.GetHeader("Route").(*sip.RouteHeader); ok {
		return resolveURI(ctx, h.Address, transportParam(h.Address, ""))
	}
	u := &req.Recipient
	if a, ok := u.UriParams.Get("alias"); ok {
		dest, tr, err := parseAlias(a)
		if err != nil {
			return netip.AddrPort{}, "", err
		}
		u.UriParams = u.UriParams.Clone()
		u.UriParams.Remove("alias")
		return dest, tr, nil
	}
	def := ""
	if len(popped) > 1 {
		def = transportParam(popped[len(popped)-1], "")
	}
	return resolveURI(ctx, *u, transportParam(*u, def))
}

// transportParam is the URI's transport as sipgo spells it ("UDP", …).
func transportParam(u sip.Uri, def string) string {
	if t, ok := u.UriParams.Get("transport"); ok && t != "" {
		return strings.ToUpper(t)
	}
	if def != "" {
		return def
	}
	if u.Scheme == "sips" {
		return "TLS"
	}
	return "UDP"
}

func resolveURI(ctx context.Context, u sip.Uri, tr string) (netip.AddrPort, string, error) {
	port := u.Port
	if port == 0 {
		port = 5060
		if tr == "TLS" {
			port = 5061
		}
	}
	host := strings.TrimSuffix(strings.TrimPrefix(u.Host, "["), "]")
	a, err := netip.ParseAddr(host)
	if err != nil {
		rctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		addrs, lerr := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		if lerr != nil || len(addrs) == 0 {
			return netip.AddrPort{}, "", fmt.Errorf("proxy: resolve %q: %w", host, lerr)
		}
		a = addrs[0]
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), tr, nil
}

// Kamailio's protocol numbers, so both proxies read each other's aliases.
var aliasProtos = map[string]string{"1": "UDP", "2": "TCP", "3": "TLS", "5": "WS", "6": "WSS"}

func aliasProto(tr string) string {
	for k, v := range aliasProtos {
		if v == tr {
			return k
		}
	}
	return "1"
}

func parseAlias(a string) (netip.AddrPort, string, error) {
	parts := strings.Split(a, "~")
	if len(parts) != 3 {
		return netip.AddrPort{}, "", fmt.Errorf("proxy: alias %q: want ip~port~proto", a)
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(parts[0], "["), "]"))
	if err != nil {
		return netip.AddrPort{}, "", fmt.Errorf("proxy: alias %q: %w", a, err)
	}
	port, err := strconv.ParseUint(parts[1], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, "", fmt.Errorf("proxy: alias %q: bad port", a)
	}
	tr, ok := aliasProtos[parts[2]]
	if !ok {
		return netip.AddrPort{}, "", fmt.Errorf("proxy: alias %q: unknown protocol", a)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), tr, nil
}

// contactHolder is what requests and responses share for the Contact.
type contactHolder interface {
	Contact() *sip.ContactHeader
	ReplaceHeader(sip.Header)
}

// aliasContact marks the Contact of a message that came from src over tr
// when the Contact does not name src (a phone behind NAT, or any stream
// whose source port is not its listening port).
func (f *forwarder) aliasContact(m contactHolder, src, tr string) {
	c := m.Contact()
	if c == nil || (c.Address.Scheme != "sip" && c.Address.Scheme != "sips") || c.Address.UriParams.Has("alias") {
		return
	}
	s, err := netip.ParseAddrPort(src)
	if err != nil {
		return
	}
	s = netip.AddrPortFrom(s.Addr().Unmap(), s.Port())
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(c.Address.Host, "["), "]")); err == nil {
		port := c.Address.Port
		if port == 0 {
			port = 5060
		}
		if a.Unmap() == s.Addr() && port == int(s.Port()) && strings.EqualFold(transportParam(c.Address, "UDP"), tr) {
			return
		}
	}
	nc := c.Clone()
	if nc.Address.UriParams == nil {
		nc.Address.UriParams = sip.HeaderParams{}
	}
	host := s.Addr().String()
	nc.Address.UriParams.Add("alias", host+"~"+strconv.Itoa(int(s.Port()))+"~"+aliasProto(strings.ToUpper(tr)))
	m.ReplaceHeader(nc)
}

// stripInternal removes the X-Sipedge-* headers, which only sipedge may put
// on the wire: a device cannot pass them on in a re-INVITE, BYE or REFER
// any more than in the INVITE that opened the call.
func stripInternal(req *sip.Request) {
	for {
		name := ""
		for _, h := range req.Headers() {
			if routing.IsInternal(h.Name()) {
				name = h.Name()
				break
			}
		}
		if name == "" || !req.RemoveHeader(name) {
			return
		}
	}
}
