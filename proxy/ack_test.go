package proxy_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestChallengeAckKeepsNoGoroutine: the ACK of a 407 is taken by the
// handler that sent the 407, so a run of challenged INVITEs leaves no
// goroutine behind once the ACKs are in. sipgo parks one goroutine per
// unread ACK until Timer I (5 s); with 200 calls that would be 200 more.
func TestChallengeAckKeepsNoGoroutine(t *testing.T) {
	e := newCallEnv(t, envOpts{})
	addr := e.srv.Addr("UDP")
	const calls = 200
	c := rawUDP(t, addr, "\r\n\r\n") // a keepalive: no answer, just a socket
	la := c.LocalAddr().String()

	settle := func() int {
		runtime.GC()
		return runtime.NumGoroutine()
	}
	before := settle()
	for i := range calls {
		via := "Via: SIP/2.0/UDP " + la + ";rport;branch=" + branch()
		from := "From: <sip:alice@" + realm + ">;tag=ack" + fmt.Sprint(i)
		callID := "Call-ID: ack-" + fmt.Sprint(i) + "@test"
		inv := request("INVITE sip:bob@"+realm+" SIP/2.0", via, "Max-Forwards: 70", from, "To: <sip:bob@"+realm+">",
			callID, "CSeq: 1 INVITE", "Contact: <sip:alice@"+la+">")
		if _, err := c.Write([]byte(inv)); err != nil {
			t.Fatal(err)
		}
		var res *sip.Response
		for res = readResponse(t, c); res.StatusCode < 200; res = readResponse(t, c) {
		}
		if res.StatusCode != 407 {
			t.Fatalf("INVITE %d: %d, want 407", i, res.StatusCode)
		}
		ack := request("ACK sip:bob@"+realm+" SIP/2.0", via, "Max-Forwards: 70", from, "To: "+res.To().Value(),
			callID, "CSeq: 1 ACK")
		if _, err := c.Write([]byte(ack)); err != nil {
			t.Fatal(err)
		}
	}
	// Well within Timer I (5 s), when sipgo's parked goroutines would go.
	deadline := time.Now().Add(3 * time.Second)
	for {
		now := settle()
		if now < before+calls/4 {
			t.Logf("goroutines: %d before, %d after %d challenged INVITEs", before, now, calls)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after %d challenged and ACKed INVITEs", before, now, calls)
		}
		time.Sleep(50 * time.Millisecond) // polling the runtime: there is no event to wait on
	}
}
