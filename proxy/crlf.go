package proxy

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipedge/sipedge/location"
)

// CRLF keepalives (RFC 5626 §3.5.1, §4.4.1): on a TCP or TLS flow the ping
// is a double CRLF written between messages and the pong a single CRLF.
// sipgo answers a phone's pings itself but drops the pongs it reads, so
// the connections we accept are watched (flowConn for TCP, pongConn above
// TLS) and a pong wakes the ping waiting on that flow.

// crlfPing is the RFC 5626 ping.
var crlfPing = []byte("\r\n\r\n")

type pongKey struct {
	tr     location.Transport
	remote netip.AddrPort
}

// pongWaiters maps a flow to the pings waiting on it: one pong answers
// them all (two bindings may share a connection).
type pongWaiters struct {
	n  atomic.Int32 // waiting pings, so reads skip the lock when there is none
	mu sync.Mutex
	m  map[pongKey]*pongEntry
}

type pongEntry struct {
	pong chan struct{} // closed by the pong
	refs int
}

// wait registers a ping on the flow; done must be called when it is over.
func (w *pongWaiters) wait(k pongKey) (<-chan struct{}, func()) {
	w.mu.Lock()
	if w.m == nil {
		w.m = make(map[pongKey]*pongEntry)
	}
	e := w.m[k]
	if e == nil {
		e = &pongEntry{pong: make(chan struct{})}
		w.m[k] = e
	}
	e.refs++
	w.mu.Unlock()
	w.n.Add(1)
	return e.pong, func() {
		w.mu.Lock()
		e.refs--
		if e.refs == 0 && w.m[k] == e {
			delete(w.m, k)
		}
		w.mu.Unlock()
		w.n.Add(-1)
	}
}

// read sees what one Read returned on a flow. A pong is a CRLF that is not
// a ping (a second CRLF right behind it); a message may follow it in the
// same read.
func (w *pongWaiters) read(tr location.Transport, remote net.Addr, data []byte) {
	if w.n.Load() == 0 || len(data) < 2 || data[0] != '\r' || data[1] != '\n' {
		return
	}
	if len(data) >= 4 && data[2] == '\r' && data[3] == '\n' {
		return
	}
	k := pongKey{tr, addrPortOf(remote)}
	w.mu.Lock()
	if e := w.m[k]; e != nil {
		close(e.pong)
		delete(w.m, k)
	}
	w.mu.Unlock()
}

// pongListener watches the plaintext reads of TLS connections.
type pongListener struct {
	net.Listener
	tr location.Transport
	w  *pongWaiters
}

func (l *pongListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &pongConn{Conn: c, l: l}, nil
}

type pongConn struct {
	net.Conn
	l *pongListener
}

func (c *pongConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.l.w.read(c.l.tr, c.RemoteAddr(), b[:n])
	}
	return n, err
}

// crlfFlow reports whether a binding is pinged with CRLF rather than OPTIONS.
func crlfFlow(tr location.Transport) bool {
	return tr == location.TCP || tr == location.TLS
}

// pingCRLF writes a double CRLF on the binding's own connection and waits
// for the pong. A flow with no connection is gone; we never dial a phone.
func (s *Server) pingCRLF(ctx context.Context, b location.Binding, timeout time.Duration) string {
	network := strings.ToUpper(b.Transport.String())
	conn, err := s.ua.TransportLayer().GetConnection(network, b.Source.String())
	if err != nil || conn == nil {
		return "gone"
	}
	defer func() { _, _ = conn.TryClose() }() // GetConnection took a reference
	wr, ok := conn.(io.Writer)
	if !ok {
		return "gone"
	}
	src := netip.AddrPortFrom(b.Source.Addr().Unmap(), b.Source.Port())
	pong, done := s.flow.pongs.wait(pongKey{b.Transport, src})
	defer done()
	if _, err := wr.Write(crlfPing); err != nil {
		return "gone"
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-pong:
		return "answered"
	case <-t.C:
		return "timeout"
	case <-ctx.Done():
		return "timeout"
	}
}
