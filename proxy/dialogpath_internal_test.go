package proxy

import (
	"log/slog"
	"net"
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
	s, c := fastServerFwd(f)
	props := s.props("UDP", c)
	f.Fuzz(func(t *testing.T, data []byte) {
		readFilterHolds(t, s, props, data)
	})
}

// fastServerFwd is fastServer with forwarding on: the stateless challenge
// and the dialog fast path as well as the registrar's.
func fastServerFwd(tb testing.TB) (*Server, *net.UDPConn) {
	tb.Helper()
	s, c, loc := fastServerLoc(tb, func(*Config) {})
	store, err := devices.Open(devices.Options{Path: tb.TempDir() + "/fwd.db"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	if _, err := store.CreateAccount(map[string]any{"name": "Acme", "realm": fastRealm}); err != nil {
		tb.Fatal(err)
	}
	if err := s.EnableForwarding(store, loc); err != nil {
		tb.Fatal(err)
	}
	if s.fast.dialog.Load() == nil || s.fast.challenge.Load() == nil {
		tb.Fatal("fast paths of the proxy not on")
	}
	return s, c
}

// What the reader answers or forwards itself goes out with its batch: the
// 407 of the stateless challenge waits in the queue until the flush, and
// the dialog path's ACK and BYE find the same queue through their
// transaction.
func TestReaderWritesLeaveWithTheBatch(t *testing.T) {
	s, c := fastServerFwd(t)
	uc, ok := s.udp.(*net.UDPConn)
	if !ok {
		t.Fatalf("listener is %T", s.udp)
	}
	bc := newBatchConn(uc, 4, slog.New(slog.DiscardHandler), nil)
	s.batch.Store(bc)
	s.fastListen(bc)
	invite := []byte("INVITE sip:u1@" + fastRealm + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK4;rport\r\n" +
		"From: <sip:u2@" + fastRealm + ">;tag=3\r\nTo: <sip:u1@" + fastRealm + ">\r\nCall-ID: batch-1\r\nCSeq: 1 INVITE\r\n" +
		"Max-Forwards: 70\r\nContact: <sip:u2@127.0.0.1:5062>\r\nContent-Length: 0\r\n\r\n")
	if out, err := s.fastReadFilter(s.props("UDP", c), invite); err != nil || len(out) != 0 {
		t.Fatalf("challenge not taken: %d bytes on, %v", len(out), err)
	}
	if bc.nout != 1 {
		t.Fatalf("%d datagrams queued after the challenge, want its 407", bc.nout)
	}
	bc.flush()
	if res := readAnswer(t, c, make([]byte, 65535)); res.StatusCode != 407 || res.CallID().Value() != "batch-1" {
		t.Fatalf("answer %d for %q, want the 407", res.StatusCode, res.CallID().Value())
	}

	if got := readerQueue(&txWriter{ServerTransaction: &fastTx{bc: bc}}); got != bc {
		t.Errorf("readerQueue of the reader's transaction = %p, want %p", got, bc)
	}
	if got := readerQueue(&txWriter{}); got != nil {
		t.Errorf("readerQueue of a transaction of sipgo's = %p, want nil", got)
	}
}
