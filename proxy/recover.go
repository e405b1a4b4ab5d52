package proxy

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/emiago/sipgo/sip"
)

// recoverer turns a panic in a later stage into a 500: sipgo runs each
// request in its own goroutine, so an unrecovered panic would take the whole
// process, and every registered phone with it.
func (s *Server) recoverer(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) (err error) {
		defer func() {
			if v := recover(); v != nil {
				s.m.panics.Inc()
				s.log.Error("panic in sip handler", "method", string(req.Method), "call_id", callID(req), "src", req.Source(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				err = &StatusError{Code: 500, Reason: "Server Internal Error", Err: fmt.Errorf("proxy: panic: %v", v)}
			}
		}()
		return next.ServeSIP(ctx, tx, req)
	})
}
