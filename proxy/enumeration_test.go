package proxy_test

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// TestNoEnumeration: a scanner learns nothing about which users exist from
// the answers to INVITE, OPTIONS and MESSAGE: with or without (wrong)
// credentials, for a known or unknown caller and a known or unknown callee,
// the answer has the same code, reason, header names in the same order, and
// the same challenge apart from its nonce.
func TestNoEnumeration(t *testing.T) {
	e := newCallEnv(t, envOpts{})
	// bob is registered so that "known callee" really is reachable.
	bob := e.phone(t, "UDP", "bob")
	defer bob.Close()
	addr := e.srv.Addr("UDP")

	varying := regexp.MustCompile(`(nonce|opaque)="[^"]*"`)
	shape := func(res *sip.Response) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%d %s|", res.StatusCode, res.Reason)
		for _, h := range res.Headers() {
			b.WriteString(h.Name())
			if n := strings.ToLower(h.Name()); n == "proxy-authenticate" || n == "www-authenticate" || n == "server" ||
				n == "allow" || n == "retry-after" || n == "reason" || n == "warning" {
				b.WriteString("=" + varying.ReplaceAllString(h.Value(), `$1="…"`))
			}
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "|body %d", len(res.Body()))
		return b.String()
	}

	// ask sends one request from a fresh socket and returns the first
	// final answer (an INVITE may get 100 Trying first).
	ask := func(t *testing.T, method, from, to, auth string) *sip.Response {
		t.Helper()
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		la := c.LocalAddr().String()
		hdrs := []string{
			"Via: SIP/2.0/UDP " + la + ";rport;branch=" + branch(),
			"Max-Forwards: 70",
			"From: <sip:" + from + "@" + realm + ">;tag=" + sip.GenerateTagN(8),
			"To: <sip:" + to + "@" + realm + ">",
			"Call-ID: enum-" + sip.GenerateTagN(12),
			"CSeq: 1 " + method,
			"Contact: <sip:" + from + "@" + la + ">",
			"User-Agent: friendly-scanner",
		}
		if auth != "" {
			hdrs = append(hdrs, "Proxy-Authorization: "+auth)
		}
		if _, err := c.Write([]byte(request(method+" sip:"+to+"@"+realm+" SIP/2.0", hdrs...))); err != nil {
			t.Fatal(err)
		}
		for {
			res := readResponse(t, c)
			if res.StatusCode >= 200 {
				if method == "INVITE" {
					// ACK the final answer so the server transaction ends quietly.
					ack := request("ACK sip:"+to+"@"+realm+" SIP/2.0", hdrs[0], hdrs[1],
						"From: "+res.From().Value(), "To: "+res.To().Value(), "Call-ID: "+res.CallID().Value(), "CSeq: 1 ACK")
					_, _ = c.Write([]byte(ack))
				}
				return res
			}
		}
	}
	// wrongAuth answers a fresh challenge for user with a wrong password.
	wrongAuth := func(t *testing.T, method, user, to string) string {
		t.Helper()
		chal := ask(t, method, user, to, "")
		v := header(chal, "Proxy-Authenticate")
		if chal.StatusCode != 407 || v == "<absent>" {
			t.Fatalf("%s from %s: %d, Proxy-Authenticate %q; want a 407 challenge", method, user, chal.StatusCode, v)
		}
		c, err := digest.ParseChallenge(v)
		if err != nil {
			t.Fatalf("challenge %q: %v", v, err)
		}
		cred, err := digest.Digest(c, digest.Options{
			Method: method, URI: "sip:" + to + "@" + realm, Username: user, Password: "not-the-password", Count: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		return cred.String()
	}

	for _, method := range []string{"INVITE", "OPTIONS", "MESSAGE"} {
		t.Run(method, func(t *testing.T) {
			cases := []struct {
				name, from, to string
				creds          bool
			}{
				{"known caller, known callee", "alice", "bob", false},
				{"unknown caller, known callee", "mallory", "bob", false},
				{"known caller, unknown callee", "alice", "nobody", false},
				{"unknown caller, unknown callee", "mallory", "nobody", false},
			}
			var want string
			for _, c := range cases {
				got := shape(ask(t, method, c.from, c.to, ""))
				if want == "" {
					want = got
					if !strings.HasPrefix(want, "407 ") {
						t.Fatalf("%s: %s; want a 407 challenge", c.name, want)
					}
					continue
				}
				if got != want {
					t.Errorf("%s answered differently:\n got %s\nwant %s", c.name, got, want)
				}
			}
			// Wrong credentials: a known user's and an unknown user's
			// failure look alike too.
			known := shape(ask(t, method, "alice", "bob", wrongAuth(t, method, "alice", "bob")))
			unknown := shape(ask(t, method, "mallory", "bob", wrongAuth(t, method, "mallory", "bob")))
			if known != unknown {
				t.Errorf("wrong password answered differently:\n known   %s\n unknown %s", known, unknown)
			}
		})
	}
	// Nothing above reached bob: unauthenticated requests never ring a phone.
	select {
	case c := <-bob.Calls():
		t.Fatalf("bob was rung by %v", c)
	case <-time.After(0):
	}
}
