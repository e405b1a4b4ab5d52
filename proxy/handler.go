package proxy

import (
	"context"
	"errors"
	"fmt"

	"github.com/emiago/sipgo/sip"
)

// Handler is one stage of the request chain.
//
// Contract: returning nil means a final response was sent or the request was
// deliberately dropped; returning an error means nothing final was sent, and
// the adapter answers from it (see StatusOf). sipgo ends the server
// transaction as soon as the outermost handler returns, so a stage must block
// until its final response has been sent and must never hand tx to another
// goroutine that outlives the call.
type Handler interface {
	ServeSIP(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error

// ServeSIP calls f.
func (f HandlerFunc) ServeSIP(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	return f(ctx, tx, req)
}

// Middleware wraps a Handler; chain.go lists them in order, outermost first.
type Middleware func(next Handler) Handler

// StatusError is an error that says which SIP answer it deserves.
type StatusError struct {
	Code   int
	Reason string
	// Headers are added to the response (Retry-After, Allow, …).
	Headers []sip.Header
	// Err is the cause, for logs; it never reaches the wire.
	Err error
}

// Error implements error.
func (e *StatusError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("sip %d %s: %v", e.Code, e.Reason, e.Err)
	}
	return fmt.Sprintf("sip %d %s", e.Code, e.Reason)
}

// Unwrap returns the cause.
func (e *StatusError) Unwrap() error { return e.Err }

// Status returns a *StatusError with that code and reason.
func Status(code int, reason string, headers ...sip.Header) *StatusError {
	return &StatusError{Code: code, Reason: reason, Headers: headers}
}

// StatusOf maps any error to the answer it deserves: a *StatusError anywhere
// in the chain speaks for itself, anything else is a 500.
func StatusOf(err error) *StatusError {
	var se *StatusError
	if errors.As(err, &se) && se.Code >= 300 && se.Code <= 699 {
		return se
	}
	return &StatusError{Code: 500, Reason: "Server Internal Error", Err: err}
}
