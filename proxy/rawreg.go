package proxy

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/emiago/sipgo/sip"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/registrar"
)

// The raw REGISTER path answers the common UDP REGISTERs (the first one of a
// registration, answered 401, and the one with good credentials, answered
// 200) on the datagram's bytes: the headers the registrar reads are found in
// place, the answer is built by appending bytes, and no sipgo message,
// transaction or header object is made. It sits in front of the fast path
// (fastpath.go) and only ever says "mine" or "not mine":
//
//   - The reader is strict. Anything it does not fully understand (folded
//     lines, compact or odd header forms beyond the usual, a second Contact,
//     a body, a header sipgo would parse more strictly than we do, limits
//     near their bound) is left to the fast path, which parses with sipgo
//     and runs the whole chain. So the raw path accepts a subset of what the
//     full path accepts (FuzzRawRegister checks it against sipgo's parser).
//   - The registrar declines everything off the common path (bans, wrong or
//     stale credentials, replays, retransmissions, expiry refusals, removals)
//     without changing any state; the full path then answers.
//
// What the chain does for a REGISTER is done here too: admission (drain and
// max_inflight), sanity (the checks that can fail for a REGISTER: version,
// URI scheme, duplicates, CSeq method, Content-Length, Max-Forwards),
// limits, and RFC 3581 received/rport on the top Via of the answer.

// rawMaxVias bounds the Via lines the raw reader keeps; more go the full way.
const rawMaxVias = 8

// rawReq is a REGISTER read in place. Every string is a view into msg.
type rawReq struct {
	reg registrar.RawRegister

	vias           [rawMaxVias]string
	nvia           int
	from, to, cseq string
	fromTag        string
	toTagged       bool

	// Top Via: what RFC 3581 handling and the stable To-tag need.
	viaHost      string
	branch       string
	rportAt      int // index in vias[0] just past an empty "rport", or -1
	hasRportVal  bool
	hasReceived  bool
	nContact     int
	contact      sip.ContactHeader
	nAuth        int
	seen         uint16 // single-valued headers met, by rawHeader bit
	contentLen   bool
	maxForwards  int
	headerFields int
}

// rawHeader names the headers the raw reader tells apart.
type rawHeader uint8

const (
	rhOther rawHeader = iota
	rhVia
	rhFrom
	rhTo
	rhCallID
	rhCSeq
	rhContact
	rhExpires
	rhAuthorization
	rhUserAgent
	rhMaxForwards
	rhContentLength
	rhRefuse // a header the raw reader leaves to the full path
)

// classify maps a header name (any case, compact forms) to its kind.
func classify(name string) rawHeader {
	if len(name) == 1 {
		switch name[0] | 0x20 {
		case 'v':
			return rhVia
		case 'f':
			return rhFrom
		case 't':
			return rhTo
		case 'i':
			return rhCallID
		case 'm':
			return rhContact
		case 'l':
			return rhContentLength
		case 'c', 'k', 's', 'e', 'o', 'u', 'r', 'b', 'x', 'a', 'y', 'j', 'd':
			// Compact forms of headers we do not read (Content-Type,
			// Supported, Subject, …): sipgo parses some strictly.
			return rhRefuse
		}
		return rhOther
	}
	eq := strings.EqualFold
	switch {
	case eq(name, "Via"):
		return rhVia
	case eq(name, "From"):
		return rhFrom
	case eq(name, "To"):
		return rhTo
	case eq(name, "Call-ID"):
		return rhCallID
	case eq(name, "CSeq"):
		return rhCSeq
	case eq(name, "Contact"):
		return rhContact
	case eq(name, "Expires"):
		return rhExpires
	case eq(name, "Authorization"):
		return rhAuthorization
	case eq(name, "User-Agent"):
		return rhUserAgent
	case eq(name, "Max-Forwards"):
		return rhMaxForwards
	case eq(name, "Content-Length"):
		return rhContentLength
	case eq(name, "Content-Type"), eq(name, "Route"), eq(name, "Record-Route"), eq(name, "Refer-To"),
		eq(name, "Referred-By"), eq(name, "Date"), eq(name, "Proxy-Require"):
		// Parsed strictly by sipgo, or checked by sanity: the full path.
		return rhRefuse
	}
	return rhOther
}

// parseRawRegister reads msg, a whole UDP datagram starting "REGISTER ",
// into r. It reports false for anything the raw path leaves to the full
// one. lim may be nil (no limits configured).
func parseRawRegister(msg string, r *rawReq, lim *LimitsConfig) bool {
	*r = rawReq{rportAt: -1, maxForwards: -1}
	if strings.IndexByte(msg, 0) >= 0 {
		return false
	}
	if lim != nil && len(msg) > lim.MaxMessage-64 {
		return false
	}
	eol := strings.Index(msg, "\r\n")
	if eol < 0 {
		return false
	}
	line, rest := msg[:eol], msg[eol+2:]
	line, ok := strings.CutPrefix(line, "REGISTER ")
	if !ok {
		return false
	}
	uri, version, ok := strings.Cut(line, " ")
	if !ok || version != "SIP/2.0" || !rawRequestURI(uri) {
		return false
	}
	for {
		eol = strings.Index(rest, "\r\n")
		if eol < 0 {
			return false
		}
		if eol == 0 {
			// Empty line: the body is what is left, and a REGISTER here
			// has none.
			if len(rest) != 2 {
				return false
			}
			break
		}
		line, rest = rest[:eol], rest[eol+2:]
		r.headerFields++
		if lim != nil && (r.headerFields > lim.MaxHeaders || len(line) > lim.MaxHeaderLine-16) {
			return false
		}
		name, v, ok := rawHeaderLine(line)
		if !ok || !r.header(classify(name), v) {
			return false
		}
	}
	if r.nvia == 0 || r.from == "" || r.to == "" || r.reg.CallID == "" || r.cseq == "" || r.nContact != 1 || r.nAuth > 1 {
		return false
	}
	if lim != nil && r.nvia > lim.MaxVias {
		return false
	}
	// The answer copies every Via; one sipgo would refuse makes the
	// whole request one the full path refuses.
	for _, v := range r.vias[1:r.nvia] {
		if !rawLowerVia(v) {
			return false
		}
	}
	return r.topVia()
}

// rawHeaderLine splits a header line (without its CRLF) into a token name
// and a trimmed value; false for a folded line, a control character other
// than tab (a bare CR or LF; sipgo trims a form feed where we would keep
// it), or no name: all of which sipgo reads otherwise.
func rawHeaderLine(line string) (name, value string, ok bool) {
	if line == "" || line[0] == ' ' || line[0] == '\t' {
		return "", "", false
	}
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "", "", false
		}
	}
	colon := strings.IndexByte(line, ':')
	if colon <= 0 {
		return "", "", false
	}
	name = strings.TrimRight(line[:colon], " \t")
	return name, strings.Trim(line[colon+1:], " \t"), rawToken(name)
}

// rawLowerVia accepts a Via below the top one in the shape topVia reads,
// any transport: "SIP/2.0/<transport> host[:port]*(;param)".
func rawLowerVia(v string) bool {
	proto, rest, ok := strings.Cut(v, " ")
	if !ok || len(proto) <= len("SIP/2.0/") || !strings.EqualFold(proto[:len("SIP/2.0/")], "SIP/2.0/") ||
		!rawToken(proto[len("SIP/2.0/"):]) {
		return false
	}
	rest = strings.TrimLeft(rest, " \t")
	sentBy, params, _ := strings.Cut(rest, ";")
	if _, _, ok := rawHostPort(strings.TrimRight(sentBy, " \t")); !ok {
		return false
	}
	for params != "" {
		var param string
		param, params, _ = strings.Cut(params, ";")
		name, val, hasVal := strings.Cut(param, "=")
		if !rawToken(name) || hasVal && !rawParamValue(val) {
			return false
		}
	}
	return true
}

// header takes one header field.
func (r *rawReq) header(kind rawHeader, v string) bool {
	switch kind {
	case rhOther:
		return true
	case rhRefuse:
		return false
	case rhVia:
		if r.nvia == rawMaxVias || v == "" || strings.IndexByte(v, ',') >= 0 {
			return false
		}
		r.vias[r.nvia] = v
		r.nvia++
		return true
	case rhContact:
		r.nContact++
		// One contact per header and per request; "*" and lists go the full
		// way. Parsed as sipgo parses a one-contact header, so both paths
		// read the same contact.
		if r.nContact > 1 || v == "" || v == "*" || strings.IndexByte(v, ',') >= 0 {
			return false
		}
		c := &r.contact
		var err error
		c.DisplayName, err = sip.ParseAddressValue(v, &c.Address, &c.Params)
		r.reg.Contact = c
		return err == nil && !c.Address.Wildcard
	case rhAuthorization:
		r.nAuth++
		r.reg.Authorization = v
		return true
	case rhUserAgent:
		// Kept on the binding; several User-Agent lines are odd enough.
		if r.reg.UserAgent != "" {
			return false
		}
		r.reg.UserAgent = v
		return true
	}
	// Single-valued (RFC 3261 §7.3.1): a second copy is sanity's to refuse.
	bit := uint16(1) << kind
	if r.seen&bit != 0 {
		return false
	}
	r.seen |= bit
	switch kind {
	case rhFrom:
		user, host, params, ok := rawNameAddr(v)
		if !ok {
			return false
		}
		r.from, r.reg.FromUser, r.reg.FromHost = v, user, host
		r.fromTag, ok = rawParam(params, "tag")
		return ok
	case rhTo:
		user, host, params, ok := rawNameAddr(v)
		if !ok {
			return false
		}
		r.to, r.reg.ToUser, r.reg.ToHost = v, user, host
		tag, ok := rawParam(params, "tag")
		r.toTagged = tag != ""
		return ok
	case rhCallID:
		if v == "" || strings.ContainsAny(v, " \t") {
			return false
		}
		r.reg.CallID = v
		return true
	case rhCSeq:
		num, method, ok := strings.Cut(v, " ")
		if !ok || strings.Trim(method, " \t") != "REGISTER" {
			return false
		}
		// sipgo, like RFC 3261 §8.1.1.5, wants it below 2**31.
		n, ok := rawDigits(num, 10)
		if !ok || n >= 1<<31 {
			return false
		}
		r.cseq, r.reg.CSeq = v, uint32(n)
		return true
	case rhExpires:
		r.reg.Expires, r.reg.HasExpires = v, true
		return true
	case rhMaxForwards:
		n, ok := rawDigits(v, 3)
		r.maxForwards = n
		return ok && n <= 255
	case rhContentLength:
		n, ok := rawDigits(v, 10)
		r.contentLen = true
		return ok && n == 0
	}
	return false
}

// topVia reads the top Via's sent-by and parameters: "SIP/2.0/UDP host[:port]*(;param)".
func (r *rawReq) topVia() bool {
	v := r.vias[0]
	proto, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(proto, "SIP/2.0/UDP") {
		return false
	}
	rest = strings.TrimLeft(rest, " \t")
	off := len(v) - len(rest)
	end := strings.IndexByte(rest, ';')
	if end < 0 {
		end = len(rest)
	}
	sentBy := strings.TrimRight(rest[:end], " \t")
	host, _, ok := rawHostPort(sentBy)
	if !ok {
		return false
	}
	r.viaHost = host
	for p := end; p < len(rest); {
		// rest[p] == ';'
		q := strings.IndexByte(rest[p+1:], ';')
		if q < 0 {
			q = len(rest)
		} else {
			q += p + 1
		}
		param := rest[p+1 : q]
		name, val, hasVal := strings.Cut(param, "=")
		if !rawToken(name) || hasVal && !rawParamValue(val) {
			return false
		}
		// Parameter names are case-insensitive (RFC 3261 §20.42) but sipgo
		// looks them up as written: an odd case goes the full way, so both
		// paths see the same branch.
		switch name {
		case "branch":
			r.branch = val
		case "received":
			r.hasReceived = true
		case "rport":
			if hasVal {
				r.hasRportVal = true
			} else {
				r.rportAt = off + q
			}
		default:
			if strings.EqualFold(name, "branch") || strings.EqualFold(name, "received") || strings.EqualFold(name, "rport") {
				return false
			}
		}
		p = q
	}
	// A received already there would have to be replaced in place; rare
	// enough for the full path.
	return r.branch != "" && !r.hasReceived
}

// rawRequestURI accepts sip: or sips: [user@]host[:port] *(;param), no
// headers: a plain registrar address, read as sipgo's URI parser reads it.
func rawRequestURI(u string) bool {
	rest, ok := strings.CutPrefix(u, "sip:")
	if !ok {
		if rest, ok = strings.CutPrefix(u, "sips:"); !ok {
			return false
		}
	}
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		if !rawUser(rest[:at]) {
			return false
		}
		rest = rest[at+1:]
	}
	params := ""
	if semi := strings.IndexByte(rest, ';'); semi >= 0 {
		rest, params = rest[:semi], rest[semi:]
	}
	_, _, ok = rawHostPort(rest)
	return ok && rawParams(params)
}

// rawUser accepts a non-empty user part without escapes or a password.
func rawUser(user string) bool {
	if user == "" {
		return false
	}
	for i := 0; i < len(user); i++ {
		c := user[i]
		if !(isAlnum(c) || strings.IndexByte("-_.!~*'()&=+$?/", c) >= 0) {
			return false
		}
	}
	return true
}

// rawNameAddr reads From/To: [display] <sip:user@host[:port][;uri-params]> *(;param)
// or sip:user@host[:port] *(;param). It returns the header params part.
func rawNameAddr(v string) (user, host, params string, ok bool) {
	var uri string
	if lt := strings.IndexByte(v, '<'); lt >= 0 {
		display := strings.TrimRight(v[:lt], " \t")
		if !rawDisplayName(display) {
			return "", "", "", false
		}
		gt := strings.IndexByte(v[lt:], '>')
		if gt < 0 {
			return "", "", "", false
		}
		uri, params = v[lt+1:lt+gt], strings.TrimLeft(v[lt+gt+1:], " \t")
	} else {
		uri, params = v, ""
		if semi := strings.IndexByte(v, ';'); semi >= 0 {
			uri, params = v[:semi], v[semi:]
		}
	}
	rest, ok := strings.CutPrefix(uri, "sip:")
	if !ok {
		if rest, ok = strings.CutPrefix(uri, "sips:"); !ok {
			return "", "", "", false
		}
	}
	at := strings.IndexByte(rest, '@')
	if at <= 0 {
		return "", "", "", false
	}
	user = rest[:at]
	if !rawUser(user) {
		return "", "", "", false
	}
	hp := rest[at+1:]
	uriParams := ""
	if semi := strings.IndexByte(hp, ';'); semi >= 0 {
		hp, uriParams = hp[:semi], hp[semi:]
	}
	if host, _, ok = rawHostPort(hp); !ok || !rawParams(uriParams) || !rawParams(params) {
		return "", "", "", false
	}
	return user, host, params, true
}

// rawDisplayName accepts an empty display name, a quoted string without
// escapes, or words of token characters.
func rawDisplayName(d string) bool {
	if d == "" {
		return true
	}
	if d[0] == '"' {
		return len(d) >= 2 && d[len(d)-1] == '"' && !strings.ContainsAny(d[1:len(d)-1], "\"\\")
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; c != ' ' && !isTokenChar(c) {
			return false
		}
	}
	return true
}

// rawHostPort splits host[:port] with a host name, an IPv4 literal or a
// bracketed IPv6 literal.
func rawHostPort(hp string) (host string, port int, ok bool) {
	host = hp
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", 0, false
		}
		host = hp[:end+1]
		if _, err := netip.ParseAddr(hp[1:end]); err != nil {
			return "", 0, false
		}
		hp = hp[end+1:]
		if hp == "" {
			return host, 0, true
		}
		if hp[0] != ':' {
			return "", 0, false
		}
		port, ok = rawDigits(hp[1:], 5)
		return host, port, ok && port > 0 && port <= 65535
	}
	if colon := strings.IndexByte(hp, ':'); colon >= 0 {
		host = hp[:colon]
		port, ok = rawDigits(hp[colon+1:], 5)
		if !ok || port == 0 || port > 65535 {
			return "", 0, false
		}
	}
	if host == "" {
		return "", 0, false
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; !isAlnum(c) && c != '-' && c != '.' && c != '_' {
			return "", 0, false
		}
	}
	return host, port, true
}

// rawParams accepts "" or *(;token[=value]).
func rawParams(p string) bool {
	for p != "" {
		if p[0] != ';' {
			return false
		}
		p = p[1:]
		end := strings.IndexByte(p, ';')
		if end < 0 {
			end = len(p)
		}
		name, val, hasVal := strings.Cut(p[:end], "=")
		if !rawToken(name) || hasVal && !rawParamValue(val) {
			return false
		}
		p = p[end:]
	}
	return true
}

// rawParam returns the value of the parameter name in params (already
// checked by rawParams); ok is false when it appears twice.
func rawParam(params, name string) (string, bool) {
	val, _, ok := rawParamFound(params, name)
	return val, ok
}

// rawParamFound is rawParam that also tells a parameter without a value
// (";rport") from an absent one.
func rawParamFound(params, name string) (val string, found, ok bool) {
	for params != "" {
		params = params[1:]
		end := strings.IndexByte(params, ';')
		if end < 0 {
			end = len(params)
		}
		n, v, _ := strings.Cut(params[:end], "=")
		if strings.EqualFold(n, name) {
			// sipgo looks the name up as written; see topVia.
			if found || n != name {
				return "", false, false
			}
			val, found = v, true
		}
		params = params[end:]
	}
	return val, found, true
}

// rawParamValue: token characters, or an IPv6 reference.
func rawParamValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !isTokenChar(c) && c != '[' && c != ']' && c != ':' {
			return false
		}
	}
	return true
}

func rawToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// rawDigits parses at most max decimal digits.
func rawDigits(s string, max int) (int, bool) {
	if s == "" || len(s) > max {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// rawBufs are the answer being built and the registrar's own lines.
type rawBufs struct {
	req       rawReq
	out, hdrs []byte
}

var rawPool = sync.Pool{New: func() any {
	return &rawBufs{out: make([]byte, 0, 1500), hdrs: make([]byte, 0, 1024)}
}}

// rawRegister answers data on the raw path and reports whether it did. A
// false return has changed nothing and counted nothing.
func (s *Server) rawRegister(fc *fastConn, local net.Addr, raddr *net.UDPAddr, data []byte) bool {
	if !s.cfg.RegisterRawPath || s.reg == nil {
		return false
	}
	b := rawPool.Get().(*rawBufs)
	defer rawPool.Put(b)
	var lim *LimitsConfig
	if s.lim != nil {
		lim = &s.lim.cfg
	}
	// A view of the datagram, not a copy: the reader reuses data only after
	// this returns, and the registrar and the location table copy every
	// string they keep (RawRegister's contract). The copy was a quarter of
	// what a REGISTER allocated. TestRawPathKeepsNoViewOfTheDatagram
	// scribbles over the buffer and checks what was stored.
	msg := unsafe.String(unsafe.SliceData(data), len(data))
	r := &b.req
	if !parseRawRegister(msg, r, lim) {
		s.m.raw[rawDeclinedReader].Inc()
		return false
	}
	// Admission, as the limit stage does it, and its 503 answered here:
	// in a registration storm, refusing must cost less than registering.
	start := time.Now()
	opens := !r.toTagged
	if opens && s.admit.refusing() {
		s.rawRefuse(fc, local, raddr, b, start)
		return true
	}
	if s.inflight.Add(1) > int64(s.cfg.MaxInflight) && opens {
		s.inflight.Add(-1)
		s.rawRefuse(fc, local, raddr, b, start)
		return true
	}
	defer s.inflight.Add(-1)

	src := registrar.Source{
		Addr:      netip.AddrPortFrom(raddr.AddrPort().Addr().Unmap(), raddr.AddrPort().Port()),
		Local:     s.localFor(nil, location.UDP),
		Transport: location.UDP,
	}
	s.track.enter()
	defer s.track.leave()
	code, hdrs := s.reg.RegisterRaw(&r.reg, src, b.hdrs[:0])
	b.hdrs = hdrs
	if code == 0 {
		s.m.raw[rawDeclinedRegistrar].Inc()
		return false
	}
	b.out = s.appendRawAnswer(b.out[:0], r, src.Addr, code, hdrs)
	s.rawSend(fc, local, raddr, b.out, code, start)
	return true
}

// rawRefuse answers 503 with Retry-After, as the limit stage does.
func (s *Server) rawRefuse(fc *fastConn, local net.Addr, raddr *net.UDPAddr, b *rawBufs, start time.Time) {
	s.m.rejected.Inc()
	b.hdrs = b.hdrs[:0]
	if s.cfg.RetryAfter > 0 {
		b.hdrs = append(b.hdrs, "Retry-After: "...)
		b.hdrs = strconv.AppendInt(b.hdrs, int64(s.cfg.RetryAfter), 10)
		b.hdrs = append(b.hdrs, "\r\n"...)
	}
	src := netip.AddrPortFrom(raddr.AddrPort().Addr().Unmap(), raddr.AddrPort().Port())
	b.out = s.appendRawAnswer(b.out[:0], &b.req, src, 503, b.hdrs)
	s.rawSend(fc, local, raddr, b.out, 503, start)
}

// rawSend sends a raw answer and counts it.
func (s *Server) rawSend(fc *fastConn, local net.Addr, raddr *net.UDPAddr, out []byte, code int, start time.Time) {
	s.m.raw[rawAnswered].Inc()
	mi := methodIndex(sip.REGISTER)
	s.m.requests[mi][0].Inc() // transportNames[0] is UDP
	s.m.response(mi, code)
	// Queue only what the batch reader itself read: the queue belongs to
	// that one goroutine.
	if bc, _ := fc.pc.(*batchConn); bc.owns(local) {
		bc.queue(out, raddr)
	} else if _, err := fc.pc.WriteTo(out, raddr); err != nil {
		s.log.Debug("sip register answer not sent", "dst", raddr.String(), "err", err)
	}
	s.m.duration[mi].Observe(time.Since(start).Seconds())
}

// appendRawAnswer builds the whole response: status line, the request's
// Via (received/rport on the top one), From, To (with our tag), Call-ID and
// CSeq, the registrar's lines, Server and Content-Length.
func (s *Server) appendRawAnswer(b []byte, r *rawReq, src netip.AddrPort, code int, hdrs []byte) []byte {
	b = append(b, "SIP/2.0 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, registrar.RawReason(code)...)
	b = append(b, "\r\n"...)
	ip := src.Addr().Unmap()
	for i := 0; i < r.nvia; i++ {
		b = append(b, "Via: "...)
		v := r.vias[i]
		if i > 0 {
			b = append(b, v...)
			b = append(b, "\r\n"...)
			continue
		}
		// RFC 3581 §4 and RFC 3261 §18.2.1, as fixVia does it.
		fill := r.rportAt >= 0
		if fill {
			b = append(b, v[:r.rportAt]...)
			b = append(b, '=')
			b = strconv.AppendUint(b, uint64(src.Port()), 10)
			b = append(b, v[r.rportAt:]...)
		} else {
			b = append(b, v...)
		}
		if fill || !sameHost(r.viaHost, ip) {
			b = append(b, ";received="...)
			b = ip.AppendTo(b)
		}
		b = append(b, "\r\n"...)
	}
	b = append(b, "From: "...)
	b = append(b, r.from...)
	b = append(b, "\r\nTo: "...)
	b = append(b, r.to...)
	if !r.toTagged {
		b = append(b, ";tag="...)
		b = strconv.AppendUint(b, stableTag(r.reg.CallID, r.reg.CSeq, r.fromTag, r.branch), 36)
	}
	b = append(b, "\r\nCall-ID: "...)
	b = append(b, r.reg.CallID...)
	b = append(b, "\r\nCSeq: "...)
	b = append(b, r.cseq...)
	b = append(b, "\r\n"...)
	b = append(b, hdrs...)
	if ua := s.cfg.UserAgent; ua != "" {
		b = append(b, "Server: "...)
		b = append(b, ua...)
		b = append(b, "\r\n"...)
	}
	return append(b, "Content-Length: 0\r\n\r\n"...)
}

// stableTag is the To-tag of a stateless answer: FNV-1a over Call-ID, CSeq
// number, From tag and branch, as Kamailio's sl module derives its own, so
// a retransmission gets the very same answer without any state kept.
func stableTag(callID string, seq uint32, fromTag, branch string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime
		}
	}
	add(callID)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(seq))
	for _, c := range n {
		h ^= uint64(c)
		h *= prime
	}
	add(fromTag)
	add(branch)
	return h
}
