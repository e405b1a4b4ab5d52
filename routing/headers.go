package routing

import (
	"strings"
)

// Header is one header the proxy adds to a branch's INVITE.
type Header struct {
	Name, Value string
}

// InternalPrefix starts every header the edge uses between its own parts.
// The proxy removes such headers from everything devices send (anti-spoofing)
// and from everything it sends to a device; only gateway legs carry the
// documented ones below, for the media server or B2BUA behind the gateways.
const InternalPrefix = "X-Sipedge-"

// Documented internal headers on forward legs (call_forward needs a media
// server for these; the edge only passes them on).
const (
	// HeaderRequireKeypress: "true" when call_forward.require_keypress is set:
	// the forwarded party must press 1 to accept the call.
	HeaderRequireKeypress = "X-Sipedge-Require-Keypress"
	// HeaderIgnoreEarlyMedia: "true" when the forward leg's early media must
	// not be passed to the caller (require_keypress, a non-substitute forward,
	// or call_forward.ignore_early_media).
	HeaderIgnoreEarlyMedia = "X-Sipedge-Ignore-Early-Media"
	// HeaderForwardedBy: the device id whose call_forward made this leg.
	HeaderForwardedBy = "X-Sipedge-Forwarded-By"
)

// IsInternal says whether a header name is in the edge's internal namespace.
func IsInternal(name string) bool {
	return len(name) >= len(InternalPrefix) && strings.EqualFold(name[:len(InternalPrefix)], InternalPrefix)
}

// reservedHeaders are the headers a device document may not set: the proxy
// owns them (transaction, dialog and routing state), or routing sets them
// itself from dedicated fields.
var reservedHeaders = [...]string{
	"Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length",
	"Content-Type", "Route", "Record-Route", "Authorization", "Proxy-Authorization",
	"WWW-Authenticate", "Proxy-Authenticate", "Expires", "Require", "Proxy-Require",
	"Supported", "Allow", "Path", "Session-Expires", "Min-SE", "RSeq", "RAck",
	"Event", "Subscription-State", "Refer-To", "Replaces",
	// compact forms (RFC 3261 §7.3.3)
	"v", "f", "t", "i", "m", "l", "c", "k", "e", "o", "r",
}

func reservedHeader(name string) bool {
	for _, r := range reservedHeaders {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

// validHeaderName: a SIP token (RFC 3261 §25.1).
func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// wireSafe: no CR, LF, NUL or other control character (tab is allowed), and
// valid UTF-8 is not required but DEL is refused. Everything routing puts on
// the wire passes this.
func wireSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// userSafe: a SIP URI user part (RFC 3261 §25.1 user: unreserved, escaped,
// user-unreserved) minus the characters that would make it ambiguous inside
// a URI ("@" is not allowed anyway; ";" "?" "/" "," are left out on purpose).
func userSafe(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()%&=+$", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// numberSafe: like userSafe but the empty string is fine (prefix/suffix).
func numberSafe(s string) bool { return s == "" || userSafe(s) }

// hostSafe: a hostname, IPv4 or bracketed IPv6 literal, optionally :port.
func hostSafe(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.:[]_", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// displaySafe: a display name that can be written as a quoted-string without
// escaping: wire safe, no '"' and no '\'.
func displaySafe(s string) bool {
	return len(s) <= 256 && wireSafe(s) && strings.IndexByte(s, '"') < 0 && strings.IndexByte(s, '\\') < 0
}

// Warning reports a part of a document that was left out of the compiled
// profile, and why.
type Warning struct {
	Field   string // dot path in the document, e.g. "sip.custom_sip_headers.in.X-Foo"
	Message string
}

func (w Warning) String() string { return w.Field + ": " + w.Message }

type warnings []Warning

func (w *warnings) add(field, msg string) { *w = append(*w, Warning{Field: field, Message: msg}) }

// headerSet is an ordered set of headers, later values of the same name
// (case-insensitive) replacing earlier ones.
type headerSet []Header

func (hs headerSet) set(name, value string) headerSet {
	for i := range hs {
		if strings.EqualFold(hs[i].Name, name) {
			hs[i].Value = value
			return hs
		}
	}
	return append(hs, Header{Name: name, Value: value})
}

// customHeaders compiles sip.custom_sip_headers into the headers a device
// gets on calls to it (in + flat) and puts on calls from it (out + flat);
// in/out win over a flat key of the same name (Kazoo).
func customHeaders(v any, w *warnings) (in, out []Header) {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil, nil
	}
	const field = "sip.custom_sip_headers"
	var flat headerSet
	for _, k := range sortedKeys(m) {
		if k == "in" || k == "out" {
			continue
		}
		if h, ok := checkHeader(field, k, m[k], w); ok {
			flat = flat.set(h.Name, h.Value)
		}
	}
	dir := func(key string) []Header {
		hs := append(headerSet(nil), flat...)
		sub, ok := m[key].(map[string]any)
		if !ok && m[key] != nil {
			w.add(field+"."+key, "not an object; ignored")
		}
		for _, k := range sortedKeys(sub) {
			if h, ok := checkHeader(field+"."+key, k, sub[k], w); ok {
				hs = hs.set(h.Name, h.Value)
			}
		}
		if len(hs) == 0 {
			return nil
		}
		return hs
	}
	return dir("in"), dir("out")
}

func checkHeader(field, name string, v any, w *warnings) (Header, bool) {
	path := field + "." + name
	val, ok := v.(string)
	switch {
	case !ok:
		w.add(path, "value is not a string; header dropped")
	case !validHeaderName(name):
		w.add(path, "header name is not a SIP token; header dropped")
	case !wireSafe(val):
		w.add(path, "value contains CR, LF, NUL or a control character; header dropped")
	case IsInternal(name):
		w.add(path, "X-Sipedge- headers are internal; header dropped")
	case reservedHeader(name):
		w.add(path, "header is owned by the proxy; header dropped")
	default:
		return Header{Name: name, Value: val}, true
	}
	return Header{}, false
}
