package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Responder is a trivial UDP SIP server: it challenges a REGISTER without
// credentials, answers an ACK with nothing and everything else 200 (an
// INVITE's with its Request-URI as Contact, so a call's ACK and BYE have
// a target), checking nothing. It
// exists to measure the generator's own ceiling: whatever rate the
// generator holds against it, the generator is not the limit below that.
type Responder struct {
	conn    *net.UDPConn
	readers int
	served  atomic.Int64
}

// NewResponder binds addr ("127.0.0.1:0") for readers goroutines.
func NewResponder(addr string, readers int) (*Responder, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: responder: %w", err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("bench: responder: %w", err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	return &Responder{conn: conn, readers: max(readers, 1)}, nil
}

// Addr is the bound address.
func (r *Responder) Addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Served counts the responses sent.
func (r *Responder) Served() int64 { return r.served.Load() }

// Serve answers until ctx ends, then closes the socket.
func (r *Responder) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	for range r.readers {
		wg.Add(1)
		go func() { defer wg.Done(); r.loop() }()
	}
	<-ctx.Done()
	err := r.conn.Close()
	wg.Wait()
	return err
}

func (r *Responder) loop() {
	in := make([]byte, 65536)
	out := make([]byte, 0, 4096)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if isClosed(err) {
				return
			}
			continue
		}
		out = respond(in[:n], out[:0])
		if len(out) == 0 {
			continue
		}
		if _, err := r.conn.WriteToUDPAddrPort(out, from); err == nil {
			r.served.Add(1)
		}
	}
}

// respond builds the answer to req into out; empty for a non-request.
func respond(req, out []byte) []byte {
	eol := bytes.IndexByte(req, '\n')
	if eol < 0 || bytes.HasPrefix(req, []byte("SIP/2.0")) {
		return out
	}
	reqLine := bytes.TrimRight(req[:eol], "\r")
	method, rest, _ := bytes.Cut(reqLine, []byte(" "))
	uri, _, _ := bytes.Cut(rest, []byte(" "))
	hdrs := req[eol+1:]
	if bytes.Equal(method, []byte("ACK")) {
		return out
	}
	challenge := bytes.Equal(method, []byte("REGISTER")) && !hasHeader(hdrs, "authorization")
	if challenge {
		out = append(out, "SIP/2.0 401 Unauthorized\r\n"...)
	} else {
		out = append(out, "SIP/2.0 200 OK\r\n"...)
	}
	for len(hdrs) > 0 {
		i := bytes.IndexByte(hdrs, '\n')
		if i < 0 {
			break
		}
		line := hdrs[:i+1]
		hdrs = hdrs[i+1:]
		body := bytes.TrimRight(line, "\r\n")
		if len(body) == 0 {
			break
		}
		colon := bytes.IndexByte(body, ':')
		if colon <= 0 {
			continue
		}
		name := bytes.TrimSpace(body[:colon])
		switch {
		case isHeader(name, "via", "v"), isHeader(name, "from", "f"), isHeader(name, "call-id", "i"), isHeader(name, "cseq", ""):
			out = append(out, body...)
			out = append(out, "\r\n"...)
		case isHeader(name, "to", "t"):
			out = append(out, body...)
			if param(afterURI(body[colon+1:]), "tag") == nil {
				out = append(out, ";tag=responder"...)
			}
			out = append(out, "\r\n"...)
		}
	}
	if bytes.Equal(method, []byte("INVITE")) {
		out = append(out, "Contact: <"...)
		out = append(out, uri...)
		out = append(out, ">\r\n"...)
	}
	if challenge {
		realm := bytes.TrimPrefix(uri, []byte("sip:"))
		out = append(out, `WWW-Authenticate: Digest realm="`...)
		out = append(out, realm...)
		out = append(out, `", nonce="responder0123456789abcdef", algorithm=MD5, qop="auth"`+"\r\n"...)
	}
	return append(out, "Content-Length: 0\r\n\r\n"...)
}

// hasHeader reports whether the header block holds name (long form).
func hasHeader(hdrs []byte, name string) bool {
	for len(hdrs) > 0 {
		line, rest, _ := bytes.Cut(hdrs, []byte("\n"))
		hdrs = rest
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			return false
		}
		if colon := bytes.IndexByte(line, ':'); colon > 0 && isHeader(bytes.TrimSpace(line[:colon]), name, "") {
			return true
		}
	}
	return false
}
