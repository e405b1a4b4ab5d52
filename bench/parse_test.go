package bench

import (
	"strings"
	"testing"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestParseResponse(t *testing.T) {
	cases := []struct {
		name       string
		msg        string
		wantErr    bool
		code       int
		branch     string
		callID     string
		cseq       uint32
		method     string
		toTag      string
		challenges int
	}{
		{
			name: "challenge with two algorithms",
			msg: "SIP/2.0 401 Unauthorized\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKsbab.1.2;rport=5062;received=127.0.0.1\n" +
				"From: <sip:a@x>;tag=1\nTo: <sip:a@x>;tag=srv\nCall-ID: c1@h\nCSeq: 7 REGISTER\n" +
				"WWW-Authenticate: Digest realm=\"x\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\"\n" +
				"WWW-Authenticate: Digest realm=\"x\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"\nContent-Length: 0\n\n",
			code: 401, branch: "z9hG4bKsbab.1.2", callID: "c1@h", cseq: 7, method: "REGISTER", toTag: "srv", challenges: 2,
		},
		{
			name: "compact forms, second Via ignored, tag in URI is not the header's",
			msg:  "SIP/2.0 200 OK\nv: SIP/2.0/UDP h;branch=top, SIP/2.0/UDP g;branch=second\nv: SIP/2.0/UDP k;branch=third\nt: <sip:a@x;tag=uri>\ni: cid\nCSeq:  2   OPTIONS\n\n",
			code: 200, branch: "top", callID: "cid", cseq: 2, method: "OPTIONS",
		},
		{name: "request, not a response", msg: "OPTIONS sip:x SIP/2.0\nVia: SIP/2.0/UDP h;branch=b\n\n", wantErr: true},
		{name: "no Call-ID", msg: "SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=b\nCSeq: 1 REGISTER\n\n", wantErr: true},
		{name: "headers not terminated", msg: "SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=b\nCall-ID: c\nCSeq: 1 REGISTER", wantErr: true},
		{name: "bad status code", msg: "SIP/2.0 2x0 OK\n\n", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			err := ParseResponse(crlf(tc.msg), &r)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Code != tc.code || string(r.Branch) != tc.branch || string(r.CallID) != tc.callID || r.CSeq != tc.cseq ||
				string(r.CSeqMethod) != tc.method || string(r.ToTag) != tc.toTag || r.NChallenges != tc.challenges {
				t.Fatalf("got code %d branch %q call-id %q cseq %d %q to-tag %q challenges %d",
					r.Code, r.Branch, r.CallID, r.CSeq, r.CSeqMethod, r.ToTag, r.NChallenges)
			}
		})
	}
}

func TestParseChallenge(t *testing.T) {
	cases := []struct {
		name                 string
		v                    string
		ok                   bool
		realm, nonce, opaque string
		alg                  Alg
		qop, stale           bool
	}{
		{name: "sipedge", v: `Digest realm="acme", nonce="AAAA", opaque="op", algorithm=SHA-256, qop="auth"`, ok: true, realm: "acme", nonce: "AAAA", opaque: "op", alg: SHA256, qop: true},
		{name: "kamailio", v: `Digest realm="acme", nonce="Z2ZhYmM=", qop="auth"`, ok: true, realm: "acme", nonce: "Z2ZhYmM=", alg: MD5, qop: true},
		{name: "qop list, stale, odd spacing", v: `Digest  realm = "r" ,nonce="n",qop="auth-int,auth", stale=TRUE`, ok: true, realm: "r", nonce: "n", qop: true, stale: true},
		{name: "no qop", v: `Digest realm="r", nonce="n", algorithm=MD5`, ok: true, realm: "r", nonce: "n"},
		{name: "unsupported algorithm", v: `Digest realm="r", nonce="n", algorithm=SHA-512-256`},
		{name: "other scheme", v: `Basic realm="r"`},
		{name: "no nonce", v: `Digest realm="r"`},
		{name: "unterminated quote", v: `Digest realm="r, nonce="n`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := ParseChallenge([]byte(tc.v))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, c)
			}
			if !ok {
				return
			}
			if string(c.Realm) != tc.realm || string(c.Nonce) != tc.nonce || string(c.Opaque) != tc.opaque || c.Alg != tc.alg || c.QOPAuth != tc.qop || c.Stale != tc.stale {
				t.Fatalf("got %+v", c)
			}
		})
	}
}

func TestParseResponseAllocs(t *testing.T) {
	msg := crlf("SIP/2.0 401 Unauthorized\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKsbab.1.2;rport=5062\nFrom: <sip:a@x>;tag=1\nTo: <sip:a@x>\nCall-ID: c1@h\nCSeq: 7 REGISTER\nWWW-Authenticate: Digest realm=\"x\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"\nContent-Length: 0\n\n")
	var r Response
	n := testing.AllocsPerRun(100, func() {
		if ParseResponse(msg, &r) != nil {
			t.Fatal("parse failed")
		}
		if _, ok := ParseChallenge(r.Challenges[0]); !ok {
			t.Fatal("challenge failed")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per response", n)
	}
}

func TestBranchRoundTrip(t *testing.T) {
	prefix := []byte("z9hG4bKsbdeadbeef.3.")
	cases := []struct {
		name   string
		branch string
		id     uint64
		gen    uint32
		ok     bool
	}{
		{name: "ours", branch: "z9hG4bKsbdeadbeef.3.42.7", id: 42, gen: 7, ok: true},
		{name: "another socket", branch: "z9hG4bKsbdeadbeef.2.42.7"},
		{name: "another run", branch: "z9hG4bKsbfeedface.3.42.7"},
		{name: "no generation", branch: "z9hG4bKsbdeadbeef.3.42."},
		{name: "junk", branch: "z9hG4bKsbdeadbeef.3.4x.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, gen, ok := parseBranch(prefix, []byte(tc.branch))
			if ok != tc.ok || (ok && (id != tc.id || gen != tc.gen)) {
				t.Fatalf("parseBranch = %d, %d, %v", id, gen, ok)
			}
		})
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add(crlf("SIP/2.0 401 Unauthorized\nVia: SIP/2.0/UDP h;branch=b\nTo: <sip:a@x>;tag=t\nCall-ID: c\nCSeq: 1 REGISTER\nWWW-Authenticate: Digest realm=\"x\", nonce=\"n\", qop=\"auth\"\n\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nv: x;branch=\r\ni:\r\nCSeq: 99999999999 X\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Response
		if ParseResponse(b, &r) != nil {
			return
		}
		if r.Code < 0 || r.Code > 999 || r.NChallenges > len(r.Challenges) {
			t.Fatalf("impossible result %+v", r)
		}
		for i := 0; i < r.NChallenges; i++ {
			_, _ = ParseChallenge(r.Challenges[i])
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	f.Add([]byte(`Digest realm="acme", nonce="AAAA", opaque="op", algorithm=SHA-256, qop="auth"`))
	f.Add([]byte(`Digest qop="auth,auth-int", stale=true, nonce=x`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := ParseChallenge(b)
		if ok && len(c.Nonce) == 0 {
			t.Fatalf("accepted a challenge without a nonce: %q", b)
		}
	})
}
