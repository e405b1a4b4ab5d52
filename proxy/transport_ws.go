package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// WSConfig is sip.ws: SIP over WebSocket (RFC 7118) for browsers and
// WebRTC phones.
type WSConfig struct {
	// Listen is the plain WS address (e.g. ":8080"); TLSListen the WSS one
	// (e.g. ":8443"), which uses sip.tls's certificate. Empty: none.
	Listen    string `yaml:"listen"`
	TLSListen string `yaml:"tls_listen"`
	// Origins lists the Origin values (scheme://host[:port]) a browser may
	// connect from; empty allows any. Clients that send no Origin (phones,
	// not browsers) are always let in: the header only binds browsers.
	Origins []string `yaml:"origins"`
}

func (c WSConfig) validate(t TLSConfig) error {
	if c.Listen != "" {
		if err := validListen("sip.ws.listen", c.Listen); err != nil {
			return err
		}
	}
	if c.TLSListen != "" {
		if err := validListen("sip.ws.tls_listen", c.TLSListen); err != nil {
			return err
		}
		if !t.hasCert() {
			return errors.New("sip.ws.tls_listen: needs sip.tls.cert and sip.tls.key")
		}
	}
	for i, o := range c.Origins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || strings.ContainsAny(o, "\r\n\x00 ") {
			return fmt.Errorf("sip.ws.origins[%d]: %q is not scheme://host[:port]", i, o)
		}
	}
	return nil
}

// wsHandshakeLimit bounds the HTTP upgrade: sipgo reads it inside its
// accept loop, so a client that connects and says nothing would stall
// every other WebSocket client.
const wsHandshakeLimit = 5 * time.Second

// maxUpgradeHead bounds the HTTP upgrade request we buffer.
const maxUpgradeHead = 8 << 10

// originListener checks the Origin of each WebSocket upgrade before sipgo
// sees it: a browser page from elsewhere gets 403 and the connection ends.
type originListener struct {
	net.Listener
	allowed []string
}

func (l *originListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &originConn{Conn: c, allowed: l.allowed}, nil
}

// originConn reads the upgrade request on the first Read, checks it, and
// hands the bytes on unchanged.
type originConn struct {
	net.Conn
	allowed []string
	checked bool
	pending []byte
}

var errOrigin = errors.New("proxy: websocket origin not allowed")

func (c *originConn) Read(p []byte) (int, error) {
	if !c.checked {
		c.checked = true
		if err := c.check(); err != nil {
			return 0, err
		}
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *originConn) check() error {
	if err := c.SetReadDeadline(time.Now().Add(wsHandshakeLimit)); err != nil {
		return err
	}
	buf := make([]byte, 0, 1024)
	tmp := make([]byte, 1024)
	for !bytes.Contains(buf, []byte("\r\n\r\n")) {
		if len(buf) >= maxUpgradeHead {
			return errors.New("proxy: websocket upgrade too long")
		}
		n, err := c.Conn.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			return err
		}
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	c.pending = buf
	origin, ok := headerValue(buf, "origin")
	if !ok || originAllowed(origin, c.allowed) {
		return nil
	}
	_, _ = c.Write([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	return errOrigin
}

// headerValue finds an HTTP header in a request head (case-insensitive).
func headerValue(head []byte, name string) (string, bool) {
	end := bytes.Index(head, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(head)
	}
	lines := strings.Split(string(head[:end]), "\r\n")
	for _, line := range lines[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func originAllowed(origin string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range allowed {
		if strings.EqualFold(origin, a) {
			return true
		}
	}
	return false
}
