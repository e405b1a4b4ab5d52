package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/prometheus/client_golang/prometheus"
)

// FloodConfig is the per-source-IP limit applied to raw reads, before sipgo
// parses anything (yaml "flood:").
type FloodConfig struct {
	// Rate is the sustained reads (datagrams, or TCP reads) per second
	// allowed from one IP; 0 turns the limiter off.
	Rate float64 `yaml:"rate"`
	// Burst is how many reads one IP may send at once above the rate.
	Burst int `yaml:"burst"`
	// Ban is how long an IP that went over is dropped outright; 0 drops only
	// what is over the rate.
	Ban time.Duration `yaml:"ban"`
	// Allow lists CIDRs (or single IPs) never limited: gateways, SBCs, the
	// PBX behind which a whole office sits. Loopback by default.
	Allow []string `yaml:"allow"`
	// MaxTracked bounds the number of IPs remembered; the least recently
	// seen is forgotten first, so a spoofed-source flood costs bounded memory.
	MaxTracked int `yaml:"max_tracked"`
}

// DefaultFlood leaves room for a PBX or a NAT full of phones on one IP.
func DefaultFlood() FloodConfig {
	return FloodConfig{
		Rate:       200,
		Burst:      400,
		Ban:        time.Minute,
		Allow:      []string{"127.0.0.0/8", "::1/128"},
		MaxTracked: 65536,
	}
}

// Validate names the first bad field.
func (c FloodConfig) Validate() error {
	if c.Rate < 0 {
		return fmt.Errorf("sip.flood.rate: %v must not be negative", c.Rate)
	}
	if c.Rate > 0 && c.Burst < 1 {
		return fmt.Errorf("sip.flood.burst: %d must be at least 1", c.Burst)
	}
	if c.Ban < 0 {
		return fmt.Errorf("sip.flood.ban: %s must not be negative", c.Ban)
	}
	if c.Rate > 0 && c.MaxTracked < 1 {
		return fmt.Errorf("sip.flood.max_tracked: %d must be positive", c.MaxTracked)
	}
	if _, err := parseAllow(c.Allow); err != nil {
		return fmt.Errorf("sip.flood.allow: %w", err)
	}
	return nil
}

// parseAllow takes CIDRs or bare IPs.
func parseAllow(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// allowList is the parsed allow-list, shared by the flood limiter and the
// scanner silence (an allow-listed source is known, never a scanner).
type allowList []netip.Prefix

func (l allowList) contains(a netip.Addr) bool {
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// bucket is one source's token bucket; times are UnixNano.
type bucket struct {
	tokens      float64
	last        int64
	bannedUntil int64 // 0: not banned
}

// floodLimiter is a token bucket per source IP in a bounded LRU. One mutex
// is enough: each UDP listener has a single reading goroutine, and the
// critical section is a map lookup and some arithmetic.
type floodLimiter struct {
	rate  float64
	burst float64
	ban   time.Duration
	allow allowList
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	buckets *simplelru.LRU[netip.Addr, *bucket]
	banned  map[netip.Addr]int64 // bannedUntil of the banned, a subset of buckets

	dropped prometheus.Counter
}

func newFloodLimiter(cfg FloodConfig, allow allowList, reg prometheus.Registerer, log *slog.Logger) (*floodLimiter, error) {
	l := &floodLimiter{
		rate:   cfg.Rate,
		burst:  float64(cfg.Burst),
		ban:    cfg.Ban,
		allow:  allow,
		now:    time.Now,
		log:    log,
		banned: make(map[netip.Addr]int64),
	}
	var err error
	l.buckets, err = simplelru.NewLRU(cfg.MaxTracked, func(ip netip.Addr, _ *bucket) {
		delete(l.banned, ip) // called from Add, under mu
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: flood limiter: %w", err)
	}
	l.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sipedge_proxy_flood_dropped_total",
		Help: "Reads (datagrams, TCP reads) dropped by the per-source flood limiter, bans included.",
	})
	bans := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sipedge_proxy_flood_bans_active",
		Help: "Source IPs currently banned by the flood limiter.",
	}, func() float64 { return float64(l.activeBans()) })
	for _, c := range []prometheus.Collector{l.dropped, bans} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("proxy: flood metrics: %w", err)
		}
	}
	return l, nil
}

// filter is the ReadFilter.
func (l *floodLimiter) filter(_ string, remote net.Addr, _ []byte) bool {
	ip, ok := remoteIP(remote)
	if !ok || l.allow.contains(ip) {
		return true
	}
	if l.take(ip) {
		return true
	}
	l.dropped.Inc()
	return false
}

// take spends one token of ip's bucket, or starts a ban when there is none.
func (l *floodLimiter) take(ip netip.Addr) bool {
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets.Get(ip)
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets.Add(ip, b)
	}
	if b.bannedUntil != 0 {
		if now < b.bannedUntil {
			return false
		}
		// The ban is over: a fresh start, as after a restart.
		b.bannedUntil = 0
		delete(l.banned, ip)
		b.tokens, b.last = l.burst, now
	}
	if elapsed := now - b.last; elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+float64(elapsed)*l.rate/float64(time.Second))
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	if l.ban > 0 {
		b.bannedUntil = now + int64(l.ban)
		l.banned[ip] = b.bannedUntil
		// One line per ban, and a ban takes a burst to earn, so a flood
		// cannot turn this into a log flood.
		l.log.Warn("sip flood ban", "src", ip.String(), "ban", l.ban.String())
	}
	return false
}

// activeBans counts the bans still running and forgets the ended ones.
func (l *floodLimiter) activeBans() int {
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	for ip, until := range l.banned {
		if until <= now {
			delete(l.banned, ip)
		}
	}
	return len(l.banned)
}

// tracked is how many sources the limiter remembers.
func (l *floodLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buckets.Len()
}

// remoteIP is the source IP of a read, IPv4-mapped addresses unmapped so
// that an allow-list of IPv4 CIDRs works on a dual-stack socket.
func remoteIP(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap(), true
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap(), true
	case nil:
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// installGuards puts the flood limiter and the scanner silence in front of
// the parser, in that order: a flood is dropped before anything looks at
// its bytes.
func (s *Server) installGuards(prom prometheus.Registerer) error {
	allow, err := parseAllow(s.cfg.Flood.Allow) // checked by Validate
	if err != nil {
		return fmt.Errorf("proxy: sip.flood.allow: %w", err)
	}
	if s.cfg.Flood.Rate > 0 {
		fl, err := newFloodLimiter(s.cfg.Flood, allow, prom, s.log)
		if err != nil {
			return err
		}
		s.AddReadFilter(fl.filter)
	}
	if s.cfg.SilentScanners {
		sc, err := newScannerFilter(allow, prom)
		if err != nil {
			return err
		}
		s.AddReadFilter(sc.filter)
	}
	return nil
}
