package proxy_test

import (
	"fmt"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/proxy"
)

// The ACK for a 2xx is forwarded from the socket reader: our Route off,
// Max-Forwards one lower, our Via on top, also when its next hop is a name
// to resolve. The ACK for a non-2xx answer to a (re-)INVITE of ours is left
// to the server transaction it belongs to.
func TestAckFastPath(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("ack_fast_path=%v", on), func(t *testing.T) {
			env := pbxEnv(t, func(c *proxy.Config) { c.AckFastPath = on })
			taken := func() float64 { return counter(t, env.srv.Registry, "sipedge_proxy_ack_stateless_total", nil) }
			want := func(n float64) float64 {
				if on {
					return n
				}
				return 0
			}
			c := rawEstablish(t, env, "ack-fast")
			if got := taken(); got != want(1) {
				t.Errorf("ACKs taken in the reader after the call's ACK: %v, want %v", got, want(1))
			}

			// A retransmitted ACK, forwarded again.
			c.inDialog(t, "ACK", 1, branch())
			ack := c.callee.expectRequest(t, sip.ACK)
			if ack.GetHeader("Route") != nil {
				t.Errorf("callee got the ACK with Route %q: ours is not popped", ack.GetHeader("Route").Value())
			}
			if mf := ack.MaxForwards(); mf == nil || mf.Val() != 69 {
				t.Errorf("ACK Max-Forwards = %v, want 69", mf)
			}
			vias := ack.GetHeaders("Via")
			if len(vias) != 2 {
				t.Fatalf("ACK has %d Vias, want 2 (caller, proxy)", len(vias))
			}
			if v := ack.Via(); v.Port != int(env.srv.UDP.Port()) {
				t.Errorf("ACK top Via %s, want the proxy's", v.Value())
			}

			// The next hop by name: resolved off the reader, still sent.
			callee := c.callee.contact("bob")
			c.caller.send(t, request(fmt.Sprintf("ACK sip:bob@localhost:%d SIP/2.0", callee.Port),
				"Via: SIP/2.0/UDP "+c.caller.addr.String()+";branch="+branch()+";rport",
				"Route: "+c.rr, "From: <sip:pbx@"+realm+">;tag=pbx1", c.to,
				"Call-ID: "+c.callID, "CSeq: 1 ACK", "Max-Forwards: 70"))
			if ack := c.callee.expectRequest(t, sip.ACK); ack.Recipient.Host != "localhost" {
				t.Errorf("ACK by name arrived for %s", ack.Recipient.String())
			}
			if got := taken(); got != want(3) {
				t.Errorf("ACKs taken in the reader: %v, want %v", got, want(3))
			}

			// A re-INVITE refused: its ACK has the re-INVITE's branch and
			// our Route, and belongs to the server transaction.
			br := branch()
			pbx := c.caller.contact("pbx")
			c.inDialog(t, "INVITE", 2, br, "Contact: <"+pbx.String()+">")
			reinv := c.callee.expectRequest(t, sip.INVITE)
			c.callee.respond(t, reinv, 488, "")
			if res := c.caller.expectResponse(t, sip.INVITE); res.StatusCode != 488 {
				t.Fatalf("re-INVITE answered %d, want 488", res.StatusCode)
			}
			c.inDialog(t, "ACK", 2, br)
			// The reader reads in order: once the OPTIONS behind the ACK
			// is answered, the ACK has been seen.
			c.caller.send(t, request("OPTIONS sip:"+env.srv.UDP.String()+" SIP/2.0",
				"Via: SIP/2.0/UDP "+c.caller.addr.String()+";branch="+branch()+";rport",
				"From: <sip:pbx@"+realm+">;tag=probe", "To: <sip:"+env.srv.UDP.String()+">",
				"Call-ID: probe-"+branch(), "CSeq: 1 OPTIONS", "Max-Forwards: 70"))
			if res := c.caller.expectResponse(t, sip.OPTIONS); res.StatusCode != 200 {
				t.Fatalf("OPTIONS answered %d", res.StatusCode)
			}
			if got := taken(); got != want(3) {
				t.Errorf("ACKs taken in the reader after the re-INVITE's ACK: %v, want %v (it is the transaction's)", got, want(3))
			}
			c.hangUp(t, 3)
		})
	}
}
