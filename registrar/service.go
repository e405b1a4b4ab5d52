package registrar

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
)

// Service is the registrar. Safe for concurrent use.
type Service struct {
	cfg     Config
	dir     Directory
	loc     *location.Table
	log     *slog.Logger
	now     func() time.Time
	minter  *nonceMinter
	limiter *limiter
	nc      *ncTracker
	m       *metrics
	algs    []digestAlg
	offered [2]bool // indexed by digestAlg
	// dummyPassword is hashed for unknown users so they cost the same work
	// as known ones and cannot be told apart by timing.
	dummyPassword string

	// onOverwrite is the register_overwrite_notify hook (notify.go).
	onOverwrite atomic.Pointer[func(old location.Binding, dev *devices.Device)]
}

// New builds the registrar. reg may be nil (no metrics), log may be nil (discard).
func New(cfg Config, dir Directory, loc *location.Table, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dir == nil || loc == nil {
		return nil, errors.New("registrar: directory and location table are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	secret := cfg.Secret
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("registrar: nonce secret: %w", err)
		}
	}
	var dummy [8]byte
	if _, err := rand.Read(dummy[:]); err != nil {
		return nil, fmt.Errorf("registrar: dummy password: %w", err)
	}
	s := &Service{
		cfg:           cfg,
		dir:           dir,
		loc:           loc,
		log:           log,
		now:           now,
		minter:        newNonceMinter(secret),
		limiter:       newLimiter(cfg.FailedAuth, now),
		nc:            newNCTracker(cfg.FailedAuth.MaxTracked),
		dummyPassword: hex.EncodeToString(dummy[:]),
	}
	for _, a := range cfg.Algorithms {
		alg, _ := parseAlg(a)
		s.algs = append(s.algs, alg)
		s.offered[alg] = true
	}
	m, err := newMetrics(reg, s)
	if err != nil {
		return nil, err
	}
	s.m = m
	return s, nil
}

// ncTracker remembers the highest nonce count seen per nonce, so a captured
// qop=auth request cannot be replayed. It holds two generations of maps
// keyed by a seeded hash of the nonce, with nothing in them the garbage
// collector has to follow: the LRU of nonce strings it replaces was half of
// the live heap under a REGISTER load, and every GC cycle marked it. When
// the current generation is full, the previous one is cleared and reused.
// Bounded: a nonce not seen for two generations forgets its count, which
// at worst lets one old request be replayed within NonceTTL. A 64-bit hash
// collision (the seed is per process) could only refuse a fresh nonce,
// which the full path then answers with a new challenge.
type ncTracker struct {
	mu        sync.Mutex
	seed      maphash.Seed
	half      int
	cur, prev map[uint64]uint32
}

func newNCTracker(size int) *ncTracker {
	half := max(size/2, 1)
	return &ncTracker{
		seed: maphash.MakeSeed(), half: half,
		cur: make(map[uint64]uint32, half), prev: make(map[uint64]uint32, half),
	}
}

// advance records nc for nonce and reports whether it is newer than any seen.
func (t *ncTracker) advance(nonce string, nc uint32) bool {
	k := maphash.String(t.seed, nonce)
	t.mu.Lock()
	defer t.mu.Unlock()
	last, inCur := t.cur[k]
	ok := inCur
	if !ok {
		last, ok = t.prev[k]
	}
	if ok && nc <= last {
		return false
	}
	if !inCur && len(t.cur) >= t.half {
		t.prev, t.cur = t.cur, t.prev
		clear(t.cur)
	}
	t.cur[k] = nc
	return true
}

// respond builds a response aimed at the packet source: phones behind NAT
// that do not send rport would otherwise never see it (RFC 3581).
func (s *Service) respond(req *sip.Request, src Source, code int, reason string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if src.Addr.IsValid() {
		res.SetDestination(src.Addr.String())
	}
	return res
}

var echoBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// echoSafe reports whether the headers every response copies from the
// request (Via, From, To, Call-ID, CSeq) are free of CR, LF and NUL. sipgo's
// parser lets a bare LF through inside a value; echoing it would let a
// request inject header lines into our answer, so such requests get none.
func echoSafe(req *sip.Request) bool {
	buf := echoBufs.Get().(*bytes.Buffer)
	defer echoBufs.Put(buf)
	buf.Reset()
	for _, h := range req.Headers() {
		switch h := h.(type) {
		case *sip.ViaHeader:
			// Read field by field: a Via renders a string of itself even
			// when written, and there is one on every request.
			if !viaSafe(h) {
				return false
			}
		case *sip.FromHeader, *sip.ToHeader, *sip.CallIDHeader, *sip.CSeqHeader:
			h.StringWrite(buf)
		}
	}
	return !bytes.ContainsAny(buf.Bytes(), "\r\n\x00")
}

// viaSafe is echoSafe for one Via: every field it is written from.
func viaSafe(v *sip.ViaHeader) bool {
	if hasCtl(v.ProtocolName) || hasCtl(v.ProtocolVersion) || hasCtl(v.Transport) || hasCtl(v.Host) {
		return false
	}
	for _, kv := range v.Params {
		if hasCtl(kv.K) || hasCtl(kv.V) {
			return false
		}
	}
	return true
}

// hasCtl reports CR, LF or NUL in s.
func hasCtl(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }
