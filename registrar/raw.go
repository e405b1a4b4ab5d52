package registrar

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/emiago/sipgo/sip"
	"github.com/sipedge/sipedge/location"
)

// RawRegister is a REGISTER read straight off a datagram by a caller that
// checked its syntax (the proxy's UDP fast path) instead of building a
// sipgo message. Its strings may be views into a buffer the caller reuses:
// the registrar copies whatever it keeps.
type RawRegister struct {
	ToUser, ToHost     string
	FromUser, FromHost string
	CallID             string
	CSeq               uint32
	// Contact is the one Contact, parsed as sipgo parses the header; the
	// caller sends anything with no Contact, several, or "*" to the full
	// path. The registrar does not keep the pointer.
	Contact *sip.ContactHeader
	// Expires is the Expires header's value; HasExpires says there was one.
	Expires    string
	HasExpires bool
	// Authorization is the value of the one Authorization header, or "".
	Authorization string
	UserAgent     string
}

// rawDecline is RegisterRaw's "not here": the full path must handle the
// request.
const rawDecline = 0

// RegisterRaw handles the two REGISTERs a registrar mostly sees, the
// first one of a registration (→ 401 with the challenges) and the one
// with good credentials (→ 200 with the bindings), without a sipgo
// message. It appends the answer's own header lines to hdr (each ending
// in CRLF) and returns the status code with them.
//
// Everything else returns code 0 having changed nothing: bans, IP-authed
// devices, wrong or stale credentials, replays and retransmissions, expiry
// refusals, removals, wildcards, queries. The caller then takes the full
// path (HandleRegisterStateless), whose answer is the authority. This keeps
// one implementation of every rule that is not on the common path, and
// the common path's answers are the full path's (TestRawMatchesFullPath).
func (s *Service) RegisterRaw(r *RawRegister, src Source, hdr []byte) (code int, out []byte) {
	start := time.Now()
	code, out, res := s.registerRaw(r, src, hdr)
	if code != rawDecline {
		s.m.results[res].Inc()
		s.m.duration.Observe(time.Since(start).Seconds())
	}
	return code, out
}

func (s *Service) registerRaw(r *RawRegister, src Source, hdr []byte) (int, []byte, result) {
	user := r.ToUser
	if user == "" || len(user) > maxUserLen || !validRealm(r.ToHost) ||
		!strings.EqualFold(r.FromUser, user) || !strings.EqualFold(r.FromHost, r.ToHost) {
		return rawDecline, hdr, 0
	}
	ip := src.Addr.Addr().Unmap()
	if !ip.IsValid() || s.dir.ByIP(ip) != nil {
		// IP-authenticated devices register on the full path.
		return rawDecline, hdr, 0
	}
	realm := lowerASCII(r.ToHost)
	lowUser := lowerASCII(user)
	// Most of the time nobody is failing or banned: no key to build.
	key := ""
	if !s.limiter.quiet() {
		key = pairKey(lowUser+"@"+realm, ip)
		if s.limiter.banned(key) {
			return rawDecline, hdr, 0
		}
	}
	now := s.now()
	if r.Authorization == "" {
		// On the stack, viewed as strings only while they are appended.
		var nb [nonceLen]byte
		var ob [opaqueLen]byte
		nonceB := s.minter.appendNonce(nb[:0], realm, now.Unix())
		opaqueB := s.minter.appendOpaque(ob[:0], realm)
		nonce := unsafe.String(unsafe.SliceData(nonceB), len(nonceB))
		opaque := unsafe.String(unsafe.SliceData(opaqueB), len(opaqueB))
		for _, alg := range s.algs {
			hdr = append(hdr, "WWW-Authenticate: "...)
			hdr = appendChallenge(hdr, realm, nonce, opaque, alg, false)
			hdr = append(hdr, "\r\n"...)
		}
		return 401, hdr, resChallenged
	}

	// Credentials: anything short of a fresh, matching qop=auth answer to
	// our own challenge goes to the full path, which counts and logs it.
	c, err := parseCredentials(r.Authorization)
	if err != nil || c.userhash != "" && !strings.EqualFold(c.userhash, "false") ||
		!strings.EqualFold(c.username, user) || !strings.EqualFold(c.realm, realm) {
		return rawDecline, hdr, 0
	}
	var nc uint32
	if c.qop != "" {
		var ok bool
		if nc, ok = parseNC(c.nc); !ok || c.cnonce == "" || !strings.EqualFold(c.qop, "auth") {
			return rawDecline, hdr, 0
		}
	}
	alg, ok := parseAlg(c.algorithm)
	if !ok || !s.offered[alg] {
		return rawDecline, hdr, 0
	}
	issued, ok := s.minter.check(c.nonce, realm)
	if !ok || c.opaque != "" && !s.minter.checkOpaque(c.opaque, realm) {
		return rawDecline, hdr, 0
	}
	if age := now.Unix() - issued; age > int64(s.cfg.NonceTTL.Seconds()) || -age > nonceSkew {
		return rawDecline, hdr, 0
	}
	dev := s.dir.ByUser(realm, user)
	if dev == nil || !dev.Enabled || dev.Password == "" || dev.Method == "ip" {
		return rawDecline, hdr, 0
	}
	var want [2 * sha256.Size]byte
	if !responseMatches(c.response, expectedResponse(&want, &digestInput{
		alg: alg, username: c.username, realm: c.realm, password: dev.Password,
		method: string(sip.REGISTER), uri: c.uri, nonce: c.nonce, nc: c.nc, cnonce: c.cnonce, qop: c.qop,
	})) {
		return rawDecline, hdr, 0
	}

	// The contact, with the same rules as the full path.
	hdrExpires := -1
	if r.HasExpires {
		n, ok := parseExpires(r.Expires)
		if !ok {
			return rawDecline, hdr, 0
		}
		hdrExpires = n
	}
	ch := r.Contact
	if ch == nil || ch.Address.Wildcard {
		return rawDecline, hdr, 0
	}
	p, code := s.contactPending(ch, hdrExpires, dev)
	if code != 0 || p.expires == 0 {
		return rawDecline, hdr, 0
	}

	// Past this point the request is accepted: the nonce count is used up,
	// so no decline is possible any more (the full path would see a replay).
	// Without qop (RFC 2069) there is no count, and a retransmission is
	// simply bound again, which bind makes idempotent.
	if c.qop != "" && !s.nc.advance(c.nonce, nc) {
		// A retransmission of this very request, or a replay: the full
		// path tells which.
		return rawDecline, hdr, 0
	}
	if key != "" {
		s.limiter.succeed(key)
	}
	// Pooled: the escape analysis cannot keep these on the stack through
	// bind's closure, and they were a third of the bytes a REGISTER
	// allocated.
	sc := rawScratchPool.Get().(*rawScratch)
	defer sc.release()
	sc.pend[0] = p
	pend := sc.pend[:]
	outcome, final := s.bind(&bindRequest{
		dev: dev, aor: lowUser + "@" + realm, realm: realm, user: user,
		callID: r.CallID, cseq: r.CSeq, userAgent: r.UserAgent, pend: pend, final: sc.final[:0],
	}, src, now)
	sc.final = final
	if outcome == regOutOfOrder {
		// RFC 3261 §10.3 step 7: an older CSeq on the same Call-ID fails.
		return 500, hdr, resBadRequest
	}
	for i := range final {
		b := &final[i]
		remaining := remainingSeconds(b, now)
		if remaining <= 0 {
			continue
		}
		if b.OriginalContact == p.orig && !p.hdr.Params.Has("expires") {
			// The request's own contact, as sipgo would render it with
			// expires added (appended, there being none to replace).
			hdr = append(hdr, "Contact: "...)
			hdr = append(hdr, p.orig...)
			hdr = append(hdr, ";expires="...)
			hdr = strconv.AppendInt(hdr, int64(remaining), 10)
			hdr = append(hdr, "\r\n"...)
			continue
		}
		if ch := contactHeader(b, pend, remaining); ch != nil {
			w := appender{hdr}
			ch.StringWrite(&w)
			hdr = append(w.b, "\r\n"...)
		}
	}
	hdr = append(hdr, "Date: "...)
	hdr = now.UTC().AppendFormat(hdr, dateLayout)
	hdr = append(hdr, "\r\n"...)
	return 200, hdr, resOK
}

// rawScratch is registerRaw's room for the binding step.
type rawScratch struct {
	pend  [1]pending
	final []location.Binding
}

var rawScratchPool = sync.Pool{New: func() any { return &rawScratch{final: make([]location.Binding, 0, 2)} }}

// release returns sc to the pool holding no strings of this request.
func (sc *rawScratch) release() {
	sc.pend[0] = pending{}
	clear(sc.final)
	sc.final = sc.final[:0]
	rawScratchPool.Put(sc)
}

// appender lets sipgo's header writers append to a byte slice.
type appender struct{ b []byte }

func (a *appender) WriteString(s string) (int, error) {
	a.b = append(a.b, s...)
	return len(s), nil
}

// lowerASCII lower-cases s, returning s itself when it has no upper case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// RawReason is the reason phrase of the codes RegisterRaw answers with.
func RawReason(code int) string {
	switch code {
	case 200:
		return "OK"
	case 401:
		return "Unauthorized"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	}
	return strconv.Itoa(code)
}
