package bench

import (
	"bytes"
	"net/netip"
)

// Request is what the UAS side reads from a SIP request. As with Response,
// every slice points into the datagram and is valid only until the
// reader's buffer is reused.
type Request struct {
	Method, URI []byte
	// Via and RecordRoute hold the header values in order, as a response
	// must copy them back (RFC 3261 §8.2.6.2, §12.1.1).
	Via          [maxRouteLines][]byte
	NVia         int
	RecordRoute  [maxRouteLines][]byte
	NRecordRoute int
	From, To     []byte
	// ToTag is empty on a dialog-creating request.
	ToTag      []byte
	CallID     []byte
	CSeq       uint32
	CSeqMethod []byte
	Body       []byte
}

// ParseRequest parses b into q without allocating. Like ParseResponse it
// reads only what the generator needs and does not unfold header lines.
func ParseRequest(b []byte, q *Request) error {
	*q = Request{}
	eol := bytes.IndexByte(b, '\n')
	if eol < 0 {
		return errTruncated
	}
	line := bytes.TrimRight(b[:eol], "\r")
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) {
		return errNotRequest
	}
	q.Method = line[:sp]
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 || string(rest[sp+1:]) != "SIP/2.0" {
		return errNotRequest
	}
	q.URI = rest[:sp]
	b = b[eol+1:]
	for {
		name, value, rest, err := nextHeader(b)
		if err != nil {
			return err
		}
		b = rest
		if name == nil {
			q.Body = b
			break
		}
		switch {
		case isHeader(name, "via", "v"):
			if q.NVia == len(q.Via) {
				return errTooMany
			}
			q.Via[q.NVia] = value
			q.NVia++
		case isHeader(name, "record-route", ""):
			if q.NRecordRoute == len(q.RecordRoute) {
				return errTooMany
			}
			q.RecordRoute[q.NRecordRoute] = value
			q.NRecordRoute++
		case isHeader(name, "from", "f"):
			q.From = value
		case isHeader(name, "to", "t"):
			q.To = value
			q.ToTag = param(afterURI(value), "tag")
		case isHeader(name, "call-id", "i"):
			q.CallID = value
		case isHeader(name, "cseq", ""):
			n, rest := leadingUint(value)
			q.CSeq = n
			q.CSeqMethod = bytes.TrimSpace(rest)
		}
	}
	if q.NVia == 0 || len(q.CallID) == 0 || len(q.CSeqMethod) == 0 || q.From == nil || q.To == nil {
		return errMissing
	}
	return nil
}

// isToken accepts the characters of a method name (RFC 3261 §25.1 token).
func isToken(b []byte) bool {
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || bytes.IndexByte([]byte("-.!%*_+`'~"), c) >= 0) {
			return false
		}
	}
	return len(b) > 0
}

// contactURI is the URI of a Contact or Record-Route value: inside <…> if
// bracketed, else up to the first parameter.
func contactURI(v []byte) []byte {
	if i := bytes.IndexByte(v, '<'); i >= 0 {
		if j := bytes.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
		return nil
	}
	if i := bytes.IndexAny(v, ";,"); i >= 0 {
		v = v[:i]
	}
	return bytes.TrimSpace(v)
}

// appendRouteSet renders the route set of a UAC's dialog from the
// Record-Route values of the 2xx: every entry, last first (RFC 3261
// §12.1.2), as one Route header. Entries are split on commas outside
// <…> and quotes. Nothing is appended for an empty set.
func appendRouteSet(dst []byte, rr [][]byte) []byte {
	n := 0
	for i := len(rr) - 1; i >= 0; i-- {
		v := rr[i]
		// Walk the value's entries backwards: find each entry's start.
		end := len(v)
		for end > 0 {
			start := lastEntryStart(v[:end])
			e := bytes.TrimSpace(v[start:end])
			if len(e) > 0 {
				if n == 0 {
					dst = append(dst, "Route: "...)
				} else {
					dst = append(dst, ", "...)
				}
				dst = append(dst, e...)
				n++
			}
			end = start - 1
		}
	}
	if n > 0 {
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// lastEntryStart is the index after the last top-level comma of v, or 0.
func lastEntryStart(v []byte) int {
	depth, quoted, last := 0, false, 0
	for i, c := range v {
		switch {
		case quoted:
			if c == '"' {
				quoted = false
			}
		case c == '"':
			quoted = true
		case c == '<':
			depth++
		case c == '>':
			if depth > 0 {
				depth--
			}
		case c == ',' && depth == 0:
			last = i + 1
		}
	}
	return last
}

// sdpAudio reads the connection address and audio port of an SDP body
// (session- or media-level c=, IPv4 or IPv6). ok is false when either is
// missing or the port is 0 (a declined stream).
func sdpAudio(body []byte) (netip.AddrPort, bool) {
	var addr netip.Addr
	var port uint64
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimRight(line, "\r")
		switch {
		case bytes.HasPrefix(line, []byte("c=IN IP4 ")), bytes.HasPrefix(line, []byte("c=IN IP6 ")):
			a := line[len("c=IN IP4 "):]
			if i := bytes.IndexByte(a, '/'); i >= 0 {
				a = a[:i]
			}
			if p, ok := parseIPv4(a); ok {
				addr = p
			} else if p, err := netip.ParseAddr(string(a)); err == nil {
				addr = p
			}
		case bytes.HasPrefix(line, []byte("m=audio ")) && port == 0:
			f := line[len("m=audio "):]
			for _, c := range f {
				if c < '0' || c > '9' {
					break
				}
				port = port*10 + uint64(c-'0')
				if port > 65535 {
					return netip.AddrPort{}, false
				}
			}
		}
	}
	if !addr.IsValid() || port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}

// parseIPv4 reads a dotted quad without allocating.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var a [4]byte
	part, digits := 0, 0
	v := 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v*10 + int(c-'0')
			digits++
			if v > 255 || digits > 3 {
				return netip.Addr{}, false
			}
		case c == '.' && digits > 0 && part < 3:
			a[part] = byte(v)
			part++
			v, digits = 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if part != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	a[3] = byte(v)
	return netip.AddrFrom4(a), true
}
