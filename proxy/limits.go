package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// LimitsConfig is sip.limits: how big a message may be and how many stream
// connections a source may hold. A zero field takes the default, so a config
// file that names none of them still gets bounds.
type LimitsConfig struct {
	// MaxMessage is the largest SIP message, in bytes, on any transport.
	// The command line sets sipgo's parser limit to it; UDP datagrams are
	// also bounded by sipgo's read buffer (32 KiB), beyond which they are
	// dropped as truncated.
	MaxMessage int `yaml:"max_message"`
	// MaxHeaders bounds the header fields of a request.
	MaxHeaders int `yaml:"max_headers"`
	// MaxHeaderLine bounds one header field (name, colon and value).
	MaxHeaderLine int `yaml:"max_header_line"`
	// MaxVias bounds the Via entries (a loop or an amplification attempt
	// grows them; RFC 3261 Max-Forwards allows 70 hops, phones need few).
	MaxVias int `yaml:"max_vias"`
	// MaxBody bounds a request's body, in bytes.
	MaxBody int `yaml:"max_body"`
	// ConnsPerIP bounds the TCP, TLS and WS connections one IP holds at
	// once; more are closed at accept. Sources on sip.flood.allow (the
	// gateways, SBCs and office NATs trusted there) are exempt.
	ConnsPerIP int `yaml:"conns_per_ip"`
	// MaxConns bounds all inbound stream connections together.
	MaxConns int `yaml:"max_conns"`
	// IdleTimeout closes an inbound stream connection that neither sent nor
	// was sent anything for that long (phones send CRLF keepalives well
	// inside it, RFC 5626 §4.4.1).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// DefaultLimits is roomy for phones and tight for abuse.
func DefaultLimits() LimitsConfig {
	return LimitsConfig{
		MaxMessage:    64 << 10,
		MaxHeaders:    256,
		MaxHeaderLine: 8 << 10,
		MaxVias:       32,
		MaxBody:       32 << 10,
		ConnsPerIP:    32,
		MaxConns:      20000,
		IdleTimeout:   10 * time.Minute,
	}
}

// Effective fills zero fields with the defaults.
func (c LimitsConfig) Effective() LimitsConfig {
	d := DefaultLimits()
	pick := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	c.MaxMessage = pick(c.MaxMessage, d.MaxMessage)
	c.MaxHeaders = pick(c.MaxHeaders, d.MaxHeaders)
	c.MaxHeaderLine = pick(c.MaxHeaderLine, d.MaxHeaderLine)
	c.MaxVias = pick(c.MaxVias, d.MaxVias)
	c.MaxBody = pick(c.MaxBody, d.MaxBody)
	c.ConnsPerIP = pick(c.ConnsPerIP, d.ConnsPerIP)
	c.MaxConns = pick(c.MaxConns, d.MaxConns)
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	return c
}

// Validate names the first bad field.
func (c LimitsConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"max_message", c.MaxMessage}, {"max_headers", c.MaxHeaders}, {"max_header_line", c.MaxHeaderLine},
		{"max_vias", c.MaxVias}, {"max_body", c.MaxBody}, {"conns_per_ip", c.ConnsPerIP}, {"max_conns", c.MaxConns},
	} {
		if f.v < 0 {
			return fmt.Errorf("sip.limits.%s: %d must not be negative", f.name, f.v)
		}
	}
	if c.IdleTimeout < 0 {
		return fmt.Errorf("sip.limits.idle_timeout: %s must not be negative", c.IdleTimeout)
	}
	return nil
}

// limitReasons label sipedge_proxy_limit_refused_total; bounded.
var limitReasons = [...]string{"datagram_size", "headers", "header_line", "vias", "body", "message_size", "conns_per_ip", "conns_total", "idle"}

const (
	limDatagram = iota
	limHeaders
	limHeaderLine
	limVias
	limBody
	limMessage
	limConnsIP
	limConnsTotal
	limIdle
)

// limits holds the effective sip.limits and the stream connection counts.
type limits struct {
	cfg     LimitsConfig
	allow   []netip.Prefix // exempt from conns_per_ip
	refused [len(limitReasons)]prometheus.Counter

	mu    sync.Mutex
	perIP map[netip.Addr]int
	total int
	open  prometheus.Gauge
}

func newLimits(cfg LimitsConfig, allow []netip.Prefix, prom prometheus.Registerer) (*limits, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	l := &limits{cfg: cfg.Effective(), allow: allow, perIP: map[netip.Addr]int{}}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_limit_refused_total",
		Help: "Messages and stream connections refused by sip.limits, by reason.",
	}, []string{"reason"})
	l.open = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sipedge_proxy_stream_connections",
		Help: "Inbound TCP, TLS and WS connections open.",
	})
	for _, c := range []prometheus.Collector{refused, l.open} {
		if err := prom.Register(c); err != nil {
			return nil, fmt.Errorf("proxy: limits metrics: %w", err)
		}
	}
	for i, r := range limitReasons {
		l.refused[i] = refused.WithLabelValues(r)
	}
	return l, nil
}

// installLimits wires sip.limits in: the UDP size filter here, the stream
// listeners in listen.go and transport_stream.go, the request stage in chain.go.
func (s *Server) installLimits(prom prometheus.Registerer) error {
	allow, err := parseAllow(s.cfg.Flood.Allow) // checked by Validate
	if err != nil {
		return fmt.Errorf("proxy: sip.flood.allow: %w", err)
	}
	l, err := newLimits(s.cfg.Limits, allow, prom)
	if err != nil {
		return err
	}
	s.lim = l
	s.AddReadFilter(l.filter)
	return nil
}

// filter drops absurd datagrams before sipgo parses them: over max_message,
// filling sipgo's whole read buffer (so cut short by the kernel), or with
// far more lines than max_headers allows. Nobody reads an answer to those;
// what is merely over a limit is answered by the request stage.
func (l *limits) filter(transport string, _ net.Addr, data []byte) bool {
	if transport != "UDP" {
		return true
	}
	if len(data) > l.cfg.MaxMessage || len(data) >= int(sip.TransportBufferReadSize) {
		l.refused[limDatagram].Inc()
		return false
	}
	head := data
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		head = data[:i]
	}
	if bytes.Count(head, []byte{'\n'}) > 2*l.cfg.MaxHeaders {
		l.refused[limDatagram].Inc()
		return false
	}
	return true
}

// limitStage answers a request over a limit with 513 (RFC 3261 §21.5.14) or,
// for the body alone, 413 (§21.4.11), the reason phrase naming the limit.
// It runs after sanity, before anything acts on the request.
func (s *Server) limitStage(next Handler) Handler {
	l := s.lim
	return HandlerFunc(func(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
		if l != nil {
			if se := l.check(req); se != nil {
				return se
			}
		}
		return next.ServeSIP(ctx, tx, req)
	})
}

// check returns the first limit req breaks, or nil.
func (l *limits) check(req *sip.Request) *StatusError {
	c := l.cfg
	hs := req.Headers()
	if len(hs) > c.MaxHeaders {
		l.refused[limHeaders].Inc()
		return Status(513, "Too Many Headers")
	}
	lw := lenWriterPool.Get().(*lenWriter)
	defer lenWriterPool.Put(lw)
	size := startLineLen(req)
	vias := 0
	for _, h := range hs {
		n := headerLen(h, lw)
		if n > c.MaxHeaderLine {
			l.refused[limHeaderLine].Inc()
			return Status(513, "Header Too Long")
		}
		size += n + 2
		if _, ok := h.(*sip.ViaHeader); ok {
			vias++
		}
	}
	if vias > c.MaxVias {
		l.refused[limVias].Inc()
		return Status(513, "Too Many Via Headers")
	}
	body := len(req.Body())
	if body > c.MaxBody {
		l.refused[limBody].Inc()
		return Status(413, "Body Too Large")
	}
	if size+2+body > c.MaxMessage {
		l.refused[limMessage].Inc()
		return Status(513, "Message Too Large")
	}
	return nil
}

// requestLen is req's size on the wire, counted without rendering it.
func requestLen(req *sip.Request) int {
	lw := lenWriterPool.Get().(*lenWriter)
	defer lenWriterPool.Put(lw)
	n := startLineLen(req) + 2 + len(req.Body())
	hs := req.Headers()
	for _, h := range hs {
		n += headerLen(h, lw) + 2
	}
	if len(hs) == 0 {
		n += 2 // sipgo ends even no headers with a CRLF
	}
	return n
}

// startLineLen is the length of req's start line, CRLF included.
func startLineLen(req *sip.Request) int {
	return len(req.Method) + uriLen(&req.Recipient) + len(req.SipVersion) + 4
}

// headerLen is the length of h's line ("Name: value", no CRLF), counted as
// the header writes itself rather than from Value(), which renders a new
// string per header. A Via, and the URIs of To, From and Contact, render
// new strings even in StringWrite (sipgo's URI writer parses every host as
// an IP to know whether to bracket it, which allocates for a hostname), so
// those are counted from their parts, as sipgo writes them.
func headerLen(h sip.Header, lw *lenWriter) int {
	switch h := h.(type) {
	case *sip.ViaHeader:
		return viaLen(h)
	case *sip.ToHeader:
		return nameAddrLen(len("To"), h.DisplayName, &h.Address, h.Params)
	case *sip.FromHeader:
		return nameAddrLen(len("From"), h.DisplayName, &h.Address, h.Params)
	case *sip.ContactHeader:
		if h.Address.Wildcard {
			return len("Contact: *")
		}
		return nameAddrLen(len("Contact"), h.DisplayName, &h.Address, h.Params)
	}
	*lw = 0
	h.StringWrite(lw)
	return int(*lw)
}

func viaLen(v *sip.ViaHeader) int {
	n := len("Via: ") + len(v.ProtocolName) + len(v.ProtocolVersion) + len(v.Transport) + len("// ") + len(v.Host)
	if bracketed(v.Host) {
		n += 2
	}
	if v.Port > 0 {
		n += 1 + decimalLen(v.Port)
	}
	return n + paramsLen(v.Params)
}

// nameAddrLen is the length of a To, From or Contact line as sipgo writes
// it: name, ": ", an optional quoted display name, the URI in angle
// brackets, the parameters.
func nameAddrLen(name int, display string, u *sip.Uri, params sip.HeaderParams) int {
	n := name + len(": <>") + uriLen(u)
	if display != "" {
		n += len(display) + len(`"" `)
	}
	return n + paramsLen(params)
}

// uriLen is the length of u as sip.Uri.StringWrite writes it.
func uriLen(u *sip.Uri) int {
	n := len(u.Scheme) + 1
	if u.Scheme == "" {
		n = len("sip:")
	}
	if raw := u.Raw(); raw != "" {
		return n + len(raw)
	}
	if u.HierarhicalSlashes {
		n += 2
	}
	if u.User != "" {
		n += len(u.User) + 1
		if u.Password != "" {
			n += 1 + len(u.Password)
		}
	}
	n += len(u.Host)
	if bracketed(u.Host) {
		n += 2
	}
	if u.Port > 0 {
		n += 1 + decimalLen(u.Port)
	}
	return n + paramsLen(u.UriParams) + paramsLen(u.Headers)
}

// paramsLen is the length of params with the separator before each, as
// sip.HeaderParams.ToStringWrite writes them after the one before the
// list (it renders its separator into a new string on every call). A value
// with a space or tab is quoted, as sipgo's writer does.
func paramsLen(params sip.HeaderParams) int {
	n := 0
	for _, kv := range params {
		n += 1 + len(kv.K)
		if kv.V == "" {
			continue
		}
		n += 1 + len(kv.V)
		if strings.ContainsAny(kv.V, " \t") {
			n += 2
		}
	}
	return n
}

// bracketed says whether sipgo writes host in brackets: a bare IPv6
// address, not a v4-mapped one, without a zone (net.ParseIP takes none).
func bracketed(host string) bool {
	if strings.IndexByte(host, ':') < 0 {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.Is6() && !a.Is4In6()
}

func decimalLen(n int) int {
	var b [20]byte
	return len(strconv.AppendInt(b[:0], int64(n), 10))
}

// lenWriter counts what is written to it.
type lenWriter int

func (w *lenWriter) WriteString(s string) (int, error) {
	*w += lenWriter(len(s))
	return len(s), nil
}

var lenWriterPool = sync.Pool{New: func() any { return new(lenWriter) }}

// wrap puts the connection limits and the idle timeout under a stream
// listener. Nil-safe so listeners built without limits still work.
func (l *limits) wrap(ln net.Listener) net.Listener {
	if l == nil {
		return ln
	}
	return &limitListener{Listener: ln, l: l}
}

// acquire counts a new connection from ip, or says which limit it breaks.
func (l *limits) acquire(ip netip.Addr) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.cfg.MaxConns {
		return limConnsTotal, false
	}
	if l.perIP[ip] >= l.cfg.ConnsPerIP && !l.allowed(ip) {
		return limConnsIP, false
	}
	l.perIP[ip]++
	l.total++
	l.open.Inc()
	return 0, true
}

func (l *limits) allowed(ip netip.Addr) bool {
	for _, p := range l.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (l *limits) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.perIP[ip]; n <= 1 {
		delete(l.perIP, ip)
	} else {
		l.perIP[ip] = n - 1
	}
	l.total--
	l.open.Dec()
}

// Conns reports the open inbound stream connections, in total and from ip.
func (s *Server) Conns(ip netip.Addr) (total, fromIP int) {
	if s.lim == nil {
		return 0, 0
	}
	s.lim.mu.Lock()
	defer s.lim.mu.Unlock()
	return s.lim.total, s.lim.perIP[ip.Unmap()]
}

// limitListener refuses connections over the limits at accept. It never
// returns an error for a refusal: sipgo's accept loop ends on the first one.
type limitListener struct {
	net.Listener
	l *limits
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addrPortOf(c.RemoteAddr()).Addr().Unmap()
		if reason, ok := ll.l.acquire(ip); !ok {
			ll.l.refused[reason].Inc()
			_ = c.Close()
			continue
		}
		lc := &limitConn{Conn: c, l: ll.l, ip: ip, idle: ll.l.cfg.IdleTimeout}
		lc.touch()
		return lc, nil
	}
}

// limitConn releases its count once and keeps pushing the read deadline
// out while there is traffic either way; sipgo closes a connection whose
// read fails, which is what ends an idle one.
type limitConn struct {
	net.Conn
	l      *limits
	ip     netip.Addr
	idle   time.Duration
	closed atomic.Bool
}

func (c *limitConn) touch() { _ = c.Conn.SetReadDeadline(time.Now().Add(c.idle)) }

func (c *limitConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.touch()
	}
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.l.refused[limIdle].Inc()
	}
	return n, err
}

func (c *limitConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.touch()
	}
	return n, err
}

// SetReadDeadline keeps the idle deadline when a caller (TLS or WS
// handshake code) clears its own, so a connection that never finishes its
// handshake is still ended.
func (c *limitConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		t = time.Now().Add(c.idle)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *limitConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (c *limitConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.ip)
	}
	return c.Conn.Close()
}
