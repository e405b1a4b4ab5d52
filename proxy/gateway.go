package proxy

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// gateways is the runtime view of sip.gateways: health per target and the
// source addresses we trust.
type gateways struct {
	pools []*pool
	def   *pool
	byIP  map[netip.Addr]*pool
}

type pool struct {
	cfg     GatewayPool
	targets []*gwTarget
}

type gwTarget struct {
	pool      *pool
	name      string // Addr as configured: the metric label
	addr      netip.AddrPort
	transport string // "UDP" or "TCP"
	priority  int
	weight    int
	up        atomic.Bool
	gauge     prometheus.Gauge
	misses    int // health checker only
}

func newGateways(cfgs []GatewayPool, m *metrics) *gateways {
	g := &gateways{byIP: map[netip.Addr]*pool{}}
	for _, c := range cfgs {
		p := &pool{cfg: c}
		if p.cfg.DownAfter == 0 {
			p.cfg.DownAfter = defaultDownAfter
		}
		for _, t := range c.Targets {
			ap, _ := netip.ParseAddrPort(t.Addr) // checked by Validate
			ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			tr := "UDP"
			if strings.EqualFold(t.Transport, "tcp") {
				tr = "TCP"
			}
			w := t.Weight
			if w == 0 {
				w = 1
			}
			gt := &gwTarget{pool: p, name: t.Addr, addr: ap, transport: tr, priority: t.Priority, weight: w,
				gauge: m.gatewayUp.WithLabelValues(c.Name, t.Addr)}
			gt.up.Store(true)
			gt.gauge.Set(1)
			p.targets = append(p.targets, gt)
			if _, ok := g.byIP[ap.Addr()]; !ok {
				g.byIP[ap.Addr()] = p
			}
		}
		g.pools = append(g.pools, p)
		if c.Default {
			g.def = p
		}
	}
	if g.def == nil && len(g.pools) > 0 {
		g.def = g.pools[0]
	}
	return g
}

// bySource is the pool whose target sent a request from addr, or nil.
func (g *gateways) bySource(addr netip.Addr) *pool {
	if g == nil {
		return nil
	}
	return g.byIP[addr.Unmap()]
}

// order lists the targets that are up: ascending priority, and within one
// priority a weighted random order (each pick proportional to weight among
// those left), so load spreads as the weights say.
func (p *pool) order() []*gwTarget {
	var up []*gwTarget
	for _, t := range p.targets {
		if t.up.Load() {
			up = append(up, t)
		}
	}
	slices.SortStableFunc(up, func(a, b *gwTarget) int { return a.priority - b.priority })
	out := make([]*gwTarget, 0, len(up))
	for i := 0; i < len(up); {
		j := i
		for j < len(up) && up[j].priority == up[i].priority {
			j++
		}
		group := slices.Clone(up[i:j])
		for len(group) > 0 {
			total := 0
			for _, t := range group {
				total += t.weight
			}
			n := rand.IntN(total)
			k := 0
			for ; k < len(group)-1; k++ {
				if n < group[k].weight {
					break
				}
				n -= group[k].weight
			}
			out = append(out, group[k])
			group = slices.Delete(group, k, k+1)
		}
		i = j
	}
	return out
}

// healthLoop probes every target of pools with a check interval until ctx
// ends. One goroutine per target keeps a slow target from delaying the
// others' checks.
func (f *forwarder) healthLoop(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range f.gw.pools {
		if p.cfg.CheckInterval <= 0 {
			continue
		}
		for _, t := range p.targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.checkTarget(ctx, t)
			}()
		}
	}
	wg.Wait()
}

func (f *forwarder) checkTarget(ctx context.Context, t *gwTarget) {
	every := t.pool.cfg.CheckInterval
	timer := time.NewTimer(0) // first probe at once
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		ok := f.probe(ctx, t, every)
		f.markHealth(t, ok)
		timer.Reset(every)
	}
}

func (f *forwarder) markHealth(t *gwTarget, ok bool) {
	was := t.up.Load()
	switch {
	case ok:
		t.misses = 0
		if !was {
			t.up.Store(true)
			t.gauge.Set(1)
			f.s.log.Info("gateway up", "pool", t.pool.cfg.Name, "target", t.name)
			if cb := t.pool.cfg.OnHealth; cb != nil {
				cb(t.pool.cfg.Name, t.name, true)
			}
		}
	default:
		t.misses++
		if was && t.misses >= t.pool.cfg.DownAfter {
			t.up.Store(false)
			t.gauge.Set(0)
			f.s.log.Warn("gateway down", "pool", t.pool.cfg.Name, "target", t.name, "missed", t.misses)
			if cb := t.pool.cfg.OnHealth; cb != nil {
				cb(t.pool.cfg.Name, t.name, false)
			}
		}
	}
}

// probe sends one OPTIONS; any answer but 408 and 5xx means the target is
// there (404 or 405 to OPTIONS is common and fine).
func (f *forwarder) probe(ctx context.Context, t *gwTarget, limit time.Duration) bool {
	if limit > 5*time.Second || limit <= 0 {
		limit = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	uri := sip.Uri{Scheme: "sip", Host: t.addr.Addr().String(), Port: int(t.addr.Port())}
	req := sip.NewRequest(sip.OPTIONS, uri)
	self := f.self(transportOf(t.transport))
	from := sip.Uri{Scheme: "sip", User: "sipedge", Host: self.Addr().String()}
	req.AppendHeader(&sip.FromHeader{Address: from, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTagN(10)}}})
	req.AppendHeader(&sip.ToHeader{Address: uri})
	cid := sip.CallIDHeader(sip.GenerateTagN(16))
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.NewHeader("Content-Length", "0"))
	f.aim(req, t.addr, t.transport)
	req.PrependHeader(f.via(t.transport, sip.GenerateBranchN(16)))
	tx, err := f.client.TransactionRequest(ctx, req, prebuilt)
	if err != nil {
		return false
	}
	f.s.m.trackTx(txClient, tx)
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res.StatusCode != 408 && res.StatusCode < 500
		case <-tx.Done():
			return false
		case <-ctx.Done():
			return false
		}
	}
}
