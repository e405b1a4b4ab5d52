package proxy

import (
	"context"
	"strconv"

	"github.com/emiago/sipgo/sip"
)

// limit caps requests in flight. sipgo starts a goroutine per message with no
// bound, so past max_inflight we answer 503 at once (RFC 3261 §21.5.4) and
// let the client come back after Retry-After rather than queue without end.
func (s *Server) limit(next Handler) Handler {
	ceiling := int64(s.cfg.MaxInflight)
	retryAfter := strconv.Itoa(s.cfg.RetryAfter)
	return HandlerFunc(func(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
		if s.inflight.Add(1) > ceiling {
			s.inflight.Add(-1)
			s.m.rejected.Inc()
			se := &StatusError{Code: 503, Reason: "Service Unavailable"}
			if s.cfg.RetryAfter > 0 {
				se.Headers = []sip.Header{sip.NewHeader("Retry-After", retryAfter)}
			}
			return se
		}
		defer s.inflight.Add(-1)
		return next.ServeSIP(ctx, tx, req)
	})
}
