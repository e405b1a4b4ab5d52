package routing

import (
	"strings"

	"github.com/sipedge/sipedge/location"
)

// ContactURI is the URI of a binding's Contact, what the contact invite
// format sends as the Request-URI: the part inside the angle brackets of the
// Contact as received, or, without brackets, the part before the first ';'
// (RFC 3261 §20.10: there, parameters belong to the header, not the URI).
// It returns "" when the binding holds no usable URI. It does not allocate.
func ContactURI(b *location.Binding) string {
	s := b.OriginalContact
	if s == "" {
		s = b.Contact
	}
	if i := strings.IndexByte(s, '<'); i >= 0 {
		s = s[i+1:]
		j := strings.IndexByte(s, '>')
		if j < 0 {
			return ""
		}
		s = s[:j]
	} else if j := strings.IndexByte(s, ';'); j >= 0 {
		s = s[:j]
	}
	if !wireSafe(s) {
		return ""
	}
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, " \t\"<>") {
		return ""
	}
	return s
}
