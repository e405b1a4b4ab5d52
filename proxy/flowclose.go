package proxy

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/sipedge/sipedge/location"
)

// flowListener wraps the TCP listener so that we learn when a phone's
// connection closes (sipgo v1.7.2 keeps its own close hook private): the
// bindings registered over it can no longer be reached, since nobody can
// dial a phone behind NAT, so they go at once (RFC 5626 §5.2's rule for
// flows) instead of lingering until they expire.
type flowListener struct {
	net.Listener
	tr      location.Transport
	onClose atomic.Pointer[func(location.Transport, netip.AddrPort)]
	// pongs, when set, sees what plain TCP connections read (crlf.go);
	// under TLS and WS the bytes here are not SIP yet.
	pongs atomic.Pointer[pongWaiters]
}

func (l *flowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &flowConn{Conn: c, l: l}, nil
}

type flowConn struct {
	net.Conn
	l    *flowListener
	once sync.Once
}

func (c *flowConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.l.tr == location.TCP {
		if w := c.l.pongs.Load(); w != nil {
			w.read(location.TCP, c.RemoteAddr(), b[:n])
		}
	}
	return n, err
}

// Close is called by sipgo when the read side ends (peer closed, read
// error, framing error) and when the transport layer shuts down.
func (c *flowConn) Close() error {
	c.once.Do(func() {
		if fn := c.l.onClose.Load(); fn != nil {
			(*fn)(c.l.tr, addrPortOf(c.RemoteAddr()))
		}
	})
	return c.Conn.Close()
}

// watchFlows removes the bindings of a TCP connection when it closes;
// not at shutdown, when every connection closes and the snapshot should
// still hold the bindings (phones reconnect and refresh them).
func (f *forwarder) watchFlows() {
	fn := func(tr location.Transport, remote netip.AddrPort) {
		if f.s.baseCtx.Err() != nil || !remote.IsValid() {
			return
		}
		if n := f.loc.RemoveFlow(tr, remote); n > 0 {
			f.s.log.Info("connection closed, bindings removed", "transport", tr.String(), "src", remote.String(), "bindings", n)
		}
	}
	f.s.mu.Lock()
	tcp, _ := f.s.tcp.(*flowListener)
	f.s.mu.Unlock()
	if tcp != nil {
		tcp.onClose.Store(&fn)
	}
	f.s.streams.mu.Lock()
	for _, l := range f.s.streams.l {
		l.raw.onClose.Store(&fn)
	}
	f.s.streams.mu.Unlock()
}
