package registrar

import (
	"crypto/sha256"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/sipedge/sipedge/location"
)

// HandleRegisterStateless answers a REGISTER that arrived without a SIP
// transaction to absorb its retransmissions (the proxy's UDP fast path).
// Everything goes through HandleRegister, with one exception it cannot
// make idempotent on its own: a retransmission of the request that made
// the current binding carries a nonce count already used, which the
// replay check would answer with a fresh 401. Such a retransmission (same
// AOR, Call-ID, CSeq and source as the stored binding, and credentials
// that still verify) gets the 200 listing the current bindings instead,
// and changes nothing, which is what a transaction layer would have sent.
func (s *Service) HandleRegisterStateless(req *sip.Request, src Source) *sip.Response {
	if req == nil {
		return nil
	}
	start := time.Now()
	if res := s.retransmission(req, src); res != nil {
		s.m.results[resOK].Inc()
		s.m.duration.Observe(time.Since(start).Seconds())
		return res
	}
	return s.HandleRegister(req, src)
}

// retransmission returns the answer to a retransmitted, already applied
// REGISTER, or nil when req is anything else (HandleRegister decides).
func (s *Service) retransmission(req *sip.Request, src Source) *sip.Response {
	to, callID, cseq := req.To(), req.CallID(), req.CSeq()
	if to == nil || callID == nil || cseq == nil || req.Method != sip.REGISTER {
		return nil
	}
	h := req.GetHeader("Authorization")
	if h == nil {
		return nil
	}
	// Cheapest test first: most requests are not retransmissions.
	realm := strings.ToLower(to.Address.Host)
	aor := strings.ToLower(to.Address.User) + "@" + realm
	// On the stack: this runs for every authenticated REGISTER and almost
	// always finds nothing to answer.
	var buf [4]location.Binding
	bindings := s.loc.Lookup(aor, buf[:0])
	cid, match := callID.Value(), false
	for i := range bindings {
		b := &bindings[i]
		if b.CallID == cid && b.CSeq == cseq.SeqNo && b.Source == src.Addr {
			match = true
			break
		}
	}
	if !match || !echoSafe(req) {
		return nil
	}
	c, err := parseCredentials(h.Value())
	if err != nil || c.qop == "" || !strings.EqualFold(c.username, to.Address.User) || !strings.EqualFold(c.realm, realm) {
		return nil
	}
	user := to.Address.User
	if s.limiter.banned(pairKey(strings.ToLower(user)+"@"+realm, src.Addr.Addr().Unmap())) {
		return nil
	}
	issued, ok := s.minter.check(c.nonce, realm)
	if !ok {
		return nil
	}
	now := s.now()
	if now.Unix()-issued > int64(s.cfg.NonceTTL.Seconds()) {
		return nil
	}
	alg, ok := parseAlg(c.algorithm)
	if !ok || !s.offered[alg] {
		return nil
	}
	dev := s.dir.ByUser(realm, user)
	if dev == nil || !dev.Enabled || dev.Password == "" || dev.Method == "ip" {
		return nil
	}
	var want [2 * sha256.Size]byte
	if !responseMatches(c.response, expectedResponse(&want, &digestInput{
		alg: alg, username: c.username, realm: c.realm, password: dev.Password,
		method: string(req.Method), uri: c.uri, nonce: c.nonce, nc: c.nc, cnonce: c.cnonce, qop: c.qop,
	})) {
		return nil
	}
	return s.ok(req, src, bindings, nil, now)
}
