package proxy

import (
	"context"
	"strconv"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// admission decides which requests may start new work. Under overload or
// while draining, only requests that would open something new (a call, a
// registration, a subscription) are refused: a BYE, an ACK, a CANCEL or a
// re-INVITE of a call already up must still pass, or overload would turn
// into hung calls.
type admission struct {
	draining atomic.Bool
	overload overload // sip.max_queue_delay (overload.go)
}

// refusing reports whether a request that opens something is refused now.
func (a *admission) refusing() bool { return a.draining.Load() || a.overload.active() }

// Drain makes the server refuse new dialogs and registrations with 503 and
// Retry-After, while in-dialog requests and calls being set up go on.
// Used on SIGTERM before the listeners close.
func (s *Server) Drain() { s.admit.draining.Store(true) }

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.admit.draining.Load() }

// opensSomething is true for requests that start a dialog, a registration
// or a subscription, or send an out-of-dialog message: the ones overload
// and draining may refuse.
func opensSomething(req *sip.Request) bool {
	switch req.Method {
	case sip.ACK, sip.CANCEL, sip.BYE, sip.PRACK, sip.UPDATE, sip.INFO:
		return false
	}
	return !hasToTag(req)
}

// limit caps requests in flight. sipgo starts a goroutine per message with no
// bound, so past max_inflight new work gets 503 at once (RFC 3261 §21.5.4)
// and the client comes back after Retry-After rather than queue without end.
func (s *Server) limit(next Handler) Handler {
	ceiling := int64(s.cfg.MaxInflight)
	retryAfter := strconv.Itoa(s.cfg.RetryAfter)
	refuse := func() error {
		s.m.rejected.Inc()
		se := &StatusError{Code: 503, Reason: "Service Unavailable"}
		if s.cfg.RetryAfter > 0 {
			se.Headers = []sip.Header{sip.NewHeader("Retry-After", retryAfter)}
		}
		return se
	}
	return HandlerFunc(func(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
		opens := opensSomething(req)
		if opens && s.admit.refusing() {
			return refuse()
		}
		if s.inflight.Add(1) > ceiling && opens {
			s.inflight.Add(-1)
			return refuse()
		}
		defer s.inflight.Add(-1)
		return next.ServeSIP(ctx, tx, req)
	})
}
