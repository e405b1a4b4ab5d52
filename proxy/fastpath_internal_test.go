package proxy

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/registrar"
)

const fastRealm = "acme.example.com"

// fastServer is a listening (not serving) server with a real registrar, so
// a test can call the read filter itself and read the answer off a socket.
func fastServer(tb testing.TB, fast bool) (*Server, *net.UDPConn) {
	tb.Helper()
	return fastServerWith(tb, func(c *Config) { c.RegisterFastPath = fast })
}

// fastServerWith is fastServer with the proxy config tuned by mutate.
func fastServerWith(tb testing.TB, mutate func(*Config)) (*Server, *net.UDPConn) {
	tb.Helper()
	s, c, _ := fastServerLoc(tb, mutate)
	return s, c
}

// fastServerLoc is fastServerWith, also returning the location table.
func fastServerLoc(tb testing.TB, mutate func(*Config)) (*Server, *net.UDPConn, *location.Table) {
	tb.Helper()
	store, err := devices.Open(devices.Options{Path: tb.TempDir() + "/sipedge.db"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	acct, err := store.CreateAccount(map[string]any{"name": "Acme", "realm": fastRealm})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range 100 {
		if _, err := store.CreateDevice(acct.ID, map[string]any{
			"name": fmt.Sprintf("phone %d", i), "enabled": true,
			"sip": map[string]any{"username": fmt.Sprintf("u%d", i), "password": "secret"},
		}); err != nil {
			tb.Fatal(err)
		}
	}
	loc := location.New(location.Options{})
	reg, err := registrar.New(registrar.Default(), store, loc, prometheus.NewRegistry(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	mutate(&cfg)
	s, err := New(cfg, reg, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.shutdown)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return s, c, loc
}

func fastRegisterBytes(user string, cseq int, auth string) []byte {
	return []byte("REGISTER sip:" + fastRealm + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK776asdhds" + user + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:" + user + "@" + fastRealm + ">;tag=456248\r\n" +
		"To: <sip:" + user + "@" + fastRealm + ">\r\n" +
		"Call-ID: 843817637684230@" + user + "\r\n" +
		"CSeq: " + fmt.Sprint(cseq) + " REGISTER\r\n" +
		"Contact: <sip:" + user + "@192.168.1.20:5062;transport=udp>\r\n" +
		"Expires: 3600\r\n" +
		"User-Agent: Yealink SIP-T46S 66.86.0.15\r\n" +
		auth +
		"Content-Length: 0\r\n\r\n")
}

func (s *Server) props(transport string, c *net.UDPConn) sip.TransportReadProps {
	return sip.TransportReadProps{Transport: transport, LocalAddr: s.udp.LocalAddr(), RemoteAddr: c.LocalAddr()}
}

func readAnswer(tb testing.TB, c *net.UDPConn, buf []byte) *sip.Response {
	tb.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	n, err := c.Read(buf)
	if err != nil {
		tb.Fatalf("no answer: %v", err)
	}
	msg, err := sip.ParseMessage(buf[:n])
	if err != nil {
		tb.Fatalf("answer %q: %v", buf[:n], err)
	}
	return msg.(*sip.Response)
}

// The fast path takes exactly the UDP REGISTERs on our socket, answers them
// itself, and hands everything else to sipgo untouched.
func TestFastReadFilterTakes(t *testing.T) {
	options := []byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	cases := []struct {
		name      string
		fast      bool
		transport string
		data      []byte
		taken     bool
	}{
		{name: "UDP REGISTER", fast: true, transport: "UDP", data: fastRegisterBytes("u1", 1, ""), taken: true},
		{name: "UDP REGISTER with the fast path off", fast: false, transport: "UDP", data: fastRegisterBytes("u1", 1, ""), taken: false},
		{name: "TCP REGISTER", fast: true, transport: "TCP", data: fastRegisterBytes("u1", 1, ""), taken: false},
		{name: "UDP OPTIONS", fast: true, transport: "UDP", data: options, taken: false},
		{name: "lower-case register is not a method we take", fast: true, transport: "UDP", data: bytes.ToLower(fastRegisterBytes("u1", 1, "")), taken: false},
		{name: "unparseable REGISTER goes to sipgo", fast: true, transport: "UDP", data: []byte("REGISTER sip:x SIP/2.0\r\nVia: broken\r\n\r\n"), taken: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := fastServer(t, tc.fast)
			out, err := s.fastReadFilter(s.props(tc.transport, c), tc.data)
			if err != nil {
				t.Fatalf("filter error %v", err)
			}
			if taken := len(out) == 0; taken != tc.taken {
				t.Fatalf("taken = %v, want %v", taken, tc.taken)
			}
			if !tc.taken {
				if !bytes.Equal(out, tc.data) {
					t.Errorf("bytes changed on the way to sipgo")
				}
				return
			}
			res := readAnswer(t, c, make([]byte, 65535))
			if res.StatusCode != 401 {
				t.Errorf("answer %d, want the 401 challenge", res.StatusCode)
			}
			if got := testutil.ToFloat64(s.m.requests[methodIndex(sip.REGISTER)][0]); got != 1 {
				t.Errorf("requests{REGISTER,UDP} = %v", got)
			}
			if got := testutil.ToFloat64(s.m.responses[methodIndex(sip.REGISTER)][3]); got != 1 {
				t.Errorf("responses{REGISTER,4xx} = %v", got)
			}
		})
	}
}

// While draining, the fast path refuses new registrations like the chain
// does: 503 with Retry-After.
func TestFastPathDrain(t *testing.T) {
	s, c := fastServer(t, true)
	s.Drain()
	if out, err := s.fastReadFilter(s.props("UDP", c), fastRegisterBytes("u1", 1, "")); err != nil || len(out) != 0 {
		t.Fatalf("filter: %d bytes, %v", len(out), err)
	}
	res := readAnswer(t, c, make([]byte, 65535))
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("draining answer %d, Retry-After %v", res.StatusCode, res.GetHeader("Retry-After"))
	}
}

// FuzzFastPath: bytes → the fast path. It never returns an error (which
// would stop sipgo's UDP reader), never lets a panic out, and no panic is
// even recovered: the chain and registrar cope with any input.
func FuzzFastPath(f *testing.F) {
	for _, seed := range []string{
		string(fastRegisterBytes("u1", 1, "")),
		string(fastRegisterBytes("u2", 7, "Authorization: Digest username=\"u2\", realm=\"acme.example.com\", nonce=\"x\", uri=\"sip:acme.example.com\", response=\"00\", qop=auth, nc=00000001, cnonce=\"a\"\r\n")),
		"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sip:x SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK3;rport\r\nf: <sip:a@x>;tag=1\r\nt: <sip:a@x>\r\ni: c\r\nCSeq: 2 REGISTER\r\nm: <sip:a@1.2.3.4>;expires=abc\r\nl: 0\r\n\r\n",
		"REGISTER \x00\xff",
	} {
		f.Add([]byte(seed))
	}
	s, c := fastServer(f, true)
	props := s.props("UDP", c)
	f.Fuzz(func(t *testing.T, data []byte) {
		readFilterHolds(t, s, props, data)
	})
}

// readFilterHolds feeds data to the read filter: no error, which would
// stop sipgo's UDP reader; the bytes passed on unchanged; no panic, not
// even a recovered one.
func readFilterHolds(t *testing.T, s *Server, props sip.TransportReadProps, data []byte) {
	t.Helper()
	out, err := s.fastReadFilter(props, data)
	if err != nil {
		t.Fatalf("read filter error %v: sipgo's UDP reader would stop", err)
	}
	if len(out) != 0 && !bytes.Equal(out, data) {
		t.Fatal("bytes changed on the way to sipgo")
	}
	if p := testutil.ToFloat64(s.m.panics); p != 0 {
		t.Fatalf("%v panics recovered", p)
	}
}

// BenchmarkFastRegister is one digest registration refresh through the fast
// path, socket write included: read filter, parse, registrar, 200 written
// to the source; "raw" on the datagram's bytes (rawreg.go), "parsed" with
// sipgo's message and the chain. Compare with registrar's
// BenchmarkHandleRegister (the registrar alone, same request shape).
func BenchmarkFastRegister(b *testing.B) {
	for _, raw := range []bool{true, false} {
		name := map[bool]string{true: "raw", false: "parsed"}[raw]
		b.Run(name, func(b *testing.B) {
			benchFastRegister(b, func(c *Config) { c.RegisterRawPath = raw })
		})
	}
}

func benchFastRegister(b *testing.B, mutate func(*Config)) {
	s, c := fastServerWith(b, mutate)
	buf := make([]byte, 65535)
	props := s.props("UDP", c)
	const users = 100
	msgs := make([][]byte, users)
	seq := make([]int, users) // where each message's CSeq digits are
	for i := range users {
		user := fmt.Sprintf("u%d", i)
		if _, err := s.fastReadFilter(props, fastRegisterBytes(user, 1, "")); err != nil {
			b.Fatal(err)
		}
		msgs[i] = fastRegisterBytes(user, 1000000000, benchAuth(b, readAnswer(b, c, buf), user))
		seq[i] = bytes.Index(msgs[i], []byte("CSeq: ")) + len("CSeq: ")
	}
	// Answers are not read in the loop: the kernel drops what the client
	// socket cannot hold, after the server paid for the send. The 2xx
	// counter proves every one was a 200.
	ok := s.m.responses[methodIndex(sip.REGISTER)][1]
	before := testutil.ToFloat64(ok)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		m := msgs[n%users]
		// Fixed-width CSeq, advanced in place: every refresh is a real update.
		v := 1000000000 + n/users + 1
		for d := seq[n%users] + 9; d >= seq[n%users]; d-- {
			m[d] = byte('0' + v%10)
			v /= 10
		}
		if out, _ := s.fastReadFilter(props, m); len(out) != 0 {
			b.Fatal("not taken")
		}
		n++
	}
	b.StopTimer()
	if got := testutil.ToFloat64(ok) - before; got != float64(n) {
		b.Fatalf("%v answers 2xx of %d", got, n)
	}
}

// benchAuth answers res's MD5 challenge without qop (RFC 2069 style), so
// one Authorization stays valid across refreshes, as the registrar
// benchmark does.
func benchAuth(tb testing.TB, res *sip.Response, user string) string {
	tb.Helper()
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			tb.Fatal(err)
		}
		if !strings.EqualFold(chal.Algorithm, "MD5") {
			continue
		}
		chal.QOP = nil
		cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + fastRealm, Username: user, Password: "secret"})
		if err != nil {
			tb.Fatal(err)
		}
		return "Authorization: " + cred.String() + "\r\n"
	}
	tb.Fatalf("no MD5 challenge in %d", res.StatusCode)
	return ""
}

// The raw path reads the datagram in place: whatever it stores must be
// its own copy, since the reader reuses the buffer for the next datagram.
func TestRawPathKeepsNoViewOfTheDatagram(t *testing.T) {
	s, c, loc := fastServerLoc(t, func(*Config) {})
	props := s.props("UDP", c)
	ans := make([]byte, 65535)
	buf := make([]byte, 65535) // the reader's buffer, reused as it would be
	send := func(msg []byte) {
		t.Helper()
		n := copy(buf, msg)
		if out, err := s.fastReadFilter(props, buf[:n]); err != nil || len(out) != 0 {
			t.Fatalf("not answered on the fast path: %v", err)
		}
		for i := range buf[:n] {
			buf[i] = 'X'
		}
	}
	answered := testutil.ToFloat64(s.m.raw[rawAnswered])
	users := []string{"u1", "u2", "u3"}
	for _, u := range users {
		send(fastRegisterBytes(u, 1, ""))
		send(fastRegisterBytes(u, 2, benchAuth(t, readAnswer(t, c, ans), u)))
		if res := readAnswer(t, c, ans); res.StatusCode != 200 {
			t.Fatalf("%s: %d, want 200", u, res.StatusCode)
		}
	}
	if got := testutil.ToFloat64(s.m.raw[rawAnswered]) - answered; got != float64(2*len(users)) {
		t.Fatalf("raw path answered %v REGISTERs, want %d", got, 2*len(users))
	}
	for _, u := range users {
		bs := loc.Lookup(u+"@"+fastRealm, nil)
		if len(bs) != 1 {
			t.Fatalf("%s: %d bindings, want 1", u, len(bs))
		}
		b := bs[0]
		want := map[string][2]string{
			"Contact":         {b.Contact, "sip:" + u + "@192.168.1.20:5062;transport=udp"},
			"OriginalContact": {b.OriginalContact, "<sip:" + u + "@192.168.1.20:5062;transport=udp>"},
			"CallID":          {b.CallID, "843817637684230@" + u},
			"UserAgent":       {b.UserAgent, "Yealink SIP-T46S 66.86.0.15"},
			"Username":        {b.Username, u},
			"Realm":           {b.Realm, fastRealm},
		}
		for field, v := range want {
			if v[0] != v[1] {
				t.Errorf("%s: %s = %q after the buffer was reused, want %q", u, field, v[0], v[1])
			}
		}
	}
}
