package bench

import (
	"bytes"
	"errors"
)

// Response is what the generator reads from a SIP response. Every slice
// points into the datagram it was parsed from, so it is valid only until
// the reader's buffer is reused.
type Response struct {
	Code       int
	CallID     []byte
	CSeq       uint32
	CSeqMethod []byte
	// Branch is the top Via's branch parameter, the transaction's key.
	Branch []byte
	// ToTag is the To header's tag, a dialog's half once calls are driven.
	ToTag []byte
	// Challenges holds the WWW-Authenticate and Proxy-Authenticate values,
	// in order, up to four of them.
	Challenges  [4][]byte
	NChallenges int
	// RecordRoute holds the Record-Route values in order (each may list
	// several routes), Contact the first Contact value, Body what follows
	// the headers: what a UAC needs to build the ACK and BYE of a dialog.
	RecordRoute  [maxRouteLines][]byte
	NRecordRoute int
	Contact      []byte
	Body         []byte
}

// maxRouteLines bounds the Via and Record-Route lines kept; a message with
// more is refused rather than answered with a truncated set.
const maxRouteLines = 8

var (
	errNotResponse = errors.New("bench: not a SIP/2.0 response")
	errTruncated   = errors.New("bench: truncated headers")
	errMissing     = errors.New("bench: Via, Call-ID or CSeq missing")
	errTooMany     = errors.New("bench: too many Via or Record-Route lines")
	errNotRequest  = errors.New("bench: not a SIP/2.0 request")
)

// ParseResponse parses b into r without allocating. Only the headers the
// generator matches on are read; folded header lines are not supported,
// since no server under test sends them.
func ParseResponse(b []byte, r *Response) error {
	*r = Response{}
	if len(b) < 12 || !bytes.HasPrefix(b, []byte("SIP/2.0 ")) {
		return errNotResponse
	}
	code := 0
	for _, c := range b[8:11] {
		if c < '0' || c > '9' {
			return errNotResponse
		}
		code = code*10 + int(c-'0')
	}
	r.Code = code
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return errTruncated
	}
	b = b[i+1:]
	sawVia := false
	for {
		name, value, rest, err := nextHeader(b)
		if err != nil {
			return err
		}
		b = rest
		if name == nil {
			r.Body = b
			break
		}
		switch {
		case isHeader(name, "record-route", ""):
			if r.NRecordRoute == len(r.RecordRoute) {
				return errTooMany
			}
			r.RecordRoute[r.NRecordRoute] = value
			r.NRecordRoute++
		case isHeader(name, "contact", "m"):
			if r.Contact == nil {
				r.Contact = value
			}
		case isHeader(name, "via", "v"):
			if !sawVia {
				sawVia = true
				r.Branch = param(firstElement(value), "branch")
			}
		case isHeader(name, "call-id", "i"):
			r.CallID = value
		case isHeader(name, "cseq", ""):
			n, rest := leadingUint(value)
			r.CSeq = n
			r.CSeqMethod = bytes.TrimSpace(rest)
		case isHeader(name, "to", "t"):
			r.ToTag = param(afterURI(value), "tag")
		case isHeader(name, "www-authenticate", ""), isHeader(name, "proxy-authenticate", ""):
			if r.NChallenges < len(r.Challenges) {
				r.Challenges[r.NChallenges] = value
				r.NChallenges++
			}
		}
	}
	if !sawVia || r.CallID == nil || r.CSeqMethod == nil {
		return errMissing
	}
	return nil
}

func isHeader(name []byte, long, compact string) bool {
	if compact != "" && len(name) == 1 {
		return name[0]|0x20 == compact[0]
	}
	return len(name) == len(long) && equalFoldASCII(name, long)
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		d := s[i]
		if d >= 'A' && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// firstElement is a comma-separated header's first value (Via may carry several).
func firstElement(v []byte) []byte {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return v[:i]
	}
	return v
}

// afterURI skips a name-addr's <…> so URI parameters are not taken for header ones.
func afterURI(v []byte) []byte {
	if i := bytes.IndexByte(v, '>'); i >= 0 {
		return v[i+1:]
	}
	return v
}

// param finds ;name=value in v, case-insensitively on the name.
func param(v []byte, name string) []byte {
	for {
		i := bytes.IndexByte(v, ';')
		if i < 0 {
			return nil
		}
		v = v[i+1:]
		p := v
		if j := bytes.IndexByte(p, ';'); j >= 0 {
			p = p[:j]
		}
		k, val, ok := bytes.Cut(p, []byte("="))
		if ok && equalFoldASCII(bytes.TrimSpace(k), name) {
			return bytes.TrimSpace(val)
		}
	}
}

func leadingUint(v []byte) (uint32, []byte) {
	var n uint32
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		n = n*10 + uint32(v[i]-'0')
		i++
	}
	return n, v[i:]
}

// Challenge is one parsed Digest challenge; slices point into the response.
type Challenge struct {
	Realm, Nonce, Opaque []byte
	Alg                  Alg
	QOPAuth              bool
	Stale                bool
}

// ParseChallenge reads a WWW-Authenticate/Proxy-Authenticate value. ok is
// false for another scheme, a missing nonce or an algorithm we cannot answer.
func ParseChallenge(v []byte) (c Challenge, ok bool) {
	if len(v) < 7 || !equalFoldASCII(v[:6], "digest") || (v[6] != ' ' && v[6] != '\t') {
		return c, false
	}
	v = v[7:]
	algOK := true
	for len(v) > 0 {
		v = bytes.TrimLeft(v, " \t,")
		eq := bytes.IndexByte(v, '=')
		if eq <= 0 {
			break
		}
		name := bytes.TrimSpace(v[:eq])
		v = bytes.TrimLeft(v[eq+1:], " \t")
		var val []byte
		if len(v) > 0 && v[0] == '"' {
			end := bytes.IndexByte(v[1:], '"')
			if end < 0 {
				return c, false
			}
			val, v = v[1:1+end], v[2+end:]
		} else {
			end := bytes.IndexByte(v, ',')
			if end < 0 {
				end = len(v)
			}
			val, v = bytes.TrimSpace(v[:end]), v[end:]
		}
		switch {
		case equalFoldASCII(name, "realm"):
			c.Realm = val
		case equalFoldASCII(name, "nonce"):
			c.Nonce = val
		case equalFoldASCII(name, "opaque"):
			c.Opaque = val
		case equalFoldASCII(name, "algorithm"):
			c.Alg, algOK = parseAlg(val)
		case equalFoldASCII(name, "qop"):
			for q := val; len(q) > 0; {
				tok, rest, _ := bytes.Cut(q, []byte(","))
				if equalFoldASCII(bytes.TrimSpace(tok), "auth") {
					c.QOPAuth = true
				}
				q = rest
			}
		case equalFoldASCII(name, "stale"):
			c.Stale = equalFoldASCII(val, "true")
		}
	}
	return c, algOK && len(c.Nonce) > 0
}

// nextHeader reads the next header field of b: its name and trimmed value
// and what follows it. At the blank line that ends the header it returns a
// nil name and the body as rest. Lines without a colon are skipped, as a
// lenient reader of the server's answers should.
func nextHeader(b []byte) (name, value, rest []byte, err error) {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil, nil, nil, errTruncated
		}
		line := b[:i]
		b = b[i+1:]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			return nil, nil, b, nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		return bytes.TrimRight(line[:colon], " \t"), bytes.TrimSpace(line[colon+1:]), b, nil
	}
}
