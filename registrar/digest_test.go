package registrar

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/icholy/digest"
)

func TestParseCredentials(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    credentials
		wantErr bool
	}{
		{
			name: "qop auth",
			in:   `Digest username="alice", realm="acme.example.com", nonce="abc", uri="sip:acme.example.com", response="0123", algorithm=SHA-256, cnonce="xyz", opaque="op", qop=auth, nc=00000001`,
			want: credentials{username: "alice", realm: "acme.example.com", nonce: "abc", uri: "sip:acme.example.com",
				response: "0123", algorithm: "SHA-256", cnonce: "xyz", opaque: "op", qop: "auth", nc: "00000001"},
		},
		{
			name: "no qop, odd spacing and case",
			in:   "digest   USERNAME = \"bob\" ,realm=\"r\",nonce=\"n\",\turi=\"sip:r\",response=\"ff\"  ",
			want: credentials{username: "bob", realm: "r", nonce: "n", uri: "sip:r", response: "ff"},
		},
		{
			name: "escaped quote",
			in:   `Digest username="a\"b", realm="r", nonce="n", uri="sip:r", response="ff"`,
			want: credentials{username: `a"b`, realm: "r", nonce: "n", uri: "sip:r", response: "ff"},
		},
		{
			name: "unknown params ignored",
			in:   `Digest username="a", realm="r", nonce="n", uri="sip:r", response="ff", foo="bar", baz=qux`,
			want: credentials{username: "a", realm: "r", nonce: "n", uri: "sip:r", response: "ff"},
		},
		{name: "basic scheme", in: `Basic YWxhZGRpbjpvcGVuc2VzYW1l`, wantErr: true},
		{name: "no space after scheme", in: `Digestusername="a"`, wantErr: true},
		{name: "missing response", in: `Digest username="a", realm="r", nonce="n", uri="sip:r"`, wantErr: true},
		{name: "duplicate username", in: `Digest username="a", username="b", realm="r", nonce="n", uri="sip:r", response="ff"`, wantErr: true},
		{name: "unterminated quote", in: `Digest username="a, realm="r`, wantErr: true},
		{name: "missing equals", in: `Digest username "a"`, wantErr: true},
		{name: "garbage between params", in: `Digest username="a" realm="r", nonce="n", uri="sip:r", response="ff"`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
		{name: "too long", in: `Digest username="` + strings.Repeat("a", maxCredentialsLen) + `"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCredentials(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// The server computation must agree with an independent client implementation.
func TestExpectedResponseMatchesClient(t *testing.T) {
	tests := []struct {
		name string
		alg  string
		qop  bool
	}{
		{"MD5 qop", "MD5", true},
		{"MD5 no qop", "MD5", false},
		{"SHA-256 qop", "SHA-256", true},
		{"SHA-256 no qop", "SHA-256", false},
		{"absent algorithm means MD5", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chal := &digest.Challenge{Realm: "acme.example.com", Nonce: "n0nce", Opaque: "op", Algorithm: tt.alg}
			if tt.qop {
				chal.QOP = []string{"auth"}
			}
			cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:acme.example.com",
				Username: "alice", Password: "pw", Count: 7, Cnonce: "cn"})
			if err != nil {
				t.Fatal(err)
			}
			c, err := parseCredentials(cred.String())
			if err != nil {
				t.Fatalf("parse %q: %v", cred.String(), err)
			}
			alg, ok := parseAlg(c.algorithm)
			if !ok {
				t.Fatalf("algorithm %q not parsed", c.algorithm)
			}
			in := digestInput{alg: alg, username: c.username, realm: c.realm, password: "pw", method: "REGISTER",
				uri: c.uri, nonce: c.nonce, nc: c.nc, cnonce: c.cnonce, qop: c.qop}
			var buf [2 * sha256.Size]byte
			if !responseMatches(c.response, expectedResponse(&buf, &in)) {
				t.Fatal("correct password rejected")
			}
			if !responseMatches(strings.ToUpper(c.response), expectedResponse(&buf, &in)) {
				t.Fatal("upper-case hex rejected")
			}
			in.password = "wrong"
			if responseMatches(c.response, expectedResponse(&buf, &in)) {
				t.Fatal("wrong password accepted")
			}
		})
	}
}

func TestParseNC(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"00000001", 1, true}, {"0000000a", 10, true}, {"FFFFFFFF", 0xffffffff, true},
		{"1", 0, false}, {"0000000g", 0, false}, {"000000001", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseNC(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("parseNC(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzDigestParse(f *testing.F) {
	f.Add(`Digest username="alice", realm="r", nonce="n", uri="sip:r", response="ff", qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`Digest username="a\"b", realm="r", nonce="n", uri="sip:r", response="ff"`)
	f.Add(`Digest ,,,`)
	f.Add(`Digest a="\`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCredentials(s)
		if err != nil {
			return
		}
		if c.username == "" || c.nonce == "" || c.response == "" || c.uri == "" {
			t.Fatalf("accepted credentials missing a required field: %+v", c)
		}
		// Whatever parsed must survive the rest of the verifier.
		alg, _ := parseAlg(c.algorithm)
		var buf [2 * sha256.Size]byte
		responseMatches(c.response, expectedResponse(&buf, &digestInput{alg: alg, username: c.username,
			realm: c.realm, password: "x", method: "REGISTER", uri: c.uri, nonce: c.nonce, nc: c.nc, cnonce: c.cnonce, qop: c.qop}))
		if n, ok := parseNC(c.nc); ok && len(c.nc) != 8 {
			t.Fatalf("nc %q parsed as %d", c.nc, n)
		}
	})
}

func BenchmarkDigestVerify(b *testing.B) {
	m := newNonceMinter([]byte("0123456789abcdef0123456789abcdef"))
	nonce := m.nonce("acme.example.com", 1700000000)
	for _, alg := range []string{"MD5", "SHA-256"} {
		b.Run(alg, func(b *testing.B) {
			chal := &digest.Challenge{Realm: "acme.example.com", Nonce: nonce, Opaque: m.opaque("acme.example.com"),
				Algorithm: alg, QOP: []string{"auth"}}
			cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:acme.example.com",
				Username: "alice", Password: "alice-secret", Count: 1, Cnonce: "0a4f113b"})
			if err != nil {
				b.Fatal(err)
			}
			hdr := cred.String()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c, err := parseCredentials(hdr)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := m.check(c.nonce, "acme.example.com"); !ok {
					b.Fatal("nonce rejected")
				}
				if !m.checkOpaque(c.opaque, "acme.example.com") {
					b.Fatal("opaque rejected")
				}
				a, _ := parseAlg(c.algorithm)
				var buf [2 * sha256.Size]byte
				if !responseMatches(c.response, expectedResponse(&buf, &digestInput{alg: a, username: c.username,
					realm: c.realm, password: "alice-secret", method: "REGISTER", uri: c.uri, nonce: c.nonce,
					nc: c.nc, cnonce: c.cnonce, qop: c.qop})) {
					b.Fatal("response rejected")
				}
			}
		})
	}
}
