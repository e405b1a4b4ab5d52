package registrar

import (
	"crypto/sha256"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/sipedge/sipedge/devices"
)

// nonceSkew tolerates a nonce minted slightly "in the future" by a peer node
// whose clock runs ahead (same secret in a cluster).
const nonceSkew = 60

// maxUserLen bounds the SIP user part we accept.
const maxUserLen = 128

// Authenticate authenticates a request by source IP or digest. For REGISTER
// (proxy false) the identity is the To URI and challenges are 401
// WWW-Authenticate; for other requests (proxy true) it is the From URI and
// challenges are 407 Proxy-Authenticate. A nil response means authenticated;
// (nil, nil) means drop silently: a banned pair when the ban action is
// "drop", or a request no answer could safely echo (CR/LF/NUL in Via, From,
// To, Call-ID or CSeq).
func (s *Service) Authenticate(req *sip.Request, src Source, proxy bool) (*devices.Device, *sip.Response) {
	if !echoSafe(req) {
		return nil, nil
	}
	dev, res, _ := s.authenticate(req, src, proxy)
	return dev, res
}

// authenticate also reports the result for registrations_total.
func (s *Service) authenticate(req *sip.Request, src Source, proxy bool) (*devices.Device, *sip.Response, result) {
	var id *sip.Uri
	if proxy {
		if f := req.From(); f != nil {
			id = &f.Address
		}
	} else if t := req.To(); t != nil {
		id = &t.Address
	}
	// The user is part of keys kept in bounded caches; a bound on its length
	// keeps their memory bounded too.
	if id == nil || id.User == "" || len(id.User) > maxUserLen || !validRealm(id.Host) {
		return nil, s.respond(req, src, 400, "Bad Request - Invalid Identity User Or Realm"), resBadRequest
	}
	user, realm := id.User, strings.ToLower(id.Host)
	ip := src.Addr.Addr().Unmap()

	// IP auth. For REGISTER the trusted address may only register the
	// device's own AOR, or any source could hijack another user's calls.
	if ip.IsValid() {
		if d := s.dir.ByIP(ip); d != nil && d.Enabled && d.Method == "ip" &&
			(proxy || (d.Realm == realm && (d.Username == "" || strings.EqualFold(d.Username, user)))) {
			return d, nil, resOK
		}
	}

	key := pairKey(strings.ToLower(user)+"@"+realm, ip)
	if s.limiter.banned(key) {
		return nil, s.banResponse(req, src), resBanned
	}

	hname := "Authorization"
	if proxy {
		hname = "Proxy-Authorization"
	}
	h := req.GetHeader(hname)
	if h == nil {
		return nil, s.challenge(req, src, realm, false, proxy), resChallenged
	}
	c, err := parseCredentials(h.Value())
	if err != nil {
		if !isDigest(h.Value()) {
			// Another scheme (Basic, NTLM, ...): answer with our challenge,
			// as RFC 4475 §3.3.7 expects, so the client can retry with Digest.
			return nil, s.challenge(req, src, realm, false, proxy), resChallenged
		}
		return nil, s.respond(req, src, 400, "Bad Request - Malformed Credentials"), resBadRequest
	}
	// Kamailio's rule: the auth user is the identity user ($au == $tU).
	if !strings.EqualFold(c.username, user) {
		s.m.failures[failUserMismatch].Inc()
		return nil, s.respond(req, src, 403, "Forbidden"), resFailed
	}
	// The digest-uri is not compared with the Request-URI: SIPp and several
	// phones put the proxy's address there, Kamailio accepts it, and the uri
	// is covered by the response hash anyway.
	// Credentials for another realm, a forged or foreign nonce, an opaque
	// that is not ours, or parameters we never offered: not a password
	// guess, just answer with a fresh challenge.
	issued, nonceOK := s.minter.check(c.nonce, realm)
	alg, algOK := parseAlg(c.algorithm)
	algOK = algOK && s.offered[alg]
	qopOK := c.qop == "" || strings.EqualFold(c.qop, "auth")
	switch {
	case !strings.EqualFold(c.realm, realm), !nonceOK,
		c.opaque != "" && !s.minter.checkOpaque(c.opaque, realm):
		s.m.failures[failBadNonce].Inc()
		return nil, s.challenge(req, src, realm, false, proxy), resChallenged
	case !algOK, !qopOK, c.userhash != "" && !strings.EqualFold(c.userhash, "false"):
		s.m.failures[failUnsupported].Inc()
		return nil, s.challenge(req, src, realm, false, proxy), resChallenged
	}
	var nc uint32
	if c.qop != "" {
		var ok bool
		if nc, ok = parseNC(c.nc); !ok || c.cnonce == "" {
			return nil, s.respond(req, src, 400, "Bad Request - Malformed Nonce Count Or Cnonce"), resBadRequest
		}
	}

	// Hash whether or not the user exists, with the same inputs' shape, so
	// unknown and disabled users cost what known ones do.
	dev := s.dir.ByUser(realm, user)
	known := dev != nil && dev.Password != "" && dev.Method != "ip"
	password := s.dummyPassword
	if known {
		password = dev.Password
	}
	var want [2 * sha256.Size]byte
	match := responseMatches(c.response, expectedResponse(&want, &digestInput{
		alg: alg, username: c.username, realm: c.realm, password: password,
		method: string(req.Method), uri: c.uri, nonce: c.nonce, nc: c.nc, cnonce: c.cnonce, qop: c.qop,
	}))
	switch {
	case !known:
		return s.authFailed(req, src, key, user, realm, ip, failUnknown, proxy)
	case !dev.Enabled:
		return s.authFailed(req, src, key, user, realm, ip, failDisabled, proxy)
	case !match:
		return s.authFailed(req, src, key, user, realm, ip, failBadPassword, proxy)
	}
	now := s.now().Unix()
	if now-issued > int64(s.cfg.NonceTTL.Seconds()) || issued-now > nonceSkew {
		s.m.failures[failStale].Inc()
		return nil, s.challenge(req, src, realm, true, proxy), resChallenged
	}
	if c.qop != "" && !s.nc.advance(c.nonce, nc) {
		s.m.failures[failReplay].Inc()
		s.log.Warn("auth replay", "src", ip.String(), "user", user, "realm", realm)
		return nil, s.challenge(req, src, realm, false, proxy), resChallenged
	}
	s.limiter.succeed(key)
	return dev, nil, resOK
}

// authFailed counts a failure for the pair and bans it at the limit. The
// log lines are stable for fail2ban: msg="auth failed" src=<ip> user=… realm=….
func (s *Service) authFailed(req *sip.Request, src Source, key, user, realm string, ip netip.Addr, reason failReason, proxy bool) (*devices.Device, *sip.Response, result) {
	s.m.failures[reason].Inc()
	banned, n := s.limiter.fail(key, user, realm, ip)
	s.log.Warn("auth failed", "src", ip.String(), "user", user, "realm", realm, "reason", failReasonNames[reason], "failures", n)
	if banned {
		s.m.bans.Inc()
		s.log.Warn("auth banned", "src", ip.String(), "user", user, "realm", realm, "failures", n,
			"ban_seconds", int64(s.cfg.FailedAuth.Ban.Seconds()))
		return nil, s.banResponse(req, src), resBanned
	}
	return nil, s.challenge(req, src, realm, false, proxy), resFailed
}

func (s *Service) banResponse(req *sip.Request, src Source) *sip.Response {
	if s.cfg.FailedAuth.Action == BanActionDrop {
		return nil
	}
	return s.respond(req, src, 403, "Forbidden")
}

// challenge answers 401/407 with one challenge per configured algorithm.
// Everything in it but the nonce's timestamp depends only on the realm, so
// unknown users, disabled devices and wrong passwords look alike.
func (s *Service) challenge(req *sip.Request, src Source, realm string, stale, proxy bool) *sip.Response {
	code, reason, hname := 401, "Unauthorized", "WWW-Authenticate"
	if proxy {
		code, reason, hname = 407, "Proxy Authentication Required", "Proxy-Authenticate"
	}
	res := s.respond(req, src, code, reason)
	nonce := s.minter.nonce(realm, s.now().Unix())
	opaque := s.minter.opaque(realm)
	var buf [256]byte
	for _, alg := range s.algs {
		res.AppendHeader(sip.NewHeader(hname, string(appendChallenge(buf[:0], realm, nonce, opaque, alg, stale))))
	}
	return res
}

// appendChallenge appends one Digest challenge value. Everything in it but
// the nonce's timestamp depends only on the realm.
func appendChallenge(dst []byte, realm, nonce, opaque string, alg digestAlg, stale bool) []byte {
	dst = append(dst, `Digest realm="`...)
	dst = append(dst, realm...)
	dst = append(dst, `", nonce="`...)
	dst = append(dst, nonce...)
	dst = append(dst, `", opaque="`...)
	dst = append(dst, opaque...)
	dst = append(dst, `", algorithm=`...)
	dst = append(dst, alg.String()...)
	dst = append(dst, `, qop="auth"`...)
	if stale {
		dst = append(dst, `, stale=true`...)
	}
	return dst
}

// validRealm accepts host names and IP literals only: the realm is echoed
// inside a quoted string, so quotes, backslashes and controls must never pass.
func validRealm(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// isDigest reports whether an Authorization value uses the Digest scheme.
func isDigest(v string) bool {
	v = trimLWS(v)
	return len(v) >= 6 && strings.EqualFold(v[:6], "digest")
}
