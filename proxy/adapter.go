package proxy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// errAnswered is what a second final response gets instead of the wire.
var errAnswered = errors.New("proxy: request already answered")

// adapt is the one bridge from sipgo to our chain. It owns the request ctx,
// the request metrics, and turning a returned error into a response, and it
// makes sure a request is never answered twice.
func (s *Server) adapt(h Handler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		start := time.Now()
		mi := methodIndex(req.Method)
		s.m.requests[mi][transportIndex(req.Transport())].Inc()
		s.m.trackTx(txServer, tx)
		s.track.enter()

		// 64·T1 is Timer B/F: nobody waits for an answer longer than that,
		// except for INVITE, which may ring for the ring timeout (the fork
		// bounds it, per branch).
		var ctx context.Context
		var cancel context.CancelFunc
		if req.Method == sip.INVITE {
			growStack(0)
			if s.fast != nil && s.fast.dialog.Load() != nil {
				s.fast.invites.track(tx, req)
			}
			ctx, cancel = context.WithCancel(s.baseCtx)
		} else {
			ctx, cancel = context.WithTimeout(s.baseCtx, 64*sip.T1)
		}
		w := &txWriter{ServerTransaction: tx, s: s, req: req, method: mi}
		err := h.ServeSIP(ctx, w, req)
		cancel()
		if err != nil {
			s.answerError(w, req, err)
		}
		s.m.duration[mi].Observe(time.Since(start).Seconds())
		s.track.leave()
		if req.Method == sip.INVITE && w.rejected.Load() && s.ackWait > 0 {
			s.takeAck(tx)
		}
	}
}

// takeAck waits a short while for the ACK of a non-2xx answer to an
// INVITE (a 407 challenge, a busy callee). That ACK belongs to the
// transaction, and sipgo hands it up on an unbuffered channel: with nobody
// reading, it parks a goroutine per ACK until the transaction ends (Timer
// I, 5 s), 5,000 of them at 1,000 challenged calls/s. Taken here, this
// goroutine ends one round trip after the answer. The wait is bounded
// (T1) so that a scanner that never ACKs does not keep goroutines either;
// a later ACK falls back to sipgo's own goroutine.
func (s *Server) takeAck(tx sip.ServerTransaction) {
	t := time.NewTimer(s.ackWait)
	defer t.Stop()
	select {
	case <-tx.Acks():
	case <-tx.Done():
	case <-t.C:
	}
}

func (s *Server) answerError(w *txWriter, req *sip.Request, err error) {
	se := StatusOf(err)
	if se.Code >= 500 && se.Err != nil {
		s.log.Error("sip request failed", "method", string(req.Method), "call_id", callID(req), "src", req.Source(), "code", se.Code, "err", se.Err)
	} else {
		s.log.Debug("sip request refused", "method", string(req.Method), "call_id", callID(req), "src", req.Source(), "code", se.Code, "reason", se.Reason)
	}
	// RFC 3261 §17.2.1: an ACK is never answered.
	if req.IsAck() || w.answered.Load() {
		return
	}
	res := sip.NewResponseFromRequest(req, se.Code, cleanReason(se.Reason, se.Code), nil)
	for _, h := range se.Headers {
		res.AppendHeader(h)
	}
	if err := w.Respond(res); err != nil {
		s.log.Debug("sip error response not sent", "call_id", callID(req), "code", se.Code, "err", err)
	}
}

// txWriter is the ServerTransaction every stage sees: it sends responses to
// where the request really came from (RFC 3581 §4 / force_rport: a NAT'd
// phone without rport still gets its answer), stamps the Server header,
// counts responses and refuses a second final one.
type txWriter struct {
	sip.ServerTransaction
	s        *Server
	req      *sip.Request
	method   int
	answered atomic.Bool
	// rejected: the final response sent was not a 2xx.
	rejected atomic.Bool
}

// Respond implements sip.ServerTransaction.
func (w *txWriter) Respond(res *sip.Response) error {
	if !res.IsProvisional() && !w.answered.CompareAndSwap(false, true) {
		return errAnswered
	}
	if src := w.req.Source(); src != "" {
		res.SetDestination(src)
	}
	if ua := w.s.cfg.UserAgent; ua != "" && res.GetHeader("Server") == nil {
		res.AppendHeader(sip.NewHeader("Server", ua))
	}
	w.s.m.response(w.method, res.StatusCode)
	if err := w.ServerTransaction.Respond(res); err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		w.rejected.Store(true)
	}
	return nil
}

// unwrap returns sipgo's transaction under any wrapper, for the socket it
// arrived on.
func unwrap(tx sip.ServerTransaction) sip.ServerTransaction {
	for {
		w, ok := tx.(*txWriter)
		if !ok {
			return tx
		}
		tx = w.ServerTransaction
	}
}

// cleanReason keeps a reason phrase on one line: a CR or LF in it would let
// whoever chose the text write headers of their own.
func cleanReason(r string, code int) string {
	r = strings.Map(func(c rune) rune {
		if c == '\r' || c == '\n' || c == 0 {
			return ' '
		}
		return c
	}, r)
	if r = strings.TrimSpace(r); r == "" {
		return defaultReason(code)
	}
	return r
}

func defaultReason(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 405:
		return "Method Not Allowed"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	}
	if code >= 500 {
		return "Server Internal Error"
	}
	return "Error"
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// tracker counts handler runs so Serve can wait for them at shutdown.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{}
}

func (t *tracker) enter() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) leave() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
	t.mu.Unlock()
}

// wait reports whether every handler returned within limit.
func (t *tracker) wait(limit time.Duration) bool {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return true
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	idle := t.idle
	t.mu.Unlock()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-idle:
		return true
	case <-timer.C:
		return false
	}
}
