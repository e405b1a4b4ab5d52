package registrar

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
)

// credentials are the fields of a Digest Authorization header we use. They
// are substrings of the header value, so parsing allocates nothing unless a
// quoted value carries backslash escapes.
type credentials struct {
	username, realm, nonce, uri, response string
	algorithm, cnonce, opaque, qop, nc    string
	userhash                              string
}

var errBadCredentials = errors.New("registrar: malformed digest credentials")

// maxCredentialsLen bounds the header we are willing to parse.
const maxCredentialsLen = 4096

// parseCredentials parses `Digest k=v, k="v", …` (RFC 7616 §3.4). It rejects
// duplicate known parameters, a missing scheme, and anything unterminated.
func parseCredentials(v string) (credentials, error) {
	var c credentials
	if len(v) > maxCredentialsLen {
		return c, errBadCredentials
	}
	v = trimLWS(v)
	if len(v) < 6 || !strings.EqualFold(v[:6], "digest") {
		return c, errBadCredentials
	}
	v = v[6:]
	if len(v) == 0 || (v[0] != ' ' && v[0] != '\t') {
		return c, errBadCredentials
	}
	for {
		v = trimLeftLWS(v)
		if v == "" {
			break
		}
		// name
		i := 0
		for i < len(v) && isTokenChar(v[i]) {
			i++
		}
		if i == 0 {
			return c, errBadCredentials
		}
		name := v[:i]
		v = trimLeftLWS(v[i:])
		if v == "" || v[0] != '=' {
			return c, errBadCredentials
		}
		v = trimLeftLWS(v[1:])
		var val string
		if v != "" && v[0] == '"' {
			end, escaped := -1, false
			for j := 1; j < len(v); j++ {
				if v[j] == '\\' {
					escaped = true
					j++
					continue
				}
				if v[j] == '"' {
					end = j
					break
				}
			}
			if end < 0 {
				return c, errBadCredentials
			}
			val = v[1:end]
			if escaped {
				val = unescapeQuoted(val)
			}
			v = v[end+1:]
		} else {
			j := 0
			for j < len(v) && isTokenChar(v[j]) {
				j++
			}
			if j == 0 {
				return c, errBadCredentials
			}
			val = v[:j]
			v = v[j:]
		}
		if dst := c.field(name); dst != nil {
			if *dst != "" {
				return c, errBadCredentials
			}
			*dst = val
		}
		v = trimLeftLWS(v)
		if v == "" {
			break
		}
		if v[0] != ',' {
			return c, errBadCredentials
		}
		v = v[1:]
	}
	if c.username == "" || c.nonce == "" || c.response == "" || c.uri == "" {
		return c, errBadCredentials
	}
	return c, nil
}

func (c *credentials) field(name string) *string {
	switch {
	case strings.EqualFold(name, "username"):
		return &c.username
	case strings.EqualFold(name, "realm"):
		return &c.realm
	case strings.EqualFold(name, "nonce"):
		return &c.nonce
	case strings.EqualFold(name, "uri"):
		return &c.uri
	case strings.EqualFold(name, "response"):
		return &c.response
	case strings.EqualFold(name, "algorithm"):
		return &c.algorithm
	case strings.EqualFold(name, "cnonce"):
		return &c.cnonce
	case strings.EqualFold(name, "opaque"):
		return &c.opaque
	case strings.EqualFold(name, "qop"):
		return &c.qop
	case strings.EqualFold(name, "nc"):
		return &c.nc
	case strings.EqualFold(name, "userhash"):
		return &c.userhash
	}
	return nil
}

func unescapeQuoted(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func trimLeftLWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n') {
		s = s[1:]
	}
	return s
}

func trimLWS(s string) string {
	s = trimLeftLWS(s)
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// isTokenChar follows RFC 3261 §25.1 token.
func isTokenChar(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	switch b {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

// digestAlg identifies a supported hash.
type digestAlg uint8

const (
	algMD5 digestAlg = iota
	algSHA256
)

func parseAlg(s string) (digestAlg, bool) {
	switch {
	case s == "" || strings.EqualFold(s, AlgMD5):
		return algMD5, true // RFC 2617: absent means MD5
	case strings.EqualFold(s, AlgSHA256):
		return algSHA256, true
	}
	return 0, false
}

func (a digestAlg) String() string {
	if a == algSHA256 {
		return AlgSHA256
	}
	return AlgMD5
}

// sumHex hashes b with a and writes lowercase hex into dst, returning it.
func (a digestAlg) sumHex(dst *[2 * sha256.Size]byte, b []byte) []byte {
	if a == algSHA256 {
		s := sha256.Sum256(b)
		hex.Encode(dst[:], s[:])
		return dst[:2*sha256.Size]
	}
	s := md5.Sum(b)
	hex.Encode(dst[:], s[:])
	return dst[:2*md5.Size]
}

// digestInput is what the expected response depends on.
type digestInput struct {
	alg                                 digestAlg
	username, realm, password           string
	method, uri, nonce, nc, cnonce, qop string
}

// expectedResponse computes the RFC 2617/7616 response (qop=auth or none)
// into dst as lowercase hex. Buffers live on the stack for ordinary sizes.
func expectedResponse(dst *[2 * sha256.Size]byte, in *digestInput) []byte {
	var buf [512]byte
	b := buf[:0]
	var ha1, ha2 [2 * sha256.Size]byte

	b = append(b, in.username...)
	b = append(b, ':')
	b = append(b, in.realm...)
	b = append(b, ':')
	b = append(b, in.password...)
	h1 := in.alg.sumHex(&ha1, b)

	b = append(b[:0], in.method...)
	b = append(b, ':')
	b = append(b, in.uri...)
	h2 := in.alg.sumHex(&ha2, b)

	b = append(b[:0], h1...)
	b = append(b, ':')
	b = append(b, in.nonce...)
	b = append(b, ':')
	if in.qop != "" {
		b = append(b, in.nc...)
		b = append(b, ':')
		b = append(b, in.cnonce...)
		b = append(b, ':')
		b = append(b, in.qop...)
		b = append(b, ':')
	}
	b = append(b, h2...)
	return in.alg.sumHex(dst, b)
}

// responseMatches compares the client's response with the expected one in
// constant time (hex compared case-insensitively, as some phones send upper case).
func responseMatches(got string, want []byte) bool {
	if len(got) != len(want) {
		// Lengths are public (the algorithm), so this leaks nothing secret.
		return false
	}
	var lower [2 * sha256.Size]byte
	for i := 0; i < len(got); i++ {
		c := got[i]
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return subtle.ConstantTimeCompare(lower[:len(got)], want) == 1
}

// parseNC parses the 8-hex-digit nonce count.
func parseNC(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	var n uint32
	for i := 0; i < 8; i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint32(d)
	}
	return n, true
}
