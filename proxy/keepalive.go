package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipedge/sipedge/location"
)

// KeepaliveConfig tunes the pings that keep NAT bindings open (OPTIONS over
// UDP and WS, a double CRLF on TCP and TLS flows, RFC 5626 §4.4.1) and
// find phones that went away without unregistering (Kamailio's nathelper
// pinging, with a removal after repeated silence).
type KeepaliveConfig struct {
	// Interval between two pings of one binding; 0 turns keepalives off.
	Interval time.Duration `yaml:"interval"`
	// MaxMisses unanswered pings in a row remove the binding.
	MaxMisses int `yaml:"max_misses"`
	// Rate caps pings per second across all bindings, so a large table is
	// pinged over the interval instead of in one burst.
	Rate int `yaml:"rate"`
	// Timeout is how long one ping waits for its answer.
	Timeout time.Duration `yaml:"timeout"`
	// All pings every binding; by default only those behind NAT (contact
	// address different from the packet source).
	All bool `yaml:"all"`
}

// DefaultKeepalive pings NAT'd bindings every 30 s and drops one after three
// unanswered pings.
func DefaultKeepalive() KeepaliveConfig {
	return KeepaliveConfig{Interval: 30 * time.Second, MaxMisses: 3, Rate: 500, Timeout: 5 * time.Second}
}

// Validate names the first bad field.
func (c KeepaliveConfig) Validate() error {
	switch {
	case c.Interval < 0:
		return errors.New("keepalive.interval: must be ≥ 0")
	case c.Interval == 0:
		return nil
	case c.MaxMisses < 1:
		return errors.New("keepalive.max_misses: must be ≥ 1")
	case c.Rate < 1:
		return errors.New("keepalive.rate: must be ≥ 1")
	case c.Timeout <= 0 || c.Timeout > c.Interval:
		return errors.New("keepalive.timeout: must be positive and at most keepalive.interval")
	}
	return nil
}

// keepaliveMetrics counts ping outcomes (a closed set) by kind (OPTIONS,
// or CRLF on stream flows) and removals.
type keepaliveMetrics struct {
	answered, timeout, gone [2]prometheus.Counter // by kindOptions, kindCRLF
	removed                 prometheus.Counter
}

const (
	kindOptions = iota
	kindCRLF
)

func newKeepaliveMetrics(reg prometheus.Registerer) (*keepaliveMetrics, error) {
	pings := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_keepalives_total",
		Help: "Keepalive pings to bindings, by kind (options; crlf on TCP and TLS flows) and outcome (answered, timeout, gone).",
	}, []string{"kind", "outcome"})
	removed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sipedge_proxy_keepalive_removed_total",
		Help: "Bindings removed because their keepalive pings went unanswered or their connection was gone.",
	})
	if reg != nil {
		for _, c := range []prometheus.Collector{pings, removed} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("proxy: keepalive metrics: %w", err)
			}
		}
	}
	m := &keepaliveMetrics{removed: removed}
	for i, kind := range []string{"options", "crlf"} {
		m.answered[i] = pings.WithLabelValues(kind, "answered")
		m.timeout[i] = pings.WithLabelValues(kind, "timeout")
		m.gone[i] = pings.WithLabelValues(kind, "gone")
	}
	return m, nil
}

// pingTarget is one binding to ping, copied out of the table.
type pingTarget struct {
	aor string
	b   location.Binding
}

// RunKeepalives pings bindings over their own flows every cfg.Interval until
// ctx ends. Any final answer to an OPTIONS (even 404 or 405), or a CRLF
// pong on a TCP or TLS flow, proves the phone is there;
// a binding whose pings go unanswered (or find its connection gone)
// cfg.MaxMisses times in a row is removed, so calls stop ringing a phone
// that left.
func (s *Server) RunKeepalives(ctx context.Context, loc *location.Table, cfg KeepaliveConfig, reg prometheus.Registerer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Interval == 0 || loc == nil {
		return nil
	}
	m, err := newKeepaliveMetrics(reg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if tcp, ok := s.tcp.(*flowListener); ok {
		tcp.pongs.Store(&s.flow.pongs)
	}
	s.mu.Unlock()
	misses := make(map[string]int) // aor|contact → unanswered pings in a row
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	// The first round waits one interval: right after a restart, restored
	// bindings deserve the time to re-register before they are judged.
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		s.keepaliveRound(ctx, loc, cfg, m, misses)
	}
}

// keepaliveRound pings every selected binding once, paced at cfg.Rate with
// at most cfg.Rate pings waiting for answers at once.
func (s *Server) keepaliveRound(ctx context.Context, loc *location.Table, cfg KeepaliveConfig, m *keepaliveMetrics, misses map[string]int) {
	var targets []pingTarget
	loc.Range(func(aor string, b *location.Binding) bool {
		if cfg.All || b.NAT {
			targets = append(targets, pingTarget{aor: aor, b: *b})
		}
		return true
	})
	type result struct {
		t       pingTarget
		outcome string
	}
	results := make(chan result, len(targets))
	slots := make(chan struct{}, cfg.Rate)
	pace := time.NewTicker(time.Second / time.Duration(cfg.Rate))
	defer pace.Stop()
	sent := 0
	for _, t := range targets {
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
		slots <- struct{}{}
		sent++
		go func(t pingTarget) {
			defer func() { <-slots }()
			if crlfFlow(t.b.Transport) {
				results <- result{t, s.pingCRLF(ctx, t.b, cfg.Timeout)}
				return
			}
			results <- result{t, s.ping(ctx, t.b, cfg.Timeout)}
		}(t)
	}
	seen := make(map[string]bool, sent)
	for range sent {
		r := <-results
		key := r.t.aor + "|" + r.t.b.Contact
		seen[key] = true
		kind := kindOptions
		if crlfFlow(r.t.b.Transport) {
			kind = kindCRLF
		}
		switch r.outcome {
		case "answered":
			m.answered[kind].Inc()
			delete(misses, key)
			continue
		case "gone":
			// A closed connection counts as a miss, not a verdict: a phone on
			// TCP reconnects and registers again after sipedge restarts.
			m.gone[kind].Inc()
			misses[key]++
		default:
			m.timeout[kind].Inc()
			misses[key]++
		}
		if misses[key] >= cfg.MaxMisses {
			if removeBinding(loc, r.t) {
				m.removed.Inc()
				s.log.Info("binding removed after unanswered keepalives", "aor", r.t.aor,
					"contact", r.t.b.Contact, "src", r.t.b.Source.String(), "misses", misses[key])
			}
			delete(misses, key)
		}
	}
	// Forget bindings that left the table some other way.
	for key := range misses {
		if !seen[key] {
			delete(misses, key)
		}
	}
}

// removeBinding drops exactly the pinged binding, unless the phone has
// refreshed it from another flow since (then it is alive elsewhere).
func removeBinding(loc *location.Table, t pingTarget) bool {
	removed := false
	loc.Update(t.aor, func(cur []location.Binding) []location.Binding {
		out := cur[:0]
		for _, b := range cur {
			if b.Contact == t.b.Contact && b.Source == t.b.Source && b.Transport == t.b.Transport {
				removed = true
				continue
			}
			out = append(out, b)
		}
		return out
	})
	return removed
}

// ping sends one OPTIONS to the binding and classifies the outcome.
func (s *Server) ping(ctx context.Context, b location.Binding, timeout time.Duration) string {
	uri := contactURI(b.Contact)
	var ruri sip.Uri
	if err := sip.ParseUri(uri, &ruri); err != nil {
		return "gone" // a contact we cannot address is as good as gone
	}
	req := sip.NewRequest(sip.OPTIONS, ruri)
	from := sip.Uri{Scheme: "sip", User: "keepalive", Host: ruri.Host}
	if b.Realm != "" {
		from.Host = b.Realm
	}
	fp := sip.NewParams()
	fp.Add("tag", randomToken())
	req.AppendHeader(&sip.FromHeader{Address: from, Params: fp})
	req.AppendHeader(&sip.ToHeader{Address: ruri})
	cid := sip.CallIDHeader("ka-" + randomToken())
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := s.SendToBinding(pctx, req, b)
	switch {
	case err == nil && res != nil:
		return "answered"
	case errors.Is(err, ErrFlowGone):
		return "gone"
	default:
		return "timeout"
	}
}

// contactURI strips header parameters (";expires=", ";+sip.instance=")
// that follow the URI in a stored contact.
func contactURI(c string) string {
	if len(c) > 0 && c[0] == '<' {
		for i := 1; i < len(c); i++ {
			if c[i] == '>' {
				return c[1:i]
			}
		}
	}
	return c
}

func randomToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
