package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The REGISTER fast path answers a UDP REGISTER inside sipgo's read filter,
// in the reader goroutine, without a server transaction: no goroutine per
// request, no transaction timers, no 32 s of Timer J retention. RFC 3261
// lets a registrar answer statelessly (Kamailio's stock config does): a
// retransmission is simply handled again, which the registrar makes
// idempotent (same Call-ID and CSeq → the same 200). Everything else, and
// REGISTER over any stream transport, goes on through sipgo as before.
//
// The request still runs through the same chain (recover, admission, sanity,
// NAT Via fix) and the same registrar entry point as the slow path; only the
// transaction under it differs.

// registerPrefix is how every REGISTER datagram starts (method names are
// case-sensitive, RFC 3261 §7.1).
var registerPrefix = []byte("REGISTER ")

// fastPath is the state the fast path needs: the socket to answer on and a
// chain that ends at the registrar.
type fastPath struct {
	conn    atomic.Pointer[fastConn]
	handler Handler
	parser  *sip.Parser
	// challenge is the stateless INVITE challenge (challenge.go), set by
	// EnableForwarding; nil when off.
	challenge atomic.Pointer[challengePath]
	// dialog forwards ACKs for 2xx and BYEs (dialogpath.go), set by
	// EnableForwarding; nil when off. invites are what it must leave to
	// sipgo.
	dialog  atomic.Pointer[dialogPath]
	invites inviteBranches
}

// fastConn is the UDP listener the fast path answers on. Only datagrams that
// arrived on it are taken; anything else (another UDP socket someone served
// on the same user agent) goes to sipgo.
type fastConn struct {
	pc   net.PacketConn
	port int
}

// initFastPath builds the fast path when sip.register_fast_path is on and
// there is a registrar to answer.
func (s *Server) initFastPath() {
	if !s.cfg.RegisterFastPath || s.reg == nil {
		return
	}
	s.fast = &fastPath{
		handler: buildChain(HandlerFunc(s.registerStateless), s.chain()),
		parser:  sip.NewParser(),
	}
}

// fastListen points the fast path at the bound UDP socket.
func (s *Server) fastListen(pc net.PacketConn) {
	if s.fast == nil || pc == nil {
		return
	}
	port := 0
	if a, ok := pc.LocalAddr().(*net.UDPAddr); ok {
		port = a.Port
	}
	s.fast.conn.Store(&fastConn{pc: pc, port: port})
}

// registerStateless is register for a request with no transaction behind
// it: the registrar answers retransmissions itself.
func (s *Server) registerStateless(_ context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	src, err := s.source(tx, req)
	if err != nil {
		return &StatusError{Code: 400, Reason: "Bad Request", Err: err}
	}
	res := s.reg.HandleRegisterStateless(req, src)
	if res == nil {
		return nil
	}
	if err := tx.Respond(res); err != nil {
		return fmt.Errorf("proxy: register: %w", err)
	}
	return nil
}

// fastReadFilter is the read filter sipgo calls: the usual filters first
// (junk, flood, scanners), then the fast path for what they let through.
// Like readFilter it never returns an error for UDP.
func (s *Server) fastReadFilter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	out, err := s.readFilter(p, data)
	if err != nil || len(out) == 0 || p.Transport != "UDP" {
		return out, err
	}
	if s.fastRegister(p, out) || s.fastChallenge(p, out) || s.fastAck(out) || s.fastDialog(p, out) || s.fastAnswer(p, out) {
		return nil, nil
	}
	s.batch.Load().handOff(p.LocalAddr)
	return out, nil
}

// fastRegister handles data if it is a REGISTER that arrived on our UDP
// listener, and reports whether it took it. It never panics: a panic
// anywhere below drops the datagram and counts, since the reader goroutine
// it runs in is the only one reading the socket.
func (s *Server) fastRegister(p sip.TransportReadProps, data []byte) (taken bool) {
	f := s.fast
	if f == nil || !bytes.HasPrefix(data, registerPrefix) {
		return false
	}
	fc, raddr := f.ours(p)
	if fc == nil {
		return false
	}
	defer s.fastRecover("register", raddr, &taken)
	if s.rawRegister(fc, p.LocalAddr, raddr, data) {
		return true
	}
	req := f.request(data)
	if req == nil || req.Method != sip.REGISTER {
		return false
	}
	s.serveFast(f.handler, fc, raddr, req)
	return true
}

// request is data parsed as a request; nil for anything else. Bytes sipgo
// cannot parse go on to it, which parses them again and drops them with
// its own (rate-limited) log line: one behaviour for unparseable bytes.
func (f *fastPath) request(data []byte) *sip.Request {
	msg, err := f.parser.ParseSIP(data)
	if err != nil {
		return nil
	}
	req, _ := msg.(*sip.Request)
	return req
}

// ours is the listener data arrived on and its source, when it is our UDP
// listener; nil otherwise.
func (f *fastPath) ours(p sip.TransportReadProps) (*fastConn, *net.UDPAddr) {
	fc := f.conn.Load()
	if fc == nil {
		return nil, nil
	}
	if la, ok := p.LocalAddr.(*net.UDPAddr); !ok || la.Port != fc.port {
		return nil, nil
	}
	raddr, ok := p.RemoteAddr.(*net.UDPAddr)
	if !ok {
		return nil, nil
	}
	return fc, raddr
}

// fastRecover keeps a panic below a fast path from killing the reader
// goroutine, the only one reading the socket: the datagram is dropped
// (taken) and counted.
func (s *Server) fastRecover(path string, raddr *net.UDPAddr, taken *bool) {
	if v := recover(); v != nil {
		s.m.panics.Inc()
		s.log.Error("panic in sip "+path+" fast path", "src", raddr.String(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		*taken = true
	}
}

// serveFast is adapt for the fast path: the same metrics, drain tracking
// and error answers, with a fastTx in place of sipgo's transaction.
func (s *Server) serveFast(h Handler, fc *fastConn, raddr *net.UDPAddr, req *sip.Request) {
	start := time.Now()
	req.SetTransport("UDP")
	req.SetSource(raddr.String())
	mi := methodIndex(req.Method)
	s.m.requests[mi][0].Inc() // transportNames[0] is UDP
	s.track.enter()
	defer s.track.leave()

	tx := fastTxPool.Get().(*fastTx)
	tx.pc, tx.dst, tx.toTagged = fc.pc, raddr, hasToTag(req)
	w := &txWriter{ServerTransaction: tx, s: s, req: req, method: mi}
	// The registrar never blocks on ctx; the base ctx still tells the
	// chain when the server is stopping, without a timer per request.
	if err := h.ServeSIP(s.baseCtx, w, req); err != nil {
		s.answerError(w, req, err)
	}
	tx.pc, tx.dst = nil, nil
	fastTxPool.Put(tx)
	s.m.duration[mi].Observe(time.Since(start).Seconds())
}

var fastTxPool = sync.Pool{New: func() any { return new(fastTx) }}

// errNoTransaction answers what a stateless request has no use for.
var errNoTransaction = errors.New("proxy: stateless request has no transaction")

// fastTx is the ServerTransaction of a stateless REGISTER: Respond writes
// the response straight to the packet's source (RFC 3581 rport semantics:
// the source address and port, whatever the Via says).
type fastTx struct {
	pc  net.PacketConn
	dst *net.UDPAddr
	// toTagged: the request's To already has a tag, which the response
	// must echo unchanged.
	toTagged bool
	buf      bytes.Buffer
}

// Respond implements sip.ServerTransaction.
func (t *fastTx) Respond(res *sip.Response) error {
	if t.pc == nil {
		return errNoTransaction
	}
	if !t.toTagged {
		stableToTag(res)
	}
	t.buf.Reset()
	res.StringWrite(&t.buf)
	if _, err := t.pc.WriteTo(t.buf.Bytes(), t.dst); err != nil {
		return fmt.Errorf("proxy: fast path write to %s: %w", t.dst, err)
	}
	return nil
}

// stableToTag replaces the random To-tag sipgo put on the response with one
// derived from the request's identity (Call-ID, CSeq, From tag, branch), as
// Kamailio's sl module does: a retransmission then gets the very same
// answer without any state kept. A REGISTER's To-tag names no dialog, so it
// only has to be stable and ours.
func stableToTag(res *sip.Response) {
	to := res.To()
	if to == nil || res.StatusCode < 101 {
		return
	}
	var callID, fromTag, branch string
	var seq uint32
	if c := res.CallID(); c != nil {
		callID = c.Value()
	}
	if c := res.CSeq(); c != nil {
		seq = c.SeqNo
	}
	if f := res.From(); f != nil {
		fromTag, _ = f.Params.Get("tag")
	}
	if v := res.Via(); v != nil {
		branch, _ = v.Params.Get("branch")
	}
	var out [16]byte
	to.Params.Add("tag", string(strconv.AppendUint(out[:0], stableTag(callID, seq, fromTag, branch), 36)))
}

// Acks implements sip.ServerTransaction; a REGISTER has none.
func (t *fastTx) Acks() <-chan *sip.Request { return nil }

// OnCancel implements sip.ServerTransaction; a REGISTER is never cancelled
// here (a CANCEL for it goes through sipgo and matches nothing: 481).
func (t *fastTx) OnCancel(sip.FnTxCancel) bool { return false }

// OnTerminate implements sip.ServerTransaction: already terminated.
func (t *fastTx) OnTerminate(sip.FnTxTerminate) bool { return false }

// Done implements sip.ServerTransaction: always done.
func (t *fastTx) Done() <-chan struct{} { return closedChan }

// Err implements sip.ServerTransaction.
func (t *fastTx) Err() error { return nil }

// Terminate implements sip.ServerTransaction; nothing to end.
func (t *fastTx) Terminate() {}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// ensure the interface stays satisfied as sipgo evolves.
var _ sip.ServerTransaction = (*fastTx)(nil)
