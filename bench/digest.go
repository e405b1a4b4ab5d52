package bench

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Alg is a digest algorithm the generator can answer.
type Alg uint8

// The algorithms of RFC 8760 we answer.
const (
	MD5 Alg = iota
	SHA256
)

func (a Alg) String() string {
	if a == SHA256 {
		return "SHA-256"
	}
	return "MD5"
}

// ParseAlg reads "MD5" or "SHA-256" (any case).
func ParseAlg(s string) (Alg, bool) { return parseAlg([]byte(s)) }

func parseAlg(v []byte) (Alg, bool) {
	switch {
	case len(v) == 0 || equalFoldASCII(v, "MD5"):
		return MD5, true // RFC 2617: absent means MD5
	case equalFoldASCII(v, "SHA-256"):
		return SHA256, true
	}
	return MD5, false
}

// hexLen is the length of a's digest in hex.
func (a Alg) hexLen() int {
	if a == SHA256 {
		return 2 * sha256.Size
	}
	return 2 * md5.Size
}

// sumHex appends the lowercase hex digest of b to dst.
func (a Alg) sumHex(dst, b []byte) []byte {
	var out [2 * sha256.Size]byte
	if a == SHA256 {
		s := sha256.Sum256(b)
		hex.Encode(out[:], s[:])
	} else {
		s := md5.Sum(b)
		hex.Encode(out[:], s[:])
	}
	return append(dst, out[:a.hexLen()]...)
}

// HA1 is H(username:realm:password) in hex, what a user's answers start from.
func HA1(a Alg, user, realm, password string) string {
	return string(a.sumHex(nil, []byte(user+":"+realm+":"+password)))
}

// HA2 is H(method:uri) in hex (qop=auth).
func HA2(a Alg, method, uri string) string {
	return string(a.sumHex(nil, []byte(method+":"+uri)))
}

// appendResponse appends the digest response of RFC 7616 §3.4.1 to dst,
// from pre-computed ha1 and ha2. With qop empty it is RFC 2069's form.
// Scratch space is on the stack, so it does not allocate.
func appendResponse(dst []byte, a Alg, ha1, nonce, nc, cnonce, qop []byte, ha2 string) []byte {
	var buf [512]byte
	b := append(buf[:0], ha1...)
	b = append(b, ':')
	b = append(b, nonce...)
	b = append(b, ':')
	if len(qop) > 0 {
		b = append(b, nc...)
		b = append(b, ':')
		b = append(b, cnonce...)
		b = append(b, ':')
		b = append(b, qop...)
		b = append(b, ':')
	}
	b = append(b, ha2...)
	return a.sumHex(dst, b)
}

// DigestResponse computes a digest response from scratch; it exists for
// tests and for checking another implementation, the hot path uses
// pre-computed hashes.
func DigestResponse(a Alg, user, realm, password, method, uri, nonce, nc, cnonce, qop string) string {
	ha1 := HA1(a, user, realm, password)
	return string(appendResponse(nil, a, []byte(ha1), []byte(nonce), []byte(nc), []byte(cnonce), []byte(qop), HA2(a, method, uri)))
}

// appendNC appends an 8-digit lowercase hex nonce count.
func appendNC(dst []byte, nc uint32) []byte {
	const digits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, digits[(nc>>uint(shift))&0xf])
	}
	return dst
}

// validUser keeps user names (users file, flags) from breaking the headers
// they are written into: quotes, separators and controls are refused.
func validUser(s string) bool {
	return s != "" && !strings.ContainsAny(s, "\"\\\r\n\t\x00;, <>@:")
}
