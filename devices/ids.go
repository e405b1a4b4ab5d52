package devices

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// gregorianOffset is the number of seconds from 0000-01-01 to 1970-01-01,
// Erlang's calendar:datetime_to_gregorian_seconds epoch, which Kazoo uses
// for every timestamp (pvt_created, pvt_modified, event_timestamp).
const gregorianOffset = 62167219200

// Gregorian returns t as Kazoo's Gregorian seconds (Unix seconds + 62167219200).
func Gregorian(t time.Time) int64 { return t.Unix() + gregorianOffset }

// newID returns 32 lower-case hex characters from crypto/rand, the shape of
// Kazoo's document ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+: crashes instead)
	return hex.EncodeToString(b[:])
}

// nextRev returns the CouchDB-like revision after prev ("" for a new doc):
// "N-<32 hex>" with N incremented on every write.
func nextRev(prev string) string {
	n := 0
	if i := strings.IndexByte(prev, '-'); i > 0 {
		n, _ = strconv.Atoi(prev[:i])
	}
	return strconv.Itoa(n+1) + "-" + newID()
}

// revMatches implements If-Match: "" is unconditional, "*" matches any
// revision, otherwise the (optionally quoted, optionally weak) tag must
// equal the current revision.
func revMatches(ifMatch, rev string) bool {
	m := strings.TrimSpace(ifMatch)
	if m == "" || m == "*" {
		return true
	}
	m = strings.TrimPrefix(m, "W/")
	m = strings.Trim(m, `"`)
	return m == rev
}

// NormalizeMAC returns a MAC address in the form used to compare them:
// lower-case hex digits with every separator removed ("00:04:F2:AB:7E:FD"
// and "0004.f2ab.7efd" are both "0004f2ab7efd"), as Kazoo's
// provisioner_util:cleanse_mac_address does.
func NormalizeMAC(mac string) string {
	var sb strings.Builder
	sb.Grow(len(mac))
	for i := 0; i < len(mac); i++ {
		c := mac[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			sb.WriteByte(c)
		case c >= 'A' && c <= 'F':
			sb.WriteByte(c + ('a' - 'A'))
		}
	}
	return sb.String()
}

// lowerASCII lower-cases ASCII letters only, as Kazoo's
// kz_term:to_lower_binary does; other bytes are kept. It must agree with
// lowerInto, which the lookups use.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			lowerInto(b[i:], s[i:])
			return string(b)
		}
	}
	return s
}

// lowerInto writes the ASCII lower-case of s into dst (len(dst) >= len(s))
// and returns the number of bytes written.
func lowerInto(dst []byte, s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
	}
	return len(s)
}
