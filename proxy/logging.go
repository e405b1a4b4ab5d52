package proxy

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// sipgo's log budget: a burst, then a few lines a second; the rest are
// counted and the count rides on the next line that gets through.
const (
	libLogRate   = 5.0
	libLogBurst  = 20
	libLogMaxLen = 200 // bytes of any one string attribute (sipgo logs whole packets)
)

// LibraryLogger wraps log the way the server wraps sipgo's loggers: Warn and
// up only, string attributes truncated, a few lines a second. cmd can hand it
// to sip.SetDefaultLogger, which a few sipgo code paths log to directly.
func LibraryLogger(log *slog.Logger) *slog.Logger {
	return slog.New(newLibHandler(log.Handler(), slog.LevelWarn, libLogRate, libLogBurst, time.Now)).With("lib", "sipgo")
}

// libHandler sits between sipgo and our handler. sipgo logs at Error with
// the whole payload for every datagram it cannot parse, so junk on the wire
// would otherwise become one log line per packet, written by the attacker.
type libHandler struct {
	next slog.Handler
	min  slog.Level
	lim  *logLimiter // shared by every WithAttrs/WithGroup copy
}

func newLibHandler(next slog.Handler, min slog.Level, rate float64, burst int, now func() time.Time) *libHandler {
	return &libHandler{next: next, min: min, lim: &logLimiter{rate: rate, burst: float64(burst), tokens: float64(burst), now: now}}
}

func (h *libHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.next.Enabled(ctx, l)
}

func (h *libHandler) Handle(ctx context.Context, r slog.Record) error {
	ok, suppressed := h.lim.allow()
	if !ok {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, truncate(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(truncateAttr(a))
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.next.Handle(ctx, out)
}

func (h *libHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for i := range as {
		as[i] = truncateAttr(as[i])
	}
	return &libHandler{next: h.next.WithAttrs(as), min: h.min, lim: h.lim}
}

func (h *libHandler) WithGroup(name string) slog.Handler {
	return &libHandler{next: h.next.WithGroup(name), min: h.min, lim: h.lim}
}

func truncateAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, truncate(v.String()))
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, truncate(err.Error()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func truncate(s string) string {
	if len(s) <= libLogMaxLen {
		return s
	}
	return s[:libLogMaxLen] + "…"
}

// logLimiter is a token bucket on an injected clock.
type logLimiter struct {
	mu         sync.Mutex
	rate       float64
	burst      float64
	tokens     float64
	last       time.Time
	suppressed int
	now        func() time.Time
}

func (l *logLimiter) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	n := l.suppressed
	l.suppressed = 0
	return true, n
}
