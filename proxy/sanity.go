package proxy

import (
	"context"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// sanity rejects what no later stage should have to think about (RFC 3261
// §8.2 and §16.3, in the manner of Kamailio's sanity module), with a reason
// phrase that names the problem so whoever reads the trace on the phone's
// side sees what is wrong. sipgo's parser has already refused what it cannot
// read (bad start line, bad URI, non-numeric CSeq or Content-Length, a body
// shorter than Content-Length); these are the checks left for a parsed
// request.
func sanity(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
		if se := checkRequest(req); se != nil {
			return se
		}
		return next.ServeSIP(ctx, tx, req)
	})
}

// checkRequest returns the first problem found, or nil.
func checkRequest(req *sip.Request) *StatusError {
	if req.SipVersion != "SIP/2.0" {
		return Status(505, "Version Not Supported")
	}
	switch req.Recipient.Scheme {
	case "sip", "sips", "tel":
	default:
		// RFC 3261 §8.2.2.1 and §16.3 step 2.
		return Status(416, "Unsupported URI Scheme")
	}
	if req.Recipient.Headers.Length() > 0 {
		// RFC 3261 §19.1.5: headers are not allowed in a Request-URI.
		return Status(400, "Request-URI must not carry headers")
	}
	if se := checkSingle(req); se != nil {
		return se
	}
	if req.Via() == nil {
		return Status(400, "Missing Via header")
	}
	if req.From() == nil {
		return Status(400, "Missing From header")
	}
	if req.To() == nil {
		return Status(400, "Missing To header")
	}
	if h := req.CallID(); h == nil || h.Value() == "" {
		return Status(400, "Missing Call-ID header")
	}
	cseq := req.CSeq()
	if cseq == nil {
		return Status(400, "Missing CSeq header")
	}
	// sipgo upper-cases the request line's method but not CSeq's; methods
	// are case-sensitive (RFC 3261 §7.1), so this also lets through "invite"
	// against "INVITE", which nobody sends on purpose.
	if !strings.EqualFold(string(cseq.MethodName), string(req.Method)) {
		return Status(400, "CSeq method does not match request method")
	}
	if cl := req.ContentLength(); cl != nil && int(*cl) != len(req.Body()) {
		// sipgo refuses a short body itself; a longer one (a datagram with
		// trailing octets) is cut at Content-Length, so this catches what
		// a header rewrite upstream would have broken.
		return Status(400, "Content-Length does not match the body")
	}
	if h := req.GetHeader("Date"); h != nil && !strings.HasSuffix(strings.TrimSpace(h.Value()), " GMT") {
		// RFC 3261 §20.17: the only time zone allowed is GMT.
		return Status(400, "Bad Date header: time zone must be GMT")
	}
	if h := req.GetHeader("Proxy-Require"); h != nil && strings.TrimSpace(h.Value()) != "" {
		// RFC 3261 §16.3 step 5: we support no proxy extension.
		return Status(420, "Bad Extension", sip.NewHeader("Unsupported", unsupported(req.GetHeaders("Proxy-Require"))))
	}
	if !answeredLocally(req) {
		// RFC 3261 §16.3 step 3; only requests we forward need it.
		mf := req.MaxForwards()
		if mf == nil {
			return Status(400, "Missing Max-Forwards header")
		}
		if mf.Val() == 0 {
			return Status(483, "Too Many Hops")
		}
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() > 255 {
		// RFC 3261 §20.22 makes it 0-255 in practice (RFC 4475 §3.1.2.4).
		return Status(400, "Max-Forwards above 255")
	}
	return nil
}

// singleValued are the headers RFC 3261 §7.3.1 allows once only (by their
// lower-case long names; compact forms are mapped first).
var singleValued = map[string]string{
	"call-id":        "Call-ID",
	"cseq":           "CSeq",
	"from":           "From",
	"to":             "To",
	"max-forwards":   "Max-Forwards",
	"content-length": "Content-Length",
	"content-type":   "Content-Type",
	"expires":        "Expires",
}

var compactNames = map[string]string{
	"i": "call-id", "f": "from", "t": "to", "l": "content-length", "c": "content-type",
}

// checkSingle refuses a second copy of a single-valued header: with two
// Call-IDs or two Content-Lengths there is no telling which one counts
// (RFC 4475 §3.3.8, §3.3.9).
func checkSingle(req *sip.Request) *StatusError {
	var seen [8]string
	n := 0
	for _, h := range req.Headers() {
		canon, ok := singleValuedName(h.Name())
		if !ok {
			continue
		}
		for _, s := range seen[:n] {
			if s == canon {
				return Status(400, "Duplicate "+canon+" header")
			}
		}
		if n < len(seen) {
			seen[n] = canon
			n++
		}
	}
	return nil
}

// singleValuedName is the canonical name of a single-valued header, by
// its name in any case or its compact form. Header names are ASCII tokens,
// so they are lowered on the stack: strings.ToLower allocated a string for
// nearly every header of every request.
func singleValuedName(name string) (string, bool) {
	var buf [len("content-length")]byte
	if len(name) > len(buf) {
		return "", false // longer than any of them
	}
	b := buf[:len(name)]
	for i := range len(name) {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	if long, ok := compactNames[string(b)]; ok {
		return singleValued[long], true
	}
	canon, ok := singleValued[string(b)]
	return canon, ok
}

func unsupported(hs []sip.Header) string {
	var opts []string
	for _, h := range hs {
		for _, o := range strings.Split(h.Value(), ",") {
			if o = strings.TrimSpace(o); o != "" && validToken(o) {
				opts = append(opts, o)
			}
		}
	}
	return strings.Join(opts, ", ")
}

// validToken keeps what we echo into Unsupported to RFC 3261 token chars.
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
