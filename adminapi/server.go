package adminapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/registrar"
	"github.com/valyala/fasthttp"
)

// shutdownGrace bounds how long Serve waits for in-flight requests once
// its context is done.
const shutdownGrace = 5 * time.Second

var errListenerClosed = errors.New("listener closed")

// Deps are the collaborators of the API.
type Deps struct {
	Directory  Directory // *devices.Store
	Registrar  Registrar // *registrar.Service; nil answers 501 on its routes
	AdminToken string    // compared in constant time
	Gatherer   prometheus.Gatherer
	Registerer prometheus.Registerer
	Log        *slog.Logger
	Ready      func() bool // /readyz; nil means always ready
	Notifier   Notifier    // *registrar.Notifier; nil answers 501 on sync/notify (sync.go)
}

// Server is the admin API. Build it with New, run it with Serve.
type Server struct {
	cfg      Config
	dir      Directory
	reg      Registrar
	notifier Notifier
	adminSum [sha256.Size]byte
	log      *slog.Logger
	ready    func() bool
	router   *router
	met      *metrics
	promH    fasthttp.RequestHandler
	srv      *fasthttp.Server
	rate     *rateLimiter // nil: no per-token limit (ratelimit.go)
}

// New checks cfg and d and builds the server; it does not listen.
func New(cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("adminapi: config: %w", err)
	}
	if d.Directory == nil {
		return nil, errors.New("adminapi: Deps.Directory is required")
	}
	if d.AdminToken == "" {
		return nil, errors.New("adminapi: Deps.AdminToken is required")
	}
	// A nil *registrar.Service inside the interface is still "no registrar".
	if rs, ok := d.Registrar.(*registrar.Service); ok && rs == nil {
		d.Registrar = nil
	}
	if n, ok := d.Notifier.(*registrar.Notifier); ok && n == nil {
		d.Notifier = nil
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Ready == nil {
		d.Ready = func() bool { return true }
	}
	if d.Registerer == nil {
		d.Registerer = prometheus.NewRegistry()
	}
	if d.Gatherer == nil {
		if g, ok := d.Registerer.(prometheus.Gatherer); ok {
			d.Gatherer = g
		} else {
			d.Gatherer = prometheus.NewRegistry()
		}
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		dir:      d.Directory,
		reg:      d.Registrar,
		notifier: d.Notifier,
		adminSum: sha256.Sum256([]byte(d.AdminToken)),
		log:      d.Log,
		ready:    d.Ready,
		router:   newRouter(routes()),
		met:      m,
		promH:    promHandler(d.Gatherer),
	}
	if s.rate, err = newRateLimiter(cfg.RateLimit, cfg.RateBurst); err != nil {
		return nil, err
	}
	s.srv = &fasthttp.Server{
		Handler:            s.handle,
		ErrorHandler:       s.handleTransportError,
		Name:               "sipedge",
		MaxRequestBodySize: cfg.MaxBodyBytes,
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		CloseOnShutdown:    true,
		Logger:             slogPrinter{d.Log},
	}
	return s, nil
}

// Handler returns the request handler, for tests and embedding. It does
// not enforce MaxBodyBytes; Serve's server does.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Serve answers on ln until ctx is done, then shuts down gracefully (up to
// 5 s for in-flight requests) and returns nil. A listener that fails or is
// closed before ctx is done is an error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		// fasthttp returns nil when the listener is closed under it; before
		// ctx is done that is still a failure the caller must see.
		if err == nil {
			err = errListenerClosed
		}
		return fmt.Errorf("adminapi: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := s.srv.ShutdownWithContext(sctx)
	serr := <-errc
	if err != nil {
		return fmt.Errorf("adminapi: shutdown: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("adminapi: serve: %w", serr)
	}
	return nil
}

// request is the per-request state handed to handlers. It holds copies,
// never views into the RequestCtx buffers, except ctx itself which
// handlers use only before they return.
type request struct {
	ctx     *fasthttp.RequestCtx
	route   *route
	params  map[string]string
	who     principal
	token   string
	reqID   string
	doc     map[string]any // the "data" object of the request envelope
	ifMatch string
}

func (r *request) param(name string) string { return r.params[name] }

// handle is the whole request pipeline: route, authorize, decode, run,
// encode, count.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	reqID := requestID(ctx)
	ctx.Response.Header.Set("X-Request-ID", reqID)
	tok := tokenOf(ctx)
	method := string(ctx.Method())

	label := "unmatched"
	rt, params, allow := s.router.match(method, string(ctx.Path()))
	if rt != nil {
		label = rt.pattern
	}
	r := &request{ctx: ctx, route: rt, params: params, token: tok, reqID: reqID}
	defer func() {
		// fasthttp does not recover handler panics; one bad request must
		// not take the SIP service down with it.
		if p := recover(); p != nil {
			s.log.Error("api handler panic", "request_id", reqID, "route", label, "panic", p)
			ctx.Response.ResetBody()
			writeError(ctx, tok, reqID, errInternal())
		}
		code := ctx.Response.StatusCode()
		s.met.observe(label, code, time.Since(start))
		switch {
		case method != fasthttp.MethodGet && code < 300 && r.route != nil && r.route.scope != scopePublic:
			s.log.Info("api write", "request_id", reqID, "method", method, "route", label, "code", code,
				"admin", r.who.admin, "token_account", r.who.accountID)
		default:
			s.log.Debug("api request", "request_id", reqID, "method", method, "route", label, "code", code)
		}
	}()
	rp, err := s.dispatch(r, allow)
	if err != nil {
		writeError(ctx, tok, reqID, s.mapError(r, err))
		return
	}
	writeReply(ctx, tok, reqID, rp)
}

func (s *Server) dispatch(r *request, allow []string) (*reply, error) {
	if r.route == nil {
		if len(allow) > 0 {
			return nil, errMethod(strings.Join(allow, ", "))
		}
		return nil, errNotFoundPath()
	}
	acct := r.param("ACCOUNT_ID")
	if r.route.scope != scopePublic {
		if ae := s.limit(r); ae != nil {
			return nil, ae
		}
	}
	who, ae := s.authorize(r.token, r.route.scope, acct)
	if ae != nil {
		return nil, ae
	}
	r.who = who
	if acct != "" {
		if _, err := s.dir.Account(acct); err != nil {
			return nil, storeErr(err, acct)
		}
	}
	if r.route.body {
		if ae := decodeBody(r); ae != nil {
			return nil, ae
		}
	}
	r.ifMatch = ifMatch(r.ctx)
	return r.route.handle(s, r)
}

// ifMatch strips the quotes (and a weak prefix) off If-Match.
func ifMatch(ctx *fasthttp.RequestCtx) string {
	v := strings.TrimSpace(string(ctx.Request.Header.Peek("If-Match")))
	v = strings.TrimPrefix(v, "W/")
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if v == "*" {
		return ""
	}
	return v
}

// mapError turns a handler error into Crossbar's envelope.
func (s *Server) mapError(r *request, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ve *devices.ValidationError
	if errors.As(err, &ve) {
		return errValidation(ve.Fields)
	}
	s.log.Error("api request failed", "request_id", r.reqID, "err", err)
	return errInternal()
}

// storeErr maps the directory's sentinels; id names the document the
// request addressed.
func storeErr(err error, id string) error {
	var ve *devices.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, devices.ErrNotFound):
		return errBadIdentifier(id)
	case errors.Is(err, devices.ErrStaleRevision):
		return &apiError{code: fasthttp.StatusPreconditionFailed, message: "precondition_failed",
			data: map[string]any{"cause": id, "message": "revision does not match If-Match"}}
	case errors.Is(err, devices.ErrConflict):
		return &apiError{code: fasthttp.StatusConflict, message: "datastore_conflict",
			data: map[string]any{"cause": id, "message": "conflicting documents"}}
	case errors.As(err, &ve):
		return errValidation(ve.Fields)
	}
	return fmt.Errorf("adminapi: directory: %w", err)
}

// handleTransportError answers what fasthttp refuses before a handler runs,
// chiefly bodies over MaxBodyBytes, which are never read.
func (s *Server) handleTransportError(ctx *fasthttp.RequestCtx, err error) {
	reqID := requestID(ctx)
	ctx.Response.Header.Set("X-Request-ID", reqID)
	label := "unmatched"
	if rt, _, _ := s.router.match(string(ctx.Method()), string(ctx.Path())); rt != nil {
		label = rt.pattern
	}
	var ae *apiError
	var small *fasthttp.ErrSmallBuffer
	var nerr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		ae = errBodyTooLarge(s.cfg.MaxBodyBytes)
	case errors.As(err, &small):
		ae = &apiError{code: fasthttp.StatusRequestHeaderFieldsTooLarge, message: "header_too_large", data: msgData("request header too large")}
	case errors.As(err, &nerr) && nerr.Timeout():
		ae = &apiError{code: fasthttp.StatusRequestTimeout, message: "request_timeout", data: msgData("request timeout")}
	default:
		ae = &apiError{code: fasthttp.StatusBadRequest, message: "invalid_request", data: msgData("malformed http request")}
	}
	writeError(ctx, tokenOf(ctx), reqID, ae)
	s.met.observe(label, ae.code, 0)
	s.log.Debug("api request refused", "request_id", reqID, "route", label, "code", ae.code, "err", err)
}

// slogPrinter adapts fasthttp's Printf logger to slog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	p.l.Debug("fasthttp", "msg", fmt.Sprintf(format, args...))
}
