package bench

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// scenarioSession is a session on a worker that sends nothing, for driving a
// scenario by hand.
func scenarioSession() *Session {
	w := &worker{local: "127.0.0.1:5999", prefix: []byte("z9hG4bKsbtest.0."), r: &runner{target: "127.0.0.1:5060", runID: "test"}}
	s := &Session{w: w, ID: 1, gen: 1}
	s.setBranch()
	return s
}

func response(t *testing.T, code int, hdrs ...string) *Response {
	t.Helper()
	msg := fmt.Sprintf("SIP/2.0 %d X\r\nVia: SIP/2.0/UDP h;branch=b\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n%s\r\n", code, strings.Join(hdrs, ""))
	var r Response
	if err := ParseResponse([]byte(msg), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

var authParam = regexp.MustCompile(`(\w+)="?([^",\r]*)"?`)

// authorization pulls the Authorization parameters out of a request.
func authorization(t *testing.T, req []byte) map[string]string {
	t.Helper()
	i := strings.Index(string(req), "Authorization: Digest ")
	if i < 0 {
		t.Fatalf("no Authorization in\n%s", req)
	}
	line := string(req[i+len("Authorization: Digest "):])
	line = line[:strings.Index(line, "\r\n")]
	m := map[string]string{}
	for _, p := range authParam.FindAllStringSubmatch(line, -1) {
		m[p[1]] = p[2]
	}
	return m
}

// The scenario answers a challenge with credentials that verify, bumps the
// CSeq, accepts one stale challenge, and fails a second challenge.
func TestRegisterScenarioChallenges(t *testing.T) {
	const realm = "acme.example.com"
	chal := func(alg, extra string) string {
		return `WWW-Authenticate: Digest realm="` + realm + `", nonce="n-` + alg + `", opaque="op", algorithm=` + alg + `, qop="auth"` + extra + "\r\n"
	}
	cases := []struct {
		name     string
		pref     string
		second   *Response // answer to the credentials
		wantAlg  string
		wantFail string
		wantDone bool
	}{
		{name: "first offered", second: nil, wantAlg: "SHA-256"},
		{name: "preferred MD5", pref: "MD5", wantAlg: "MD5"},
		{name: "rechallenged", wantAlg: "SHA-256", second: response(t, 401, chal("SHA-256", "")), wantFail: "challenged after credentials"},
		{name: "forbidden", wantAlg: "SHA-256", second: response(t, 403), wantFail: "status 403"},
		{name: "ok", wantAlg: "SHA-256", second: response(t, 200), wantDone: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &Register{Realm: realm, Users: []User{{"alice", "pw"}}, Alg: tc.pref}
			if err := g.Prepare(1); err != nil {
				t.Fatal(err)
			}
			s := scenarioSession()
			req, ok := g.Start(s, nil)
			if !ok || !strings.Contains(string(req), "CSeq: 1 REGISTER\r\n") || strings.Contains(string(req), "Authorization") {
				t.Fatalf("first request:\n%s", req)
			}
			act := g.Response(s, response(t, 401, chal("SHA-256", ""), chal("MD5", "")), nil)
			if act.Fail != "" || len(act.Next) == 0 || !strings.Contains(string(act.Next), "CSeq: 2 REGISTER\r\n") {
				t.Fatalf("after the challenge: %+v\n%s", act, act.Next)
			}
			a := authorization(t, act.Next)
			alg, _ := ParseAlg(a["algorithm"])
			want := DigestResponse(alg, "alice", realm, "pw", "REGISTER", "sip:"+realm, a["nonce"], a["nc"], a["cnonce"], "auth")
			if a["algorithm"] != tc.wantAlg || a["response"] != want || a["nonce"] != "n-"+tc.wantAlg || a["opaque"] != "op" ||
				a["nc"] != "00000001" || a["qop"] != "auth" || a["username"] != "alice" || a["uri"] != "sip:"+realm {
				t.Fatalf("Authorization %v, want %s answered with response %s", a, tc.wantAlg, want)
			}
			if tc.second == nil {
				return
			}
			act = g.Response(s, tc.second, nil)
			if act.Fail != tc.wantFail || act.Done != tc.wantDone {
				t.Fatalf("after credentials: %+v", act)
			}
		})
	}
}

func TestRegisterScenarioStaleOnce(t *testing.T) {
	const realm = "acme.example.com"
	stale := response(t, 401, `WWW-Authenticate: Digest realm="`+realm+`", nonce="fresh", algorithm=MD5, qop="auth", stale=true`+"\r\n")
	g := &Register{Realm: realm, Users: []User{{"alice", "pw"}}}
	if err := g.Prepare(1); err != nil {
		t.Fatal(err)
	}
	s := scenarioSession()
	if _, ok := g.Start(s, nil); !ok {
		t.Fatal("not started")
	}
	steps := []struct {
		res      *Response
		wantCSeq string
		wantFail string
	}{
		{res: response(t, 401, `WWW-Authenticate: Digest realm="`+realm+`", nonce="old", algorithm=MD5, qop="auth"`+"\r\n"), wantCSeq: "CSeq: 2 "},
		{res: stale, wantCSeq: "CSeq: 3 "},
		{res: stale, wantFail: "challenged after credentials"},
	}
	for i, st := range steps {
		act := g.Response(s, st.res, nil)
		if act.Fail != st.wantFail || (st.wantCSeq != "" && !strings.Contains(string(act.Next), st.wantCSeq)) {
			t.Fatalf("step %d: %+v\n%s", i, act, act.Next)
		}
	}
}

// Refreshes reuse the Call-ID and the cached nonce at the next count.
func TestRegisterScenarioRefresh(t *testing.T) {
	const realm = "acme.example.com"
	g := &Register{Realm: realm, Users: []User{{"alice", "pw"}}, Refresh: true}
	if err := g.Prepare(1); err != nil {
		t.Fatal(err)
	}
	s := scenarioSession()
	first, _ := g.Start(s, nil)
	creds := g.Response(s, response(t, 401, `WWW-Authenticate: Digest realm="`+realm+`", nonce="N", algorithm=MD5, qop="auth"`+"\r\n"), nil)
	if act := g.Response(s, response(t, 200), nil); !act.Done {
		t.Fatalf("200 not done: %+v", act)
	}
	g.Finish(s, true)
	callID := regexp.MustCompile(`Call-ID: (\S+)`)
	refresh, ok := g.Start(scenarioSession(), nil)
	if !ok {
		t.Fatal("refresh not started")
	}
	a := authorization(t, refresh)
	if callID.FindStringSubmatch(string(refresh))[1] != callID.FindStringSubmatch(string(first))[1] ||
		!strings.Contains(string(refresh), "CSeq: 3 REGISTER") || a["nonce"] != "N" || a["nc"] != "00000002" {
		t.Fatalf("refresh:\n%s\nafter\n%s", refresh, creds.Next)
	}
}
