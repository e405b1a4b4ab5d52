package proxy

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/routing"
)

// profileSource is what the profile cache reads: the device store.
type profileSource interface {
	EachDevice(fn func(*devices.Device))
	Account(id string) (*devices.Account, error)
	ByUser(realm, username string) *devices.Device
	Subscribe(fn func(devices.Change))
}

var _ profileSource = (*devices.Store)(nil)

// Bounds of the compiled profiles kept. A profile is compiled from the
// device's document (read from the store's file) when a call needs it; a
// miss costs one read and one compile, tens of microseconds.
const (
	maxProfiles        = 1 << 16
	maxAccountProfiles = 1 << 14
)

// profileCache is the routing.Directory of the calls: it finds the device
// a dialled user reaches and compiles devices for routing as calls need
// them. Usernames are the store's own index; sip.number and presence_id
// are indexed here from the devices' hot fields (routing.KeysOf), kept up
// to date from the store's change feed. Nothing is compiled and no
// document is read until a call asks: with a million devices a restart
// compiles none, and the first call after it waits for two.
type profileCache struct {
	src profileSource
	log *slog.Logger

	mu sync.RWMutex
	// keys: "n" realm \x00 e164 (and "n" \x00 e164 for a "+" number of a
	// realm: numbers are global), "p" lower(presence id) for a set
	// presence_id (the default one is the username's, found first).
	keys map[string]*devices.Device
	// shadow holds, in order, the devices that claim a key another device
	// holds; the first takes it over when the holder lets go.
	shadow map[string][]*devices.Device

	profiles *lru.Cache[string, compiledProfile] // by device id
	accts    *lru.Cache[string, acctProfile]     // by account id
}

type compiledProfile struct {
	dev *devices.Device // the snapshot compiled; another one is compiled anew
	p   *routing.Profile
}

type acctProfile struct {
	doc *devices.Account
	p   *routing.AccountProfile
}

var _ routing.Directory = (*profileCache)(nil)

func newProfileCache(src profileSource, log *slog.Logger) *profileCache {
	c := &profileCache{src: src, log: log, keys: map[string]*devices.Device{}, shadow: map[string][]*devices.Device{}}
	c.profiles, _ = lru.New[string, compiledProfile](maxProfiles)
	c.accts, _ = lru.New[string, acctProfile](maxAccountProfiles)
	// Subscribe first, then index under mu: a change that lands while the
	// index is filled waits for mu and is applied after, and applying a
	// change twice is harmless (keys are released by device id).
	c.mu.Lock()
	defer c.mu.Unlock()
	src.Subscribe(c.apply)
	src.EachDevice(c.claimAll)
	return c
}

// apply follows one device change; the store calls it under its write
// lock, so a call placed after the write returned sees the change.
func (c *profileCache) apply(ch devices.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := ch.Old; d != nil {
		eachKey(d, func(k string) { c.release(k, d.ID) })
		c.profiles.Remove(d.ID)
	}
	if d := ch.New; d != nil {
		c.claimAll(d)
	}
}

// eachKey calls fn with every index key of d.
func eachKey(d *devices.Device, fn func(string)) {
	if d.Number == "" && d.PresenceID == "" {
		// Found by username only, which the store indexes: most devices,
		// and computing their keys was most of building the index.
		return
	}
	k := routing.KeysOf(d)
	if e := k.NumberE164; e != "" {
		fn("n" + k.Realm + "\x00" + e)
		if e[0] == '+' && k.Realm != "" {
			fn("n\x00" + e)
		}
	}
	if k.PresenceSet && k.PresenceID != "" {
		fn("p" + strings.ToLower(k.PresenceID))
	}
}

func (c *profileCache) claimAll(d *devices.Device) { eachKey(d, func(k string) { c.claim(k, d) }) }

// claim gives key to d unless another device holds it. Caller holds mu.
func (c *profileCache) claim(key string, d *devices.Device) {
	holder := c.keys[key]
	if holder == nil || holder.ID == d.ID {
		c.keys[key] = d
		return
	}
	sh := c.shadow[key]
	for i, o := range sh {
		if o.ID == d.ID {
			sh[i] = d
			return
		}
	}
	c.shadow[key] = append(sh, d)
	c.log.Warn("device not reachable by this field", "field", keyField(key), "device", d.ID, "held_by", holder.ID)
}

// release takes key from device id, handing it to the next claimant.
// Caller holds mu.
func (c *profileCache) release(key, id string) {
	sh := c.shadow[key]
	if holder := c.keys[key]; holder != nil && holder.ID == id {
		if len(sh) == 0 {
			delete(c.keys, key)
			return
		}
		c.keys[key] = sh[0]
		sh = sh[1:]
	} else {
		sh = slices.DeleteFunc(sh, func(o *devices.Device) bool { return o.ID == id })
	}
	if len(sh) == 0 {
		delete(c.shadow, key)
	} else {
		c.shadow[key] = sh
	}
}

func keyField(key string) string {
	if strings.HasPrefix(key, "p") {
		return "presence_id"
	}
	return "sip.number"
}

func (c *profileCache) lookup(key []byte) *devices.Device {
	c.mu.RLock()
	d := c.keys[string(key)]
	c.mu.RUnlock()
	return d
}

// ByUsername is the store's index, checked against the compiled profile
// (the store indexes a username routing would refuse, and then no call
// reaches the device by it, as before).
func (c *profileCache) ByUsername(realm, username string) *routing.Profile {
	p := c.device(c.src.ByUser(realm, username))
	if p == nil || p.Realm != realm || !strings.EqualFold(p.Username, username) {
		return nil
	}
	return p
}

func (c *profileCache) ByNumber(realm, e164 string) *routing.Profile {
	var buf [320]byte
	b := append(buf[:0], 'n')
	b = append(b, realm...)
	b = append(b, 0)
	b = append(b, e164...)
	p := c.device(c.lookup(b))
	if p == nil || p.NumberE164 != e164 {
		return nil
	}
	return p
}

func (c *profileCache) ByPresenceID(realm, user string) *routing.Profile {
	var buf [320]byte
	b := append(buf[:0], 'p')
	b = append(b, user...)
	b = append(b, '@')
	b = append(b, realm...)
	for i := 1; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return c.device(c.lookup(b))
}

// device is the compiled profile of d (nil for nil), compiled now when
// the cache has no profile of this snapshot.
func (c *profileCache) device(d *devices.Device) *routing.Profile {
	if d == nil {
		return nil
	}
	if e, ok := c.profiles.Get(d.ID); ok && e.dev == d {
		return e.p
	}
	p, err := routing.Compile(d)
	if err != nil {
		return nil
	}
	for _, w := range p.Warnings {
		c.log.Warn("device field not used for routing", "device", d.ID, "field", w.Field, "err", w.Message)
	}
	c.profiles.Add(d.ID, compiledProfile{dev: d, p: p})
	return p
}

// account is the compiled profile of an account, nil when there is none.
func (c *profileCache) account(id string) *routing.AccountProfile {
	if id == "" {
		return nil
	}
	a, err := c.src.Account(id)
	if err != nil || a == nil {
		c.accts.Remove(id)
		return nil
	}
	if e, ok := c.accts.Get(id); ok && e.doc == a {
		return e.p
	}
	p, err := routing.CompileAccount(a)
	if err != nil {
		return nil
	}
	for _, w := range p.Warnings {
		c.log.Warn("account field not used for routing", "account", id, "field", w.Field, "err", w.Message)
	}
	c.accts.Add(id, acctProfile{doc: a, p: p})
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
