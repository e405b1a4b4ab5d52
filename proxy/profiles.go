package proxy

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/routing"
)

// profileSource is what the profile cache reads: the device store.
type profileSource interface {
	Accounts() []*devices.Account
	Devices(accountID string) []*devices.Device
	Account(id string) (*devices.Account, error)
	Subscribe(fn func(devices.Change))
}

var _ profileSource = (*devices.Store)(nil)

// profileCache holds every device compiled for routing and the number index
// over them. A device change only bumps the cache's generation (the store
// calls subscribers under its write lock); the next call rebuilds the index,
// compiling only the device snapshots it has not seen, so each document is
// compiled once per change and calls in between pay nothing.
type profileCache struct {
	src profileSource
	log *slog.Logger
	// gen counts device changes; a snapshot records the gen it was built
	// from, and a call that sees a newer gen waits for the rebuild rather
	// than routing on the old index (a device created just before its
	// first call would otherwise get a 404 while another call rebuilds).
	gen  atomic.Uint64
	mu   sync.Mutex // serialises rebuilds
	snap atomic.Pointer[profileSnap]

	// Account documents change without a device change (call_restriction,
	// dial_plan, caller_id), so their profiles are keyed by the snapshot
	// pointer and recompiled when the store hands out a new one.
	amu   sync.Mutex
	accts map[string]acctProfile
}

type profileSnap struct {
	gen      uint64
	index    *routing.NumberIndex
	compiled map[*devices.Device]*routing.Profile
}

type acctProfile struct {
	doc *devices.Account
	p   *routing.AccountProfile
}

func newProfileCache(src profileSource, log *slog.Logger) *profileCache {
	c := &profileCache{src: src, log: log, accts: map[string]acctProfile{}}
	c.snap.Store(&profileSnap{index: routing.NewNumberIndex()})
	c.gen.Store(1)
	src.Subscribe(func(devices.Change) { c.gen.Add(1) })
	return c
}

// current returns the index, rebuilding it first when a device changed.
func (c *profileCache) current() *profileSnap {
	snap := c.snap.Load()
	if snap.gen >= c.gen.Load() {
		return snap
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Read the generation before the store: a change during the rebuild
	// leaves the snapshot older than gen, and the next call rebuilds again.
	if g := c.gen.Load(); c.snap.Load().gen < g {
		c.rebuild(g)
	}
	return c.snap.Load()
}

func (c *profileCache) rebuild(gen uint64) {
	old := c.snap.Load()
	compiled := make(map[*devices.Device]*routing.Profile, len(old.compiled))
	list := make([]*routing.Profile, 0, len(old.compiled))
	accounts := c.src.Accounts()
	for _, a := range accounts {
		for _, d := range c.src.Devices(a.ID) {
			p := old.compiled[d]
			if p == nil {
				var err error
				if p, err = routing.Compile(d); err != nil {
					continue
				}
				for _, w := range p.Warnings {
					c.log.Warn("device field not used for routing", "device", d.ID, "field", w.Field, "err", w.Message)
				}
			}
			compiled[d] = p
			list = append(list, p)
		}
	}
	x := routing.NewNumberIndex(list...)
	for _, w := range x.Conflicts() {
		c.log.Warn("device not reachable by this field", "field", w.Field, "err", w.Message)
	}
	c.snap.Store(&profileSnap{gen: gen, index: x, compiled: compiled})

	// Forget deleted accounts.
	live := make(map[string]bool, len(accounts))
	for _, a := range accounts {
		live[a.ID] = true
	}
	c.amu.Lock()
	for id := range c.accts {
		if !live[id] {
			delete(c.accts, id)
		}
	}
	c.amu.Unlock()
}

// device is the compiled profile of d: from the index when d is the
// snapshot it holds, else compiled now (a write the index has not caught
// up with).
func (c *profileCache) device(snap *profileSnap, d *devices.Device) *routing.Profile {
	if p := snap.compiled[d]; p != nil {
		return p
	}
	p, err := routing.Compile(d)
	if err != nil {
		return nil
	}
	return p
}

// account is the compiled profile of an account, nil when there is none.
func (c *profileCache) account(id string) *routing.AccountProfile {
	if id == "" {
		return nil
	}
	a, err := c.src.Account(id)
	if err != nil || a == nil {
		return nil
	}
	c.amu.Lock()
	defer c.amu.Unlock()
	if e, ok := c.accts[id]; ok && e.doc == a {
		return e.p
	}
	p, err := routing.CompileAccount(a)
	if err != nil {
		return nil
	}
	for _, w := range p.Warnings {
		c.log.Warn("account field not used for routing", "account", id, "field", w.Field, "err", w.Message)
	}
	c.accts[id] = acctProfile{doc: a, p: p}
	return p
}

// router is the device routing of a forwarder: compiled profiles and a
// pool of plans, so that deciding a call reuses buffers.
type router struct {
	profiles *profileCache
	plans    sync.Pool
	cfg      routing.Config
}

func (r *router) getPlan() *routing.Plan {
	if p, ok := r.plans.Get().(*routing.Plan); ok {
		return p
	}
	return new(routing.Plan)
}

func (r *router) putPlan(p *routing.Plan) {
	if p != nil {
		r.plans.Put(p)
	}
}

// RoutingOptions tunes EnableRouting.
type RoutingOptions struct {
	// FilterCodecs offers a device only its media.audio.codecs (the SDP of
	// an INVITE to it is filtered).
	FilterCodecs bool
}

// EnableRouting makes INVITEs follow the device documents of store
// (routing package: invite_format, call_forward, do_not_disturb,
// call_restriction, dial plans, caller ID, custom headers, ringtones). It
// must follow EnableForwarding, whose directory should be the same store;
// without it calls reach devices by username and bindings only.
func (s *Server) EnableRouting(store *devices.Store, opts ...RoutingOptions) error {
	if store == nil {
		return errors.New("proxy: routing needs the device store")
	}
	return s.enableRouting(store, opts...)
}

func (s *Server) enableRouting(src profileSource, opts ...RoutingOptions) error {
	h, ok := s.routes.Load().h[sip.INVITE].(inviteRoute)
	if !ok {
		return errors.New("proxy: EnableRouting must follow EnableForwarding")
	}
	var o RoutingOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	r := &router{
		profiles: newProfileCache(src, s.log),
		cfg:      routing.Config{RingTimeout: s.cfg.RingTimeout, FilterCodecs: o.FilterCodecs},
	}
	h.f.rt.Store(r)
	return nil
}

// inviteRoute is the INVITE route of a forwarder; EnableRouting finds the
// forwarder through it.
type inviteRoute struct{ f *forwarder }

func (h inviteRoute) ServeSIP(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	return h.f.invite(ctx, tx, req)
}
