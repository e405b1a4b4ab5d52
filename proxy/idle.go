package proxy

import (
	"context"
	"time"
)

// WaitIdle waits until no request handler of the server is running, and
// with them no forwarded branch and no CANCEL or BYE of its own, or until
// ctx ends. Tests use it to see that a call left nothing behind; shutdown
// does the same wait with a limit.
func (s *Server) WaitIdle(ctx context.Context) error {
	limit := time.Hour
	if d, ok := ctx.Deadline(); ok {
		limit = time.Until(d)
	}
	if !s.track.wait(limit) {
		return context.DeadlineExceeded
	}
	return ctx.Err()
}
