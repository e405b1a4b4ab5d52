package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/sipedge/sipedge/location"
)

// TLSConfig is sip.tls: SIP over TLS (RFC 3261 §26.2), TLS 1.2 or newer.
// Its certificate also serves WSS.
type TLSConfig struct {
	// Listen is the TLS address, e.g. ":5061"; empty: no TLS listener.
	Listen string `yaml:"listen"`
	// Cert and Key are PEM files, read at ListenStreams.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// Certificates, when set, are used instead of the files.
	Certificates []tls.Certificate `yaml:"-"`
}

func (c TLSConfig) hasCert() bool { return len(c.Certificates) > 0 || (c.Cert != "" && c.Key != "") }

// validListen checks a listen address for field.
func validListen(field, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port: %w", field, addr, err)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%s: host %q must be an IP address or empty", field, host)
		}
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

func (c TLSConfig) validate() error {
	if c.Listen == "" {
		return nil
	}
	if err := validListen("sip.tls.listen", c.Listen); err != nil {
		return err
	}
	if !c.hasCert() {
		return errors.New("sip.tls.cert: cert and key files are required with sip.tls.listen")
	}
	return nil
}

// streamListener is one TLS, WS or WSS listener.
type streamListener struct {
	raw  *flowListener // the TCP listener under TLS and WS, for the close hook
	ln   net.Listener
	addr netip.AddrPort
}

// streamState holds the stream listeners beside the UDP/TCP pair.
type streamState struct {
	mu sync.Mutex
	l  map[location.Transport]*streamListener
}

// streamPort reports whether port is one of the stream listeners'.
func (s *Server) streamPort(port int) bool {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	for _, l := range s.streams.l {
		if int(l.addr.Port()) == port {
			return true
		}
	}
	return false
}

func (st *streamState) get(tr location.Transport) *streamListener {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.l[tr]
}

// ListenStreams binds the configured TLS, WS and WSS listeners (none is a
// no-op). Call it after Listen and before EnableForwarding, then run
// ServeStreams beside Serve.
func (s *Server) ListenStreams() error {
	tc, wc := s.cfg.TLS, s.cfg.WS
	var tlsCfg *tls.Config
	if tc.Listen != "" || wc.TLSListen != "" {
		certs := tc.Certificates
		if len(certs) == 0 {
			cert, err := tls.LoadX509KeyPair(tc.Cert, tc.Key)
			if err != nil {
				return fmt.Errorf("proxy: sip.tls: %w", err)
			}
			certs = []tls.Certificate{cert}
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs}
	}
	want := []struct {
		tr   location.Transport
		addr string
	}{{location.TLS, tc.Listen}, {location.WS, wc.Listen}, {location.WSS, wc.TLSListen}}
	bound := map[location.Transport]*streamListener{}
	for _, w := range want {
		if w.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", w.addr)
		if err != nil {
			for _, l := range bound {
				_ = l.ln.Close()
			}
			return fmt.Errorf("proxy: listen %s %s: %w", w.tr, w.addr, err)
		}
		raw := &flowListener{Listener: s.lim.wrap(ln), tr: w.tr}
		var l net.Listener = raw
		if w.tr != location.WS {
			l = tls.NewListener(l, tlsCfg)
		}
		if w.tr == location.TLS {
			// CRLF pongs are only visible above TLS (crlf.go).
			l = &pongListener{Listener: l, tr: w.tr, w: &s.flow.pongs}
		}
		if w.tr != location.TLS {
			// The Origin is in the HTTP upgrade, inside TLS for WSS.
			l = &originListener{Listener: l, allowed: wc.Origins}
		}
		bound[w.tr] = &streamListener{raw: raw, ln: l, addr: addrPortOf(ln.Addr())}
		s.log.Info("sip listening", w.tr.String(), addrPortOf(ln.Addr()).String())
	}
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	if s.streams.l != nil {
		for _, l := range bound {
			_ = l.ln.Close()
		}
		return errors.New("proxy: streams already listening")
	}
	s.streams.l = bound
	return nil
}

// ListenerAddr is the bound address of a transport ("UDP", "TCP", "TLS",
// "WS", "WSS"); zero when it has no listener.
func (s *Server) ListenerAddr(transport string) netip.AddrPort {
	tr := transportOf(transport)
	switch tr {
	case location.UDP:
		if transport != "UDP" && transport != "udp" {
			return netip.AddrPort{}
		}
		return s.UDPAddr()
	case location.TCP:
		return s.TCPAddr()
	}
	if l := s.streams.get(tr); l != nil {
		return l.addr
	}
	return netip.AddrPort{}
}

// ServeStreams serves the stream listeners until ctx is done (returns at
// once without any). Run it beside Serve, under the same context.
func (s *Server) ServeStreams(ctx context.Context) error {
	s.streams.mu.Lock()
	ls := make(map[location.Transport]*streamListener, len(s.streams.l))
	for tr, l := range s.streams.l {
		ls[tr] = l
	}
	s.streams.mu.Unlock()
	if len(ls) == 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for tr, l := range ls {
		g.Go(func() error {
			var err error
			switch tr {
			case location.TLS:
				err = s.srv.ServeTLS(l.ln)
			case location.WS:
				err = s.srv.ServeWS(l.ln)
			case location.WSS:
				err = s.srv.ServeWSS(l.ln)
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("proxy: %s %s: %w", tr, l.addr, err)
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		for _, l := range ls {
			_ = l.ln.Close()
		}
		return nil
	})
	return g.Wait()
}
