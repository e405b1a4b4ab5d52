package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/sipedge/sipedge/location"
)

// portTries is how often a port-0 bind picks a new port when UDP finds the
// TCP-chosen port taken.
const portTries = 8

// listenPair binds TCP and UDP on the same port. With port 0 the kernel picks
// a free TCP port and UDP follows it; the UDP port can be taken even so, in
// which case both are let go and tried again.
// wrap puts sip.limits' connection limits under the TCP listener.
func listenPair(host string, port uint16, wrap func(net.Listener) net.Listener) (net.PacketConn, net.Listener, error) {
	udpNet, tcpNet := "udp", "tcp"
	// An IPv4 literal binds IPv4 only (so LocalAddr reports 0.0.0.0, not
	// [::], which later pins outgoing UDP to the right socket).
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is4() {
			udpNet, tcpNet = "udp4", "tcp4"
		} else {
			udpNet, tcpNet = "udp6", "tcp6"
		}
	}
	var lc net.ListenConfig
	ctx := context.Background()
	tries := 1
	if port == 0 {
		tries = portTries
	}
	var lastErr error
	for range tries {
		ln, err := lc.Listen(ctx, tcpNet, net.JoinHostPort(host, strconv.Itoa(int(port))))
		if err != nil {
			return nil, nil, fmt.Errorf("proxy: listen tcp %s: %w", net.JoinHostPort(host, strconv.Itoa(int(port))), err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		addr := net.JoinHostPort(host, strconv.Itoa(p))
		pc, err := lc.ListenPacket(ctx, udpNet, addr)
		if err == nil {
			return pc, &flowListener{Listener: wrap(ln), tr: location.TCP}, nil
		}
		_ = ln.Close()
		lastErr = fmt.Errorf("proxy: listen udp %s: %w", addr, err)
		if port != 0 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, lastErr
		}
	}
	return nil, nil, lastErr
}

// setReadBuffer asks for sip.udp_read_buffer: Go leaves SO_RCVBUF at the
// system default, and a REGISTER storm overflows that long before the CPU is
// busy. The kernel silently caps the value, so log what it granted.
func (s *Server) setReadBuffer(pc net.PacketConn) {
	if s.cfg.UDPReadBuffer == 0 {
		return
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return
	}
	if err := uc.SetReadBuffer(s.cfg.UDPReadBuffer); err != nil {
		s.log.Warn("udp read buffer not set", "want", s.cfg.UDPReadBuffer, "err", err)
		return
	}
	got, ok := readBufferSize(uc)
	if !ok {
		s.log.Info("udp read buffer set", "want", s.cfg.UDPReadBuffer)
		return
	}
	// Linux reports twice what it keeps for data (the other half is
	// bookkeeping); capped at net.core.rmem_max before doubling.
	if got < s.cfg.UDPReadBuffer {
		s.log.Warn("udp read buffer capped by the kernel; raise net.core.rmem_max", "want", s.cfg.UDPReadBuffer, "got", got)
		return
	}
	s.log.Info("udp read buffer set", "want", s.cfg.UDPReadBuffer, "got", got)
}
