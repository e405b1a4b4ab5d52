package proxy

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// routeTable is immutable once stored; Handle swaps in a copy, so requests
// read it without a lock.
type routeTable struct {
	h     map[sip.RequestMethod]Handler
	allow string // the Allow header value: the methods with a route
}

func newRouteTable(h map[sip.RequestMethod]Handler) *routeTable {
	var allow []string
	for _, m := range methodNames[:methodOther] { // canonical order
		if _, ok := h[sip.RequestMethod(m)]; ok {
			allow = append(allow, m)
		}
	}
	return &routeTable{h: h, allow: strings.Join(allow, ", ")}
}

func (s *Server) defaultRoutes() *routeTable {
	h := map[sip.RequestMethod]Handler{
		sip.OPTIONS: HandlerFunc(s.options),
		sip.ACK:     HandlerFunc(ack),
		sip.CANCEL:  HandlerFunc(cancel),
	}
	if s.reg != nil {
		h[sip.REGISTER] = HandlerFunc(s.register)
	}
	return newRouteTable(h)
}

// Handle routes a method to h (after the whole chain), replacing the route it
// had; the forwarding code adds INVITE and friends this way. A method of the
// known set without a route is answered 501, an unknown method 405.
func (s *Server) Handle(method sip.RequestMethod, h Handler) {
	for {
		old := s.routes.Load()
		m := maps.Clone(old.h)
		m[method] = h
		if s.routes.CompareAndSwap(old, newRouteTable(m)) {
			return
		}
	}
}

// route is the end of the chain.
func (s *Server) route(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	rt := s.routes.Load()
	if h, ok := rt.h[req.Method]; ok {
		return h.ServeSIP(ctx, tx, req)
	}
	if methodIndex(req.Method) != methodOther {
		return Status(501, "Not Implemented")
	}
	return Status(405, "Method Not Allowed", sip.NewHeader("Allow", rt.allow))
}

// answeredLocally says whether we are the UAS for this request rather than a
// hop on its way: REGISTER, and OPTIONS for us (no user part in the
// Request-URI, as Kamailio's "$rU == $null" keepalive rule, or no hops left,
// RFC 3261 §11).
func answeredLocally(req *sip.Request) bool {
	switch req.Method {
	case sip.REGISTER:
		return true
	case sip.OPTIONS:
		if req.Recipient.User == "" {
			return true
		}
		mf := req.MaxForwards()
		return mf != nil && mf.Val() == 0
	}
	return false
}

// options answers keepalive pings from phones and gateways (RFC 3261 §11.2).
func (s *Server) options(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	if !answeredLocally(req) {
		// Not for us: forwarding comes with the proxy.
		return Status(501, "Not Implemented")
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", s.routes.Load().allow))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	// Empty is allowed (RFC 3261 §20.37) and true: no option tags yet.
	res.AppendHeader(sip.NewHeader("Supported", ""))
	if err := tx.Respond(res); err != nil {
		return fmt.Errorf("proxy: options: %w", err)
	}
	return nil
}

// ack: an ACK is never answered; ACKs for 2xx get forwarded once there is
// something to forward them to.
func ack(context.Context, sip.ServerTransaction, *sip.Request) error { return nil }

// cancel: sipgo's transaction layer answers a CANCEL that matches a pending
// INVITE itself (200, then 487 to the INVITE), so any CANCEL that reaches the
// chain matches nothing (RFC 3261 §9.2).
func cancel(context.Context, sip.ServerTransaction, *sip.Request) error {
	return Status(481, "Call/Transaction Does Not Exist")
}

// register hands REGISTER to the registrar; a nil answer means drop.
func (s *Server) register(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	src, err := s.source(tx, req)
	if err != nil {
		return &StatusError{Code: 400, Reason: "Bad Request", Err: err}
	}
	res := s.reg.HandleRegister(req, src)
	if res == nil {
		return nil
	}
	if err := tx.Respond(res); err != nil {
		return fmt.Errorf("proxy: register: %w", err)
	}
	return nil
}
