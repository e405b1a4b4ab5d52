package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Register signs users in with digest REGISTERs (RFC 3261 §10.2).
//
// A first-time registration is REGISTER → 401 → REGISTER with credentials
// → 200 on a fresh Call-ID, what a phone does after boot. With Refresh, a
// user that registered before in this scenario (an earlier run, or the
// warm-up pass) refreshes on the same Call-ID with CSeq+1 and its cached
// nonce at the next nonce count: one round trip, as a phone refreshes. A
// server that challenges the refresh anyway is answered; that costs a
// round trip, not a failure.
type Register struct {
	// Realm is the users' domain: To/From host and the HA1 realm.
	Realm string
	// URI is the Request-URI and digest uri; default "sip:" + Realm.
	URI string
	// Users are split between the workers: user i belongs to worker i mod
	// workers, so per-user state needs no lock.
	Users []User
	// Expires is the Expires header, default 3600.
	Expires int
	// Alg picks among several challenges: "" answers the first one offered
	// that is supported, "MD5" or "SHA-256" that one only.
	Alg     string
	Refresh bool

	prepared bool
	workers  int
	ha1      [2][][]byte
	ha2      [2]string
	cursor   []int
	state    []userState
	prefer   Alg
	anyAlg   bool
}

// userState is what a phone remembers between registrations.
type userState struct {
	busy      bool
	callID    []byte
	tag       []byte
	cseq      uint32
	nonce     []byte
	opaque    []byte
	alg       Alg
	qop       bool
	nc        uint32
	registers int
}

// Register session states.
const (
	regSentPlain = iota
	regSentCredentials
	regSentRefresh
	regSentAfterStale
)

// Name implements Scenario.
func (g *Register) Name() string {
	if g.Refresh {
		return "register-refresh"
	}
	return "register"
}

// Prepare implements Scenario: it computes every user's HA1 once.
func (g *Register) Prepare(workers int) error {
	if g.Realm == "" || !validRealm(g.Realm) {
		return fmt.Errorf("bench: register: realm %q: want a host name", g.Realm)
	}
	if len(g.Users) == 0 {
		return errors.New("bench: register: no users")
	}
	if len(g.Users) < workers {
		return fmt.Errorf("bench: register: %d users for %d sockets: each socket needs users of its own", len(g.Users), workers)
	}
	if g.Expires == 0 {
		g.Expires = 3600
	}
	if g.URI == "" {
		g.URI = "sip:" + g.Realm
	}
	g.anyAlg = g.Alg == ""
	if !g.anyAlg {
		a, ok := ParseAlg(g.Alg)
		if !ok {
			return fmt.Errorf("bench: register: algorithm %q: want MD5 or SHA-256", g.Alg)
		}
		g.prefer = a
	}
	if !g.prepared {
		for _, a := range []Alg{MD5, SHA256} {
			g.ha1[a] = make([][]byte, len(g.Users))
			for i, u := range g.Users {
				g.ha1[a][i] = []byte(HA1(a, u.Name, g.Realm, u.Password))
			}
			g.ha2[a] = HA2(a, "REGISTER", g.URI)
		}
		g.state = make([]userState, len(g.Users))
		g.prepared = true
	}
	if workers != g.workers {
		g.workers = workers
		g.cursor = make([]int, workers)
		for i := range g.cursor {
			g.cursor[i] = i
		}
	}
	return nil
}

// Registered counts users that registered at least once.
func (g *Register) Registered() int {
	n := 0
	for i := range g.state {
		if g.state[i].registers > 0 {
			n++
		}
	}
	return n
}

// pick finds the worker's next idle user.
func (g *Register) pick(worker int) (int, bool) {
	n := len(g.Users)
	for tries := 0; tries < 16; tries++ {
		u := g.cursor[worker]
		if u >= n {
			u = worker % n
		}
		next := u + g.workers
		if next >= n {
			next = worker % n
		}
		g.cursor[worker] = next
		if !g.state[u].busy {
			return u, true
		}
	}
	return 0, false
}

// Start implements Scenario.
func (g *Register) Start(s *Session, b []byte) ([]byte, bool) {
	u, ok := g.pick(s.Worker)
	if !ok {
		return b, false
	}
	st := &g.state[u]
	st.busy = true
	s.User = u
	if g.Refresh && st.registers > 0 && len(st.nonce) > 0 {
		st.cseq++
		st.nc++
		s.State = regSentRefresh
		return g.build(s, st, b, true), true
	}
	st.callID = s.AppendCallID(st.callID[:0])
	st.tag = s.AppendTag(st.tag[:0])
	st.cseq = 1
	st.nonce = st.nonce[:0]
	s.State = regSentPlain
	return g.build(s, st, b, false), true
}

// Response implements Scenario.
func (g *Register) Response(s *Session, r *Response, b []byte) Action {
	st := &g.state[s.User]
	switch {
	case r.Code >= 200 && r.Code < 300:
		st.registers++
		return Action{Done: true}
	case r.Code == 401 || r.Code == 407:
		c, ok := g.choose(r)
		if !ok {
			return Action{Fail: "no usable challenge"}
		}
		// A challenge to fresh credentials is a failure unless it says the
		// nonce was merely stale, and that only once.
		next := regSentCredentials
		switch {
		case s.State == regSentAfterStale, s.State == regSentCredentials && !c.Stale:
			return Action{Fail: "challenged after credentials"}
		case s.State == regSentCredentials:
			next = regSentAfterStale
		}
		if !bytes.EqualFold(c.Realm, []byte(g.Realm)) {
			return Action{Fail: "challenge for another realm"}
		}
		st.nonce = append(st.nonce[:0], c.Nonce...)
		st.opaque = append(st.opaque[:0], c.Opaque...)
		st.alg, st.qop, st.nc = c.Alg, c.QOPAuth, 1
		st.cseq++
		s.State = next
		return Action{Next: g.build(s, st, b, true)}
	}
	return Action{Fail: statusCause(r.Code)}
}

// Finish implements Scenario.
func (g *Register) Finish(s *Session, ok bool) {
	st := &g.state[s.User]
	st.busy = false
	if !ok {
		// Start over with a fresh Call-ID next time, as a phone would after a failure.
		st.nonce = st.nonce[:0]
		st.registers = 0
	}
}

func (g *Register) choose(r *Response) (Challenge, bool) {
	for i := 0; i < r.NChallenges; i++ {
		c, ok := ParseChallenge(r.Challenges[i])
		if ok && (g.anyAlg || c.Alg == g.prefer) {
			return c, true
		}
	}
	return Challenge{}, false
}

func (g *Register) build(s *Session, st *userState, b []byte, auth bool) []byte {
	name := g.Users[s.User].Name
	b = append(b, "REGISTER "...)
	b = append(b, g.URI...)
	b = append(b, " SIP/2.0\r\n"...)
	b = s.AppendVia(b)
	b = append(b, "Max-Forwards: 70\r\nFrom: <sip:"...)
	b = append(b, name...)
	b = append(b, '@')
	b = append(b, g.Realm...)
	b = append(b, ">;tag="...)
	b = append(b, st.tag...)
	b = append(b, "\r\nTo: <sip:"...)
	b = append(b, name...)
	b = append(b, '@')
	b = append(b, g.Realm...)
	b = append(b, ">\r\nCall-ID: "...)
	b = append(b, st.callID...)
	b = append(b, "\r\nCSeq: "...)
	b = strconv.AppendUint(b, uint64(st.cseq), 10)
	b = append(b, " REGISTER\r\nContact: <sip:"...)
	b = append(b, name...)
	b = append(b, '@')
	b = append(b, s.Local()...)
	b = append(b, ">\r\nExpires: "...)
	b = strconv.AppendInt(b, int64(g.Expires), 10)
	b = append(b, "\r\n"...)
	if auth {
		b = g.appendAuthorization(b, s, st, name)
	}
	return append(b, "User-Agent: sipbench\r\nContent-Length: 0\r\n\r\n"...)
}

func (g *Register) appendAuthorization(b []byte, s *Session, st *userState, name string) []byte {
	var ncBuf, cnBuf [24]byte
	nc := appendNC(ncBuf[:0], st.nc)
	cnonce := s.AppendTag(cnBuf[:0])
	var qop []byte
	if st.qop {
		qop = []byte("auth")
	}
	b = append(b, `Authorization: Digest username="`...)
	b = append(b, name...)
	b = append(b, `", realm="`...)
	b = append(b, g.Realm...)
	b = append(b, `", nonce="`...)
	b = append(b, st.nonce...)
	b = append(b, `", uri="`...)
	b = append(b, g.URI...)
	b = append(b, `", response="`...)
	b = appendResponse(b, st.alg, g.ha1[st.alg][s.User], st.nonce, nc, cnonce, qop, g.ha2[st.alg])
	b = append(b, `", algorithm=`...)
	b = append(b, st.alg.String()...)
	if st.qop {
		b = append(b, `, cnonce="`...)
		b = append(b, cnonce...)
		b = append(b, `", qop=auth, nc=`...)
		b = append(b, nc...)
	}
	if len(st.opaque) > 0 {
		b = append(b, `, opaque="`...)
		b = append(b, st.opaque...)
		b = append(b, '"')
	}
	return append(b, "\r\n"...)
}

// validRealm accepts host names and IP literals.
func validRealm(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return h != ""
}

var statusCauses = func() (t [700]string) {
	for i := 100; i < len(t); i++ {
		t[i] = "status " + strconv.Itoa(i)
	}
	return t
}()

// statusCause names a failure by status code without allocating.
func statusCause(code int) string {
	if code >= 100 && code < len(statusCauses) {
		return statusCauses[code]
	}
	return "status other"
}
