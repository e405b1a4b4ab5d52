package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/routing"
)

// target is one place a request may be forwarded to.
type target struct {
	uri       sip.Uri        // the Request-URI it gets
	dest      netip.AddrPort // the next hop (the binding's flow, or a gateway)
	transport string         // "UDP", "TCP", …
	gw        *gwTarget      // set for upstream gateways
	// Set by device routing (route.go's part of this file):
	br   *routing.Branch // rewrites for this leg; nil for the plain plan
	ring time.Duration   // this leg's ring timeout; 0: the plan's
	dial bool            // a stream transport may open a new connection (route, sip.ip)
	alts []target        // the same leg's failover targets (gateway legs in a parallel plan)
}

// plan is where an initial request goes: the output of the one routing
// seam below.
type plan struct {
	targets []target
	// serial: try the targets one after the other, failing over on 408,
	// 5xx and transport errors (gateways); otherwise ring all at once.
	serial bool
	ring   time.Duration // per branch
	callee string        // for logs: the AOR or the pool
	// rp is the routing decision the targets' branches point into; it goes
	// back to the pool when the fork is over (release).
	rp *routing.Plan
	rt *router
}

// release returns the plan's routing buffers; call it once the fork is over.
func (p *plan) release() {
	if p.rt != nil && p.rp != nil {
		p.rt.putPlan(p.rp)
		p.rp = nil
	}
}

// plan decides where an initial request from caller goes. It is the single
// seam where routing decides (routePlan, once EnableRouting was called:
// invite formats, call forward, restrictions, custom headers); everything
// after it only executes a plan. Without routing:
//
//   - from a device: the Request-URI user as a device of the caller's realm
//     → one parallel branch per live binding (480 with none); anything else
//     → the default gateway pool, tried in priority/weight order (404
//     without pools);
//   - from a gateway: the Request-URI user as a device of the pool's realm
//     (or of the Request-URI host) → its bindings; anything else → 404.
func (f *forwarder) plan(req *sip.Request, c *caller) (plan, error) {
	if rt := f.rt.Load(); rt != nil {
		return f.routePlan(rt, req, c)
	}
	user := req.Recipient.User
	var realm string
	if c.pool != nil {
		realm = c.pool.cfg.Realm
		if realm == "" {
			realm = req.Recipient.Host
		}
	} else {
		realm = c.dev.Realm
	}
	realm = strings.ToLower(realm)
	if user != "" {
		if callee := f.dir.ByUser(realm, user); callee != nil {
			return f.planDevice(callee, realm, user)
		}
	}
	if c.pool != nil || f.gw == nil || f.gw.def == nil {
		return plan{}, Status(404, "Not Found")
	}
	return f.planPool(req, f.gw.def)
}

func (f *forwarder) planDevice(callee *devices.Device, realm, user string) (plan, error) {
	if !callee.Enabled {
		return plan{}, Status(403, "Forbidden")
	}
	aor := strings.ToLower(user) + "@" + realm
	p := plan{ring: progressTimeout(callee), callee: aor}
	if p.ring == 0 {
		p.ring = f.s.cfg.RingTimeout
	}
	for _, b := range f.loc.Lookup(aor, nil) {
		t, err := bindingTarget(b)
		if err != nil {
			f.s.log.Warn("binding not routable", "aor", aor, "contact", b.Contact, "err", err)
			continue
		}
		p.targets = append(p.targets, t)
	}
	if len(p.targets) == 0 {
		return plan{}, Status(480, "Temporarily Unavailable")
	}
	return p, nil
}

// bindingTarget sends to the contact URI, over the binding's flow: the
// source address it registered from, on its transport (for streams, its
// own connection).
func bindingTarget(b location.Binding) (target, error) {
	var u sip.Uri
	raw := b.OriginalContact
	if raw == "" {
		raw = "<" + b.Contact + ">"
	}
	var hp sip.HeaderParams
	if _, err := sip.ParseAddressValue(raw, &u, &hp); err != nil {
		return target{}, fmt.Errorf("proxy: contact %q: %w", raw, err)
	}
	if !b.Source.IsValid() {
		return target{}, fmt.Errorf("proxy: binding without a source")
	}
	return target{uri: u, dest: b.Source, transport: strings.ToUpper(b.Transport.String())}, nil
}

func (f *forwarder) planPool(req *sip.Request, p *pool) (plan, error) {
	pl := plan{serial: true, ring: f.s.cfg.RingTimeout, callee: "pool " + p.cfg.Name}
	for _, t := range p.order() {
		u := sip.Uri{Scheme: "sip", User: req.Recipient.User, Host: t.addr.Addr().String(), Port: int(t.addr.Port())}
		pl.targets = append(pl.targets, target{uri: u, dest: t.addr, transport: t.transport, gw: t})
	}
	if len(pl.targets) == 0 {
		return plan{}, Status(503, "Service Unavailable")
	}
	return pl, nil
}

// routePlan is plan with device routing: the routing package decides on
// the call from the compiled profiles, and its branches become targets.
func (f *forwarder) routePlan(rt *router, req *sip.Request, c *caller) (plan, error) {
	in := routing.Input{DialedUser: req.Recipient.User, Config: rt.cfg}
	if from := req.From(); from != nil {
		in.FromDisplay, in.FromUser = from.DisplayName, from.Address.User
	}
	var realm, acct string
	if c.pool != nil {
		realm = c.pool.cfg.Realm
		if realm == "" {
			realm = req.Recipient.Host
		}
	} else {
		in.Caller = rt.profiles.device(c.dev)
		if in.Caller == nil {
			return plan{}, Status(500, "Server Internal Error")
		}
		realm, acct = in.Caller.Realm, in.Caller.AccountID
		in.DialedUser = routing.Dialed(in.Caller, in.DialedUser)
	}
	callee, _ := routing.Resolve(strings.ToLower(realm), in.DialedUser, rt.profiles)
	in.Callee = callee
	aor := ""
	if callee != nil {
		if acct == "" {
			acct = callee.AccountID
		}
		if callee.Username != "" && callee.Realm != "" {
			aor = strings.ToLower(callee.Username) + "@" + callee.Realm
			in.Bindings = f.loc.Lookup(aor, nil)
		}
	}
	in.Account = rt.profiles.account(acct)

	rp := rt.getPlan()
	routing.DecideInto(rp, &in)
	if rp.Refused() {
		r := rp.Refusal
		rt.putPlan(rp)
		f.s.log.Debug("call refused", "call_id", callID(req), "dialed", in.DialedUser, "code", r.Code, "reason", r.Reason)
		return plan{}, refusal(r)
	}
	p := plan{ring: f.s.cfg.RingTimeout, callee: aor, rp: rp, rt: rt}
	if aor == "" {
		p.callee = in.DialedUser
	}
	gwLegs := 0
	for i := range rp.Branches {
		if rp.Branches[i].Kind == routing.KindGateway {
			gwLegs++
		}
	}
	for i := range rp.Branches {
		b := &rp.Branches[i]
		if b.Kind == routing.KindGateway {
			ts := f.gatewayTargets(b)
			if len(ts) == 0 {
				continue
			}
			if len(rp.Branches) == 1 {
				// A call to the gateways alone: the plain serial failover.
				p.serial = true
				p.targets = ts
				p.callee = "pool " + ts[0].gw.pool.cfg.Name
				break
			}
			lead := ts[0]
			lead.alts = ts[1:]
			p.targets = append(p.targets, lead)
			continue
		}
		t, err := f.deviceTarget(b)
		if err != nil {
			f.s.log.Warn("device leg not routable", "call_id", callID(req), "aor", aor, "err", err)
			continue
		}
		p.targets = append(p.targets, t)
	}
	if len(p.targets) == 0 {
		p.release()
		switch {
		case gwLegs == 0:
			return plan{}, refusal(routing.Refusal{Code: 480, Phrase: "Temporarily Unavailable",
				Reason: `Q.850;cause=20;text="Subscriber Absent"`})
		case f.gw == nil || f.gw.def == nil:
			// No gateways configured: there is nowhere off-net to go.
			return plan{}, refusal(routing.Refusal{Code: 404, Phrase: "Not Found",
				Reason: `Q.850;cause=1;text="Unallocated Number"`})
		}
		return plan{}, Status(503, "Service Unavailable")
	}
	return p, nil
}

// refusal is a routing refusal as the error the chain answers with.
func refusal(r routing.Refusal) error {
	if r.Reason == "" || !wireOK(r.Reason) {
		return Status(r.Code, r.Phrase)
	}
	return Status(r.Code, r.Phrase, sip.NewHeader("Reason", r.Reason))
}

// gatewayTargets are the default pool's live targets for a gateway leg, in
// the order they are tried; the Request-URI is sip:<Number>@<gateway>.
func (f *forwarder) gatewayTargets(b *routing.Branch) []target {
	if f.gw == nil || f.gw.def == nil {
		return nil
	}
	order := f.gw.def.order()
	ts := make([]target, 0, len(order))
	for _, g := range order {
		u := sip.Uri{Scheme: "sip", User: b.Number, Host: g.addr.Addr().String(), Port: int(g.addr.Port())}
		ts = append(ts, target{uri: u, dest: g.addr, transport: g.transport, gw: g, br: b, ring: b.RingTimeout})
	}
	return ts
}

// deviceTarget is where a device leg goes: the binding's flow, the sip.ip
// address, or the route URI (or sip.proxy instead when set).
func (f *forwarder) deviceTarget(b *routing.Branch) (target, error) {
	var t target
	if b.Binding != nil {
		var err error
		if t, err = bindingTarget(*b.Binding); err != nil {
			return target{}, err
		}
	}
	if b.RequestURI != "" {
		var u sip.Uri
		if !wireOK(b.RequestURI) {
			return target{}, fmt.Errorf("proxy: Request-URI %q is not wire safe", b.RequestURI)
		}
		if err := sip.ParseUri(b.RequestURI, &u); err != nil {
			return target{}, fmt.Errorf("proxy: Request-URI %q: %w", b.RequestURI, err)
		}
		t.uri = u
	}
	t.br, t.ring = b, b.RingTimeout
	if p := b.ProgressTimeout; p > 0 && (t.ring == 0 || p < t.ring) {
		// No provisional in time counts as no answer: the branch ends at
		// the progress timeout (CANCEL if it rang, else given up).
		t.ring = p
	}
	if b.Binding != nil {
		return t, nil
	}
	// Route and sip.ip legs need no registration: aim at the next hop.
	t.dial = true
	hop := t.uri
	if b.Proxy != "" {
		if err := sip.ParseUri(b.Proxy, &hop); err != nil {
			return target{}, fmt.Errorf("proxy: sip.proxy %q: %w", b.Proxy, err)
		}
	}
	t.transport = "UDP"
	if tr, ok := hop.UriParams.Get("transport"); ok && tr != "" {
		t.transport = strings.ToUpper(tr)
	}
	if b.Target.IsValid() && b.Proxy == "" {
		t.dest = b.Target
		return t, nil
	}
	port := hop.Port
	if port == 0 {
		port = 5060
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(hop.Host, "["), "]"))
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		addrs, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", hop.Host)
		cancel()
		if lerr != nil || len(addrs) == 0 {
			return target{}, fmt.Errorf("proxy: next hop %q: %w", hop.Host, errors.Join(lerr, errors.New("no address")))
		}
		addr = addrs[0]
	}
	t.dest = netip.AddrPortFrom(addr.Unmap(), uint16(port))
	return t, nil
}

// wireOK is the last check before a value goes on the wire: no CR, LF, NUL
// or other control character (routing already dropped such values).
func wireOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// applyBranch rewrites a forwarded INVITE as the leg's branch says: the
// incoming headers it strips (X-Sipedge-* always), From and To, the headers
// it adds, and the offer filtered to its codecs.
func applyBranch(req *sip.Request, b *routing.Branch) {
	for {
		name := ""
		for _, h := range req.Headers() {
			if b.Strips(h.Name()) {
				name = h.Name()
				break
			}
		}
		if name == "" || !req.RemoveHeader(name) {
			break
		}
	}
	if from := req.From(); from != nil {
		nf := &sip.FromHeader{DisplayName: from.DisplayName, Address: *from.Address.Clone(), Params: from.Params.Clone()}
		setParty(&nf.DisplayName, &nf.Address, b.From)
		req.ReplaceHeader(nf)
	}
	if to := req.To(); to != nil {
		nt := &sip.ToHeader{DisplayName: to.DisplayName, Address: *to.Address.Clone(), Params: to.Params.Clone()}
		p := b.To
		if p.Host == "" && b.Kind == routing.KindGateway {
			nt.Address.Host, nt.Address.Port = req.Recipient.Host, req.Recipient.Port
		}
		setParty(&nt.DisplayName, &nt.Address, p)
		req.ReplaceHeader(nt)
	}
	for _, h := range b.Headers {
		if h.Name == "" || !wireOK(h.Name) || !wireOK(h.Value) || strings.ContainsAny(h.Name, ": ") {
			continue
		}
		req.AppendHeader(sip.NewHeader(h.Name, h.Value))
	}
	if len(b.Codecs) > 0 && len(req.Body()) > 0 {
		if ct := req.ContentType(); ct != nil && strings.EqualFold(strings.TrimSpace(ct.Value()), "application/sdp") {
			req.SetBody(routing.FilterSDP(req.Body(), b.Codecs))
		}
	}
}

// setParty puts a routing Party into a From or To: user and display always
// (an empty display removes the incoming one), the host when it names one.
func setParty(display *string, u *sip.Uri, p routing.Party) {
	if p.User != "" && wireOK(p.User) {
		u.User = p.User
	}
	if wireOK(p.Display) && !strings.ContainsAny(p.Display, `"\`) {
		*display = p.Display
	}
	if p.Host != "" && wireOK(p.Host) {
		u.Host, u.Port = p.Host, 0
	}
	u.Password = ""
}

// restoreParties gives a response relayed to the caller the From and To
// of its own request (with the callee's To tag): the rewrites of a branch
// are for the callee's eyes, dialogs match on tags. A party the branch left
// as it was comes back as it went, and is kept rather than copied again.
func restoreParties(res *sip.Response, req *sip.Request) {
	if from, rfrom := req.From(), res.From(); from != nil &&
		(rfrom == nil || !sameParty(rfrom.DisplayName, &rfrom.Address, rfrom.Params, from.DisplayName, &from.Address, from.Params, 0)) {
		res.ReplaceHeader(&sip.FromHeader{DisplayName: from.DisplayName, Address: *from.Address.Clone(), Params: from.Params.Clone()})
	}
	to, rto := req.To(), res.To()
	if to == nil || rto == nil {
		return
	}
	tag, ok := rto.Params.Get("tag")
	extra := 0
	if ok && !to.Params.Has("tag") {
		extra = 1 // the callee's tag, after the caller's own parameters
	}
	if sameParty(rto.DisplayName, &rto.Address, rto.Params, to.DisplayName, &to.Address, to.Params, extra) {
		return
	}
	nt := &sip.ToHeader{DisplayName: to.DisplayName, Address: *to.Address.Clone(), Params: to.Params.Clone()}
	if ok {
		nt.Params.Add("tag", tag)
	}
	res.ReplaceHeader(nt)
}

// sameParty reports whether a party as the response has it is the one of
// the request, with extra more parameters after the request's (the To tag).
func sameParty(rd string, ru *sip.Uri, rp sip.HeaderParams, d string, u *sip.Uri, p sip.HeaderParams, extra int) bool {
	return rd == d && len(rp) == len(p)+extra && sameParams(rp[:len(p)], p) &&
		ru.Scheme == u.Scheme && ru.Raw() == u.Raw() && ru.Wildcard == u.Wildcard &&
		ru.HierarhicalSlashes == u.HierarhicalSlashes && ru.User == u.User && ru.Password == u.Password &&
		ru.Host == u.Host && ru.Port == u.Port && sameParams(ru.UriParams, u.UriParams) && sameParams(ru.Headers, u.Headers)
}

func sameParams(a, b sip.HeaderParams) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
