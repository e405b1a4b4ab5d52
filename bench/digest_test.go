package bench

import (
	"fmt"
	"testing"

	"github.com/icholy/digest"
)

// RFC 7616 §3.9.1's worked example, for both algorithms.
func TestDigestResponseRFC7616(t *testing.T) {
	const (
		user, pass, realm = "Mufasa", "Circle of Life", "http-auth@example.org"
		nonce             = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
		cnonce            = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	)
	cases := []struct {
		name string
		alg  Alg
		want string
	}{
		{name: "MD5", alg: MD5, want: "8ca523f5e9506fed4657c9700eebdbec"},
		{name: "SHA-256", alg: SHA256, want: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := DigestResponse(tc.alg, user, realm, pass, "GET", "/dir/index.html", nonce, "00000001", cnonce, "auth")
			if got != tc.want {
				t.Fatalf("response %s, want %s", got, tc.want)
			}
		})
	}
}

// The generator's answers agree with a third implementation's (icholy/digest,
// which the registrar does not use), with and without qop.
func TestDigestResponseMatchesIcholy(t *testing.T) {
	cases := []struct {
		name, alg, qop string
	}{
		{name: "md5 auth", alg: "MD5", qop: "auth"},
		{name: "sha-256 auth", alg: "SHA-256", qop: "auth"},
		{name: "md5 no qop", alg: "MD5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := fmt.Sprintf(`Digest realm="acme.example.com", nonce="abcDEF0123456789abcDEF0123456789", algorithm=%s`, tc.alg)
			if tc.qop != "" {
				hdr += `, qop="auth"`
			}
			chal, err := digest.ParseChallenge(hdr)
			if err != nil {
				t.Fatal(err)
			}
			cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:acme.example.com", Username: "alice", Password: "p@ss:word", Count: 7, Cnonce: "c0ffee"})
			if err != nil {
				t.Fatal(err)
			}
			a, _ := ParseAlg(tc.alg)
			nc := ""
			if tc.qop != "" {
				nc = string(appendNC(nil, 7))
			}
			got := DigestResponse(a, "alice", "acme.example.com", "p@ss:word", "REGISTER", "sip:acme.example.com", chal.Nonce, nc, "c0ffee", tc.qop)
			if got != cred.Response {
				t.Fatalf("response %s, icholy/digest says %s", got, cred.Response)
			}
		})
	}
}

// The hot path's answer allocates nothing once buffers are sized.
func TestAppendResponseAllocs(t *testing.T) {
	ha1 := []byte(HA1(SHA256, "u", "r", "p"))
	ha2 := HA2(SHA256, "REGISTER", "sip:r")
	dst := make([]byte, 0, 128)
	nonce, nc, cn, qop := []byte("nonce"), []byte("00000001"), []byte("cn"), []byte("auth")
	if n := testing.AllocsPerRun(100, func() { dst = appendResponse(dst[:0], SHA256, ha1, nonce, nc, cn, qop, ha2) }); n != 0 {
		t.Fatalf("%v allocations per answer", n)
	}
}

func BenchmarkDigestAnswer(b *testing.B) {
	for _, a := range []Alg{MD5, SHA256} {
		b.Run(a.String(), func(b *testing.B) {
			ha1 := []byte(HA1(a, "user000001", "bench.example.com", "secret000001"))
			ha2 := HA2(a, "REGISTER", "sip:bench.example.com")
			dst := make([]byte, 0, 128)
			nonce, nc, cn, qop := []byte("AAAAAGkT8a1J3b5hQ0ZbJkq3u7wX1y2z"), []byte("00000001"), []byte("sb1.0"), []byte("auth")
			b.ReportAllocs()
			for b.Loop() {
				dst = appendResponse(dst[:0], a, ha1, nonce, nc, cn, qop, ha2)
			}
		})
	}
}
