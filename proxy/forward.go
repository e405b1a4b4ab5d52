package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/registrar"
)

// dialogTTL bounds how long a call counts as active without its BYE being
// seen (a phone that lost power never sends one).
const dialogTTL = 12 * time.Hour

// maxDialogs bounds the active-call set; Call-IDs are chosen by callers.
const maxDialogs = 200_000

// dialTimeout bounds connection setup (TCP dial) of a forwarded request;
// sipgo's own default is a minute.
const dialTimeout = 5 * time.Second

// forwarder is the proxy core: it owns the handlers of INVITE, ACK, BYE and
// every other method that is forwarded rather than answered here.
type forwarder struct {
	s      *Server
	dir    registrar.Directory
	loc    *location.Table
	client *sipgo.Client
	gw     *gateways
	// dialogs holds the Call-IDs of answered calls (with the time they were
	// answered) until their BYE, for sipedge_proxy_calls_active.
	dmu     sync.Mutex
	dialogs *simplelru.LRU[string, time.Time]
	// udpReady: sipgo's reader has the UDP listener in its pool.
	udpReady atomic.Bool
	routeKey []byte    // see routetoken.go
	macs     sync.Pool // HMAC-SHA256 under routeKey, for reuse (routetoken.go)
	// rt is the device routing of EnableRouting (profiles.go); nil: plan
	// routes by username and bindings only.
	rt atomic.Pointer[router]
}

// EnableForwarding turns the server into a proxy: INVITE and the other
// dialog methods are authenticated, routed to the devices of dir by their
// bindings in loc (or to the upstream gateways of the configuration), and
// forwarded statefully. Call it once, before Serve; it starts the gateway
// health checks, which stop when Serve does. Call it after Listen: it also
// hooks the TCP listener so a closed connection drops its bindings.
func (s *Server) EnableForwarding(dir registrar.Directory, loc *location.Table) error {
	if dir == nil || loc == nil {
		return errors.New("proxy: forwarding needs a directory and a location table")
	}
	if s.reg == nil {
		return errors.New("proxy: forwarding needs the registrar (for authentication)")
	}
	s.mu.Lock()
	listening := s.udp != nil
	s.mu.Unlock()
	if !listening {
		return errors.New("proxy: EnableForwarding must follow Listen")
	}
	client, err := sipgo.NewClient(s.ua)
	if err != nil {
		return fmt.Errorf("proxy: client: %w", err)
	}
	key, err := newRouteKey(s.cfg.RouteSecret)
	if err != nil {
		return err
	}
	f := &forwarder{s: s, dir: dir, loc: loc, client: client, gw: newGateways(s.cfg.Gateways, s.m), routeKey: key}
	f.dialogs, _ = simplelru.NewLRU(maxDialogs, func(string, time.Time) { s.m.callsActive.Dec() })

	s.Handle(sip.INVITE, inviteRoute{f})
	s.Handle(sip.ACK, HandlerFunc(f.ack))
	for _, m := range []sip.RequestMethod{sip.BYE, sip.UPDATE, sip.INFO, sip.REFER, sip.PRACK, sip.MESSAGE, sip.NOTIFY, sip.SUBSCRIBE} {
		s.Handle(m, HandlerFunc(f.request))
	}
	s.Handle(sip.OPTIONS, HandlerFunc(func(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
		if answeredLocally(req) && len(req.GetHeaders("Route")) == 0 {
			return s.options(ctx, tx, req)
		}
		return f.request(ctx, tx, req)
	}))
	s.enableChallenge(f)
	s.enableDialogPath(f)
	f.watchFlows()
	stray := f.strayResponse
	s.flow.stray.Store(&stray)
	go f.healthLoop(s.baseCtx)
	go f.sweepDialogs(s.baseCtx)
	return nil
}

// dialogUp keeps an answered call counted as active (the fork counted it
// while it rang) until dialogDown; false when the Call-ID is already
// counted, and the fork's count must go.
func (f *forwarder) dialogUp(id string) bool {
	f.dmu.Lock()
	defer f.dmu.Unlock()
	if _, ok := f.dialogs.Peek(id); ok {
		return false
	}
	f.dialogs.Add(strings.Clone(id), time.Now())
	return true
}

// dialogKnown says whether id is an answered call still counted active.
func (f *forwarder) dialogKnown(id string) bool {
	f.dmu.Lock()
	defer f.dmu.Unlock()
	_, ok := f.dialogs.Peek(id)
	return ok
}

func (f *forwarder) dialogDown(id string) {
	f.dmu.Lock()
	defer f.dmu.Unlock()
	f.dialogs.Remove(id)
}

// sweepDialogs forgets calls whose BYE never came.
func (f *forwarder) sweepDialogs(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f.dmu.Lock()
			for {
				_, at, ok := f.dialogs.GetOldest()
				if !ok || now.Sub(at) < dialogTTL {
					break
				}
				f.dialogs.RemoveOldest()
			}
			f.dmu.Unlock()
		}
	}
}

// prebuilt is the client option for requests we build completely: passing
// any option stops sipgo from filling in (and overwriting) headers.
func prebuilt(*sipgo.Client, *sip.Request) error { return nil }

// self is the address we put in Via and Record-Route for transport tr.
func (f *forwarder) self(tr location.Transport) netip.AddrPort {
	return f.s.localFor(nil, tr)
}

// isSelf reports whether host:port (a Via sent-by or a Route URI) names
// this proxy.
func (f *forwarder) isSelf(host string, port int) bool {
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	f.s.mu.Lock()
	l := f.s.local
	f.s.mu.Unlock()
	if port == 0 {
		port = 5060
	}
	if port != int(l.port) && port != int(l.portOr(l.port)) && !f.s.streamPort(port) {
		return false
	}
	switch {
	case l.advertiseSet && a == l.advertise:
		return true
	case !l.wildcard:
		return a == l.bound
	}
	return a == l.fallback || a.IsLoopback()
}

// via is our Via for a request leaving over transport tr.
func (f *forwarder) via(tr, branch string) *sip.ViaHeader {
	self := f.self(transportOf(tr))
	return &sip.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: tr,
		Host: self.Addr().String(), Port: int(self.Port()),
		Params: sip.HeaderParams{{K: "branch", V: branch}, {K: "rport", V: ""}},
	}
}

// aim sets where req goes. UDP leaves from the listener socket, so replies
// and NAT pinholes line up with the address phones registered to; streams
// go by remote address only, which picks the phone's own connection (a
// local address would pick whichever connection was accepted last).
func (f *forwarder) aim(req *sip.Request, dest netip.AddrPort, tr string) {
	req.SetTransport(tr)
	req.SetDestination(dest.String())
	req.Laddr = sip.Addr{}
	if tr != "UDP" {
		return
	}
	f.s.mu.Lock()
	pc := f.s.udp
	f.s.mu.Unlock()
	if pc == nil {
		return
	}
	ua, ok := pc.LocalAddr().(*net.UDPAddr)
	if !ok {
		return
	}
	// Until sipgo's reader has the socket in its pool (Serve has just
	// begun), pinning it would make sipgo bind a second socket to the
	// same address and fail; an ephemeral port is the lesser evil.
	if !f.udpReady.Load() {
		c, _ := f.s.ua.TransportLayer().GetConnection("udp", ua.String())
		if c == nil {
			return
		}
		_, _ = c.TryClose() // GetConnection took a reference
		f.udpReady.Store(true)
	}
	req.Laddr = sip.Addr{IP: ua.IP, Port: ua.Port}
}

// flowOpen reports whether the stream connection a binding registered over
// is still open.
func (f *forwarder) flowOpen(t target) bool {
	c, err := f.s.ua.TransportLayer().GetConnection(t.transport, t.dest.String())
	if err != nil || c == nil {
		return false
	}
	_, _ = c.TryClose() // GetConnection took a reference
	return true
}

// caller is who sent an initial request: a device, or a gateway pool.
type caller struct {
	dev  *devices.Device
	pool *pool
}

// identify authenticates the sender of an initial request. A nil caller
// with a nil error means a response (the challenge) was sent.
func (f *forwarder) identify(tx sip.ServerTransaction, req *sip.Request) (*caller, error) {
	src, err := f.s.source(tx, req)
	if err != nil {
		return nil, &StatusError{Code: 400, Reason: "Bad Request", Err: err}
	}
	if p := f.gw.bySource(src.Addr.Addr()); p != nil {
		return &caller{pool: p}, nil
	}
	// Somebody who is neither a gateway, nor an IP-auth device, nor
	// claiming an account realm we serve has no business here.
	from := req.From()
	if from == nil {
		return nil, Status(400, "Missing From header")
	}
	if f.dir.AccountByRealm(strings.ToLower(from.Address.Host)) == nil && f.dir.ByIP(src.Addr.Addr()) == nil {
		return nil, Status(403, "Forbidden")
	}
	dev, res := f.s.reg.Authenticate(req, src, true)
	if res != nil {
		if err := tx.Respond(res); err != nil {
			return nil, fmt.Errorf("proxy: challenge: %w", err)
		}
		return nil, nil
	}
	if dev == nil {
		// Authenticate's silent drop: a banned pair under the "drop"
		// action, or a request no answer could safely echo (a 400 here
		// answered both, echoing what was injected).
		return nil, nil
	}
	return &caller{dev: dev}, nil
}

// hasToTag tells in-dialog requests from initial ones.
func hasToTag(req *sip.Request) bool {
	t := req.To()
	if t == nil {
		return false
	}
	tag, ok := t.Params.Get("tag")
	return ok && tag != ""
}

// decMaxForwards writes a new Max-Forwards one lower (Clone shares the
// header with the original, so it must not be changed in place); sanity
// already answered 483 at zero, this guards the underflow regardless.
func decMaxForwards(req *sip.Request) error {
	mf := req.MaxForwards()
	v := sip.MaxForwardsHeader(70)
	if mf != nil {
		if mf.Val() == 0 {
			return Status(483, "Too Many Hops")
		}
		v = sip.MaxForwardsHeader(mf.Val() - 1)
		req.ReplaceHeader(&v)
		return nil
	}
	req.AppendHeader(&v)
	return nil
}

// recordRoute puts us on the route set of a dialog-creating request. When
// the request changes transport on its way through, two entries go on
// (RFC 5658): the one the callee sees first names the outbound side, the
// one the caller sees first names the inbound side.
func (f *forwarder) recordRoute(req *sip.Request, in, out string) {
	token := f.routeToken(callID(req))
	rr := func(tr string) *sip.RecordRouteHeader {
		self := f.self(transportOf(tr))
		u := sip.Uri{Scheme: "sip", Host: self.Addr().String(), Port: int(self.Port()),
			UriParams: sip.HeaderParams{}}
		if tr != "UDP" {
			u.UriParams.Add("transport", strings.ToLower(tr))
		}
		u.UriParams.Add("lr", "")
		u.UriParams.Add(routeTokenParam, token)
		if in != out {
			u.UriParams.Add("r2", "on")
		}
		return &sip.RecordRouteHeader{Address: u}
	}
	if in == out {
		req.PrependHeader(rr(out))
		return
	}
	req.PrependHeader(rr(out), rr(in))
}

// progressTimeout is media.progress_timeout of the callee's document.
func progressTimeout(d *devices.Device) time.Duration {
	if d == nil {
		return 0
	}
	return d.ProgressTimeout
}
