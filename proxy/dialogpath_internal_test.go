package proxy

import (
	"strings"
	"testing"

	"github.com/sipedge/sipedge/devices"
)

func TestStatelessBranchIn(t *testing.T) {
	hash := strings.Repeat("a", loopHashLen)
	for _, tc := range []struct {
		name, msg string
		want      bool
	}{
		{"stateless", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=" + branchPrefix + hash + ".sl0123456789ab\r\n", true},
		{"stateful", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=" + branchPrefix + hash + ".Xy12ab34\r\n", false},
		{"not ours", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK.sl\r\n", false},
		{"cut after the hash", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=" + branchPrefix + hash, false},
		{"cut after the dot", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=" + branchPrefix + hash + ".s", false},
		{"mark without token: the HMAC decides", "x" + branchPrefix + hash + ".sl", true},
		{"short hash", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=" + branchPrefix + "abc.sl0123\r\n", false},
		{"empty", "", false},
	} {
		if got := statelessBranchIn([]byte(tc.msg)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzDialogPath: bytes → the read filter of a proxy with forwarding on,
// so the stateless challenge, the dialog fast path (ACK, BYE) and the
// relay of answers all see them. As FuzzFastPath: no error for sipgo's
// reader, no panic (not even a recovered one), bytes passed on unchanged.
// No seed carries a valid route or answer token, so nothing is sent on
// past the proxy: answers go back to the fuzzing socket only.
func FuzzDialogPath(f *testing.F) {
	hash := strings.Repeat("0", loopHashLen)
	for _, seed := range []string{
		"ACK sip:bob@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1;rport\r\nRoute: <sip:127.0.0.1;lr;st=000000000000>\r\nFrom: <sip:a@" + fastRealm + ">;tag=1\r\nTo: <sip:b@" + fastRealm + ">;tag=2\r\nCall-ID: c1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		"BYE sip:bob@127.0.0.1:5070 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK2\r\nRoute: <sip:127.0.0.1;lr;st=0>\r\nf: <sip:a@" + fastRealm + ">;tag=1\r\nt: <sip:b@" + fastRealm + ">;tag=2\r\ni: c1\r\nCSeq: 2 BYE\r\nMax-Forwards: 0\r\nl: 0\r\n\r\n",
		"BYE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c2\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=" + branchPrefix + hash + ".sl000000000000;rport\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK2;received=127.0.0.1;rport=5062\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:u1@" + fastRealm + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK4;rport\r\nFrom: <sip:u2@" + fastRealm + ">;tag=3\r\nTo: <sip:u1@" + fastRealm + ">\r\nCall-ID: c3\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:u2@127.0.0.1:5062>\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
		"ACK sip:u1@" + fastRealm + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK4;rport\r\nFrom: <sip:u2@" + fastRealm + ">;tag=3\r\nTo: <sip:u1@" + fastRealm + ">;tag=x\r\nCall-ID: c3\r\nCSeq: 1 ACK\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	s, c, loc := fastServerLoc(f, func(*Config) {})
	store, err := devices.Open(devices.Options{Path: f.TempDir() + "/fwd.db"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	if _, err := store.CreateAccount(map[string]any{"name": "Acme", "realm": fastRealm}); err != nil {
		f.Fatal(err)
	}
	if err := s.EnableForwarding(store, loc); err != nil {
		f.Fatal(err)
	}
	if s.fast.dialog.Load() == nil || s.fast.challenge.Load() == nil {
		f.Fatal("fast paths of the proxy not on")
	}
	props := s.props("UDP", c)
	f.Fuzz(func(t *testing.T, data []byte) {
		readFilterHolds(t, s, props, data)
	})
}
