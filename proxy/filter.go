package proxy

import (
	"errors"
	"net"

	"github.com/emiago/sipgo/sip"
)

// minDatagram is shorter than any SIP message ("OPTIONS sip:a SIP/2.0" alone
// is 22 bytes); anything below it is a probe or a keepalive.
const minDatagram = 16

// errFiltered closes a stream connection whose bytes a ReadFilter refused.
var errFiltered = errors.New("proxy: refused by read filter")

// ReadFilter inspects raw bytes before sipgo parses them and returns false
// to drop them. transport is "UDP", "TCP", …; data is sipgo's shared read
// buffer: copy it to keep it. On UDP a refused datagram is dropped; on a
// stream (TCP) a refusal closes that connection, since dropping part of a
// stream would wreck its framing. The flood limiter plugs in here.
type ReadFilter func(transport string, remote net.Addr, data []byte) bool

// AddReadFilter appends f to the filters run on every read, after the
// built-in junk check. Safe to call at any time.
func (s *Server) AddReadFilter(f ReadFilter) {
	for {
		old := s.filters.Load()
		next := append(append(make([]ReadFilter, 0, len(*old)+1), *old...), f)
		if s.filters.CompareAndSwap(old, &next) {
			return
		}
	}
}

// readFilter is sipgo's hook. It must never return an error for UDP: sipgo's
// UDP reader stops for good on one, leaving the socket open and unread.
func (s *Server) readFilter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	udp := p.Transport == "UDP"
	if udp {
		if r, junk := junkDatagram(data); junk {
			s.m.dropped[r].Inc()
			return nil, nil
		}
	}
	for _, f := range *s.filters.Load() {
		if f(p.Transport, p.RemoteAddr, data) {
			continue
		}
		if udp {
			s.m.dropped[dropFilter].Inc()
			return nil, nil
		}
		return nil, errFiltered
	}
	return data, nil
}

// junkDatagram spots what is obviously not SIP: CR/LF keepalives (RFC 5626
// §3.5.1 sends them; sipgo only skips up to 4 bytes of them), anything
// shorter than a request line, and anything not starting with a letter
// (STUN keepalives, binary scanners, TLS hellos sent to the UDP port).
// Every SIP start line begins with a method token or "SIP/2.0".
func junkDatagram(b []byte) (dropReason, bool) {
	blank := true
	for _, c := range b {
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' && c != 0 {
			blank = false
			break
		}
	}
	switch {
	case blank:
		return dropKeepalive, true
	case len(b) < minDatagram:
		return dropShort, true
	case !isTokenChar(b[0]):
		// A request starts with its method, a token (RFC 3261 §25.1: RFC 4475
		// intmeth starts with "!"); a response starts with "SIP/".
		return dropNotSIP, true
	}
	return 0, false
}

// isTokenChar reports whether c may appear in an RFC 3261 token.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}
