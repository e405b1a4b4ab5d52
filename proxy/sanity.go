package proxy

import (
	"context"

	"github.com/emiago/sipgo/sip"
)

// sanity rejects what no later stage should have to think about (RFC 3261
// §8.2 and §16.3), with a reason phrase that names the problem so whoever
// reads the trace on the phone's side sees what is wrong. It is deliberately
// minimal; the torture-test grade checks come later.
func sanity(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
		if se := checkRequest(req); se != nil {
			return se
		}
		return next.ServeSIP(ctx, tx, req)
	})
}

// checkRequest returns the first problem found, or nil.
func checkRequest(req *sip.Request) *StatusError {
	if req.SipVersion != "SIP/2.0" {
		return Status(505, "Version Not Supported")
	}
	switch req.Recipient.Scheme {
	case "sip", "sips", "tel":
	default:
		// RFC 3261 §8.2.2.1 and §16.3 step 2.
		return Status(416, "Unsupported URI Scheme")
	}
	if req.Via() == nil {
		return Status(400, "Missing Via header")
	}
	if req.From() == nil {
		return Status(400, "Missing From header")
	}
	if req.To() == nil {
		return Status(400, "Missing To header")
	}
	if h := req.CallID(); h == nil || h.Value() == "" {
		return Status(400, "Missing Call-ID header")
	}
	cseq := req.CSeq()
	if cseq == nil {
		return Status(400, "Missing CSeq header")
	}
	if cseq.MethodName != req.Method {
		return Status(400, "CSeq method does not match request method")
	}
	if !answeredLocally(req) {
		// RFC 3261 §16.3 step 3; only requests we forward need it.
		mf := req.MaxForwards()
		if mf == nil {
			return Status(400, "Missing Max-Forwards header")
		}
		if mf.Val() == 0 {
			return Status(483, "Too Many Hops")
		}
	}
	return nil
}
