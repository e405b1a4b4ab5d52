package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sipedge/sipedge/registrar"
)

// drainLimit bounds how long Serve waits, after its listeners are closed, for
// handlers still running; their ctx is already cancelled by then.
const drainLimit = 5 * time.Second

// Server is the SIP server.
type Server struct {
	cfg Config
	reg *registrar.Service
	log *slog.Logger
	m   *metrics

	ua  *sipgo.UserAgent
	srv *sipgo.Server

	handler  Handler // the whole chain, built once in New
	routes   atomic.Pointer[routeTable]
	filters  atomic.Pointer[[]ReadFilter]
	inflight atomic.Int64 // requests admitted by Limit
	admit    admission    // overload and drain refusals (limit.go)
	track    tracker      // every handler run, for the drain
	// ackWait bounds how long a handler waits for the ACK of its non-2xx
	// answer to an INVITE (takeAck); 0 skips the wait.
	ackWait time.Duration

	// baseCtx is the parent of every request's ctx; Serve cancels it on stop.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	mu      sync.Mutex
	udp     net.PacketConn
	tcp     net.Listener
	udpAddr netip.AddrPort
	tcpAddr netip.AddrPort
	local   localAddrs
	serving atomic.Bool

	fast    *fastPath                 // UDP REGISTER without a transaction (fastpath.go); nil when off
	batch   atomic.Pointer[batchConn] // the UDP listener's batch reader; nil when reads are not batched
	flow    flowState                 // SendToBinding's client (flow.go)
	streams streamState               // TLS, WS and WSS listeners (transport_stream.go)
	lim     *limits                   // sip.limits (limits.go)
}

// New builds a server; it does not listen yet. reg may be nil, in which case
// REGISTER is answered 501 like any method without a route.
func New(cfg Config, reg *registrar.Service, prom prometheus.Registerer, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if prom == nil {
		prom = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, reg: reg, log: log, ackWait: sip.T1}
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	m, err := newMetrics(prom, func() float64 { return float64(s.inflight.Load()) })
	if err != nil {
		return nil, err
	}
	s.m = m
	s.admit.overload.limit = cfg.MaxQueueDelay
	// Overload may come and go every half second: one line per 10 s.
	var lastWarn time.Time
	episodes := 0
	s.admit.overload.onChange = func(on bool) {
		if !on {
			return
		}
		episodes++
		if time.Since(lastWarn) >= 10*time.Second {
			s.log.Warn("overloaded: new requests get 503", "max_queue_delay", cfg.MaxQueueDelay, "episodes", episodes)
			lastWarn, episodes = time.Now(), 0
		}
	}
	overloaded := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sipedge_proxy_overloaded",
		Help: "1 while UDP requests wait in the socket longer than sip.max_queue_delay and new requests get 503.",
	}, func() float64 {
		if s.admit.overload.active() {
			return 1
		}
		return 0
	})
	if err := prom.Register(overloaded); err != nil {
		return nil, err
	}

	// sipgo logs every unparseable datagram at Error with its payload; its
	// own logger is quieter (Warn and up), truncated and rate-limited so a
	// scanner cannot flood ours.
	libLog := LibraryLogger(log)
	name := cfg.UserAgent
	if name == "" {
		name = "sipedge"
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(name),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(libLog),
			sip.WithTransportLayerReadFilter(s.fastReadFilter),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(libLog),
			sip.WithTransactionLayerUnhandledResponseHandler(s.strayResponse),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("proxy: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(libLog))
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("proxy: server: %w", err)
	}
	s.ua, s.srv = ua, srv

	s.routes.Store(s.defaultRoutes())
	s.filters.Store(&[]ReadFilter{})
	if err := s.installGuards(prom); err != nil {
		_ = ua.Close()
		return nil, err
	}
	// After the flood limiter, so oversized floods are counted and banned.
	if err := s.installLimits(prom); err != nil {
		_ = ua.Close()
		return nil, err
	}
	s.handler = buildChain(HandlerFunc(s.route), s.chain())
	s.initFastPath()
	// No per-method sipgo handlers: every request, known method or not,
	// lands in the one chain through the no-route hook.
	srv.OnNoRoute(s.adapt(s.handler))
	return s, nil
}

// Listen binds the UDP socket and the TCP listener (same port).
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp != nil {
		return errors.New("proxy: already listening")
	}
	host, portStr, _ := net.SplitHostPort(s.cfg.Listen) // checked by Validate
	port, _ := parsePort(portStr)
	pc, ln, err := listenPair(host, port, s.lim.wrap)
	if err != nil {
		return err
	}
	s.setReadBuffer(pc)
	s.fastListen(pc)
	s.udp, s.tcp = pc, ln
	s.udpAddr = addrPortOf(pc.LocalAddr())
	s.tcpAddr = addrPortOf(ln.Addr())

	local, err := s.resolveLocal()
	if err != nil {
		_ = pc.Close()
		_ = ln.Close()
		s.udp, s.tcp = nil, nil
		return err
	}
	s.local = local
	s.log.Info("sip listening", "udp", s.udpAddr.String(), "tcp", s.tcpAddr.String(), "advertise", s.local.describe())
	return nil
}

// UDPAddr is the bound UDP address, valid after Listen.
func (s *Server) UDPAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr
}

// TCPAddr is the bound TCP address, valid after Listen.
func (s *Server) TCPAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpAddr
}

// Serve serves until ctx is done, then closes the listeners and returns nil.
// It listens first if Listen was not called. A listener that fails on its
// own ends Serve with that error. Serve may be called once.
func (s *Server) Serve(ctx context.Context) error {
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("proxy: Serve called twice")
	}
	s.mu.Lock()
	listening := s.udp != nil
	s.mu.Unlock()
	if !listening {
		if err := s.Listen(); err != nil {
			s.shutdown()
			return err
		}
	}
	s.mu.Lock()
	pc, ln, udpAddr, tcpAddr := s.udp, s.tcp, s.udpAddr, s.tcpAddr
	s.mu.Unlock()

	// sipgo reads through upc: batched when asked for, with the fast path
	// answering on the same batches.
	upc := pc
	if uc, ok := pc.(*net.UDPConn); ok && s.cfg.UDPBatch > 1 && !raceBuild {
		bc := newBatchConn(uc, s.cfg.UDPBatch, s.log, &s.admit.overload)
		s.batch.Store(bc)
		upc = bc
		s.fastListen(upc)
	}
	var stopping atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := s.srv.ServeUDP(upc)
		if stopping.Load() {
			return nil
		}
		if err == nil {
			// sipgo's UDP reader returns nil when it gives up (a read error);
			// the socket would then sit open with nobody reading it.
			err = errors.New("reader stopped")
		}
		return fmt.Errorf("proxy: udp %s: %w", udpAddr, err)
	})
	g.Go(func() error {
		err := s.srv.ServeTCP(ln)
		if stopping.Load() {
			return nil
		}
		return fmt.Errorf("proxy: tcp %s: %w", tcpAddr, err)
	})
	g.Go(func() error {
		<-gctx.Done()
		stopping.Store(true)
		return errors.Join(ignoreClosed(pc.Close()), ignoreClosed(ln.Close()))
	})
	err := g.Wait()
	s.shutdown()
	return err
}

// shutdown cancels running handlers, waits a bounded time for them, then
// closes the transaction and transport layers (and with them every accepted
// TCP connection).
func (s *Server) shutdown() {
	s.cancelBase()
	if !s.track.wait(drainLimit) {
		s.log.Warn("sip handlers still running at shutdown", "limit", drainLimit)
	}
	if err := s.ua.Close(); err != nil {
		s.log.Debug("sip user agent close", "err", err)
	}
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// strayResponse sees responses that match no client transaction; with
// forwarding a late 2xx goes upstream (stray.go), else it is dropped.
func (s *Server) strayResponse(res *sip.Response) {
	if fn := s.flow.stray.Load(); fn != nil && (*fn)(res) {
		return
	}
	s.log.Debug("stray sip response dropped", "code", res.StatusCode, "src", res.Source())
}
