package registrar

import (
	"encoding/base64"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// limiter counts failed authentications per (user@realm, source IP) and bans
// pairs that fail too often. Both maps are bounded LRUs keyed by what an
// attacker chooses, and expire against the injected clock. (The expirable
// LRU of golang-lru starts a goroutine per cache that can never be stopped
// and runs on the wall clock, so it suits neither goleak nor tests.)
type limiter struct {
	cfg FailedAuthConfig
	now func() time.Time

	mu       sync.Mutex
	failures *simplelru.LRU[string, failure]
	bans     *simplelru.LRU[string, Ban]
}

type failure struct {
	count int
	since time.Time
}

func newLimiter(cfg FailedAuthConfig, now func() time.Time) *limiter {
	f, _ := simplelru.NewLRU[string, failure](cfg.MaxTracked, nil)
	b, _ := simplelru.NewLRU[string, Ban](cfg.MaxTracked, nil)
	return &limiter{cfg: cfg, now: now, failures: f, bans: b}
}

// pairKey is the internal key; the Ban.Key shown to operators is its
// base64url form, so it is opaque and safe in a URL path.
func pairKey(aor string, ip netip.Addr) string {
	return aor + "|" + ip.String()
}

// banned reports whether the pair is banned right now.
func (l *limiter) banned(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.bans.Peek(key)
	if !ok {
		return false
	}
	if l.now().Unix() >= b.Until {
		l.bans.Remove(key)
		return false
	}
	return true
}

// quiet reports whether no pair has failures or a ban: then banned is
// false and succeed a no-op for every key, and the hot path need not even
// build one.
func (l *limiter) quiet() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures.Len() == 0 && l.bans.Len() == 0
}

// fail records one failure and reports whether it banned the pair.
func (l *limiter) fail(key, user, realm string, ip netip.Addr) (bannedNow bool, failures int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.failures.Get(key)
	if !ok || now.Sub(f.since) >= l.cfg.Window {
		f = failure{since: now}
	}
	f.count++
	if f.count < l.cfg.Limit {
		l.failures.Add(key, f)
		return false, f.count
	}
	l.failures.Remove(key)
	l.bans.Add(key, Ban{
		Key:      base64.RawURLEncoding.EncodeToString([]byte(key)),
		User:     user,
		Realm:    realm,
		IP:       ip.String(),
		Failures: f.count,
		Until:    now.Add(l.cfg.Ban).Unix(),
	})
	return true, f.count
}

// succeed forgets the pair's failures: a phone that got it right is not an attacker.
func (l *limiter) succeed(key string) {
	l.mu.Lock()
	l.failures.Remove(key)
	l.mu.Unlock()
}

// list returns the active bans, soonest to expire first, dropping expired ones.
func (l *limiter) list() []Ban {
	now := l.now().Unix()
	l.mu.Lock()
	out := make([]Ban, 0, l.bans.Len())
	for _, k := range l.bans.Keys() {
		b, _ := l.bans.Peek(k)
		if now >= b.Until {
			l.bans.Remove(k)
			continue
		}
		out = append(out, b)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Until != out[j].Until {
			return out[i].Until < out[j].Until
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// active counts active bans (for the gauge).
func (l *limiter) active() int { return len(l.list()) }

func (l *limiter) unban(key string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil || !strings.Contains(string(raw), "|") {
		return false
	}
	k := string(raw)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.bans.Peek(k)
	if !ok {
		return false
	}
	l.bans.Remove(k)
	l.failures.Remove(k)
	return l.now().Unix() < b.Until
}

// Bans lists active bans.
func (s *Service) Bans() []Ban { return s.limiter.list() }

// Unban lifts a ban by its key; false if there was none.
func (s *Service) Unban(key string) bool {
	ok := s.limiter.unban(key)
	if ok {
		s.log.Info("auth unbanned", "key", key)
	}
	return ok
}
