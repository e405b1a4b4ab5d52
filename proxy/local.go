package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/registrar"
)

// localAddrs decides what the registrar is told as the receiving listener
// (Source.Local, shown as proxy_ip/proxy_port), in this order:
//
//  1. sip.advertise, resolved once at Listen; its port defaults to the
//     listener's.
//  2. The bound address, when Listen names an IP.
//  3. With a wildcard bind (":5060", "0.0.0.0:5060"): for TCP the accepted
//     connection's own local address, which the kernel makes concrete; for
//     UDP, where sipgo does not expose the datagram's destination address,
//     the first non-loopback interface address found at Listen (loopback if
//     there is none). Multi-homed hosts should set advertise or bind one IP.
type localAddrs struct {
	advertise    netip.Addr // valid when sip.advertise is set
	advertiseSet bool
	advPort      uint16 // 0: the listener's port
	bound        netip.Addr
	wildcard     bool
	fallback     netip.Addr // for UDP on a wildcard bind
	port         uint16
}

func (s *Server) resolveLocal() (localAddrs, error) {
	l := localAddrs{bound: s.udpAddr.Addr(), port: s.udpAddr.Port()}
	l.wildcard = l.bound.IsUnspecified()
	if l.wildcard {
		// ":5060" binds dual-stack and reports [::]; only an explicit "::"
		// asks for IPv6 first.
		host, _, _ := net.SplitHostPort(s.cfg.Listen)
		l.fallback = firstInterfaceAddr(strings.Contains(host, ":"))
	}
	if s.cfg.Advertise == "" {
		return l, nil
	}
	host, port, err := splitAdvertise(s.cfg.Advertise)
	if err != nil {
		return l, fmt.Errorf("proxy: sip.advertise: %w", err)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if lerr != nil || len(addrs) == 0 {
			return l, fmt.Errorf("proxy: sip.advertise: resolve %q: %w", host, lerr)
		}
		a = addrs[0]
	}
	l.advertise, l.advertiseSet, l.advPort = a.Unmap(), true, port
	return l, nil
}

func (l localAddrs) describe() string {
	switch {
	case l.advertiseSet:
		return netip.AddrPortFrom(l.advertise, l.portOr(l.port)).String()
	case l.wildcard:
		return "per connection (udp: " + l.fallback.String() + ")"
	}
	return netip.AddrPortFrom(l.bound, l.port).String()
}

func (l localAddrs) portOr(p uint16) uint16 {
	if l.advPort != 0 {
		return l.advPort
	}
	return p
}

// firstInterfaceAddr prefers a global IPv4 address, then any non-loopback
// one; loopback when the host has nothing else.
func firstInterfaceAddr(prefer6 bool) netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.IPv4Unspecified()
	}
	var v4, v6 netip.Addr
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
			continue
		}
		if ip.Is4() && !v4.IsValid() {
			v4 = ip
		}
		if ip.Is6() && !v6.IsValid() {
			v6 = ip
		}
	}
	if prefer6 && v6.IsValid() {
		return v6
	}
	if v4.IsValid() {
		return v4
	}
	if v6.IsValid() {
		return v6
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// source builds what the registrar needs to know about where req came from.
func (s *Server) source(tx sip.ServerTransaction, req *sip.Request) (registrar.Source, error) {
	addr, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return registrar.Source{}, fmt.Errorf("proxy: source %q: %w", req.Source(), err)
	}
	tr := transportOf(req.Transport())
	return registrar.Source{
		Addr:      netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()),
		Local:     s.localFor(tx, tr),
		Transport: tr,
	}, nil
}

func (s *Server) localFor(tx sip.ServerTransaction, tr location.Transport) netip.AddrPort {
	s.mu.Lock()
	l := s.local
	s.mu.Unlock()
	if tr != location.UDP && tr != location.TCP {
		// Stream listeners have their own ports (and address, when bound
		// to one).
		if sl := s.streams.get(tr); sl != nil {
			a := sl.addr
			switch {
			case l.advertiseSet:
				return netip.AddrPortFrom(l.advertise, a.Port())
			case !a.Addr().IsUnspecified():
				return a
			}
			l.port = a.Port()
		}
	}
	switch {
	case l.advertiseSet:
		return netip.AddrPortFrom(l.advertise, l.portOr(l.port))
	case !l.wildcard:
		return netip.AddrPortFrom(l.bound, l.port)
	}
	if tr != location.UDP {
		if stx, ok := unwrap(tx).(*sip.ServerTx); ok && stx.Connection() != nil {
			if a := addrPortOf(stx.Connection().LocalAddr()); a.IsValid() && !a.Addr().IsUnspecified() {
				return a
			}
		}
	}
	return netip.AddrPortFrom(l.fallback, l.port)
}

func transportOf(t string) location.Transport {
	switch strings.ToUpper(t) {
	case "TCP":
		return location.TCP
	case "TLS":
		return location.TLS
	case "WS":
		return location.WS
	case "WSS":
		return location.WSS
	}
	return location.UDP
}

// addrPortOf turns a net.Addr into an unmapped netip.AddrPort (zero if it
// is neither UDP nor TCP).
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		if a == nil {
			return netip.AddrPort{}
		}
		p, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.AddrPort{}
		}
		ap = p
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
