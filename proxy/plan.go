package proxy

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
)

// target is one place a request may be forwarded to.
type target struct {
	uri       sip.Uri        // the Request-URI it gets
	dest      netip.AddrPort // the next hop (the binding's flow, or a gateway)
	transport string         // "UDP", "TCP", …
	gw        *gwTarget      // set for upstream gateways
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
}

// plan decides where an initial request from caller goes. It is the single
// seam the routing package (routing.Decide: invite formats, call forward,
// restrictions, custom headers) replaces later; everything after it only
// executes a plan. Today:
//
//   - from a device: the Request-URI user as a device of the caller's realm
//     → one parallel branch per live binding (480 with none); anything else
//     → the default gateway pool, tried in priority/weight order (404
//     without pools);
//   - from a gateway: the Request-URI user as a device of the pool's realm
//     (or of the Request-URI host) → its bindings; anything else → 404.
func (f *forwarder) plan(req *sip.Request, c *caller) (plan, error) {
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
