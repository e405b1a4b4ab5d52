package proxy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/proxy"
)

// The ACK for a 2xx is forwarded from the socket reader: our Route off,
// Max-Forwards one lower, our Via on top, also when its next hop is a name
// to resolve. The ACK for a non-2xx answer to a (re-)INVITE of ours is left
// to the server transaction it belongs to.
func TestDialogFastPathAck(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("dialog_fast_path=%v", on), func(t *testing.T) {
			env := pbxEnv(t, func(c *proxy.Config) { c.DialogFastPath = on })
			taken := func() float64 {
				return counter(t, env.srv.Registry, "sipedge_proxy_dialog_stateless_total", map[string]string{"kind": "ack"})
			}
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
			waitIdle(t, env)
		})
	}
}

// A BYE goes on from the reader with a branch that is a function of the
// request (a retransmission gets the same) and names where its answers go;
// the callee's answer comes back by the Via stack, and an answer whose Via
// below ours is not the one the branch names is not relayed.
func TestDialogFastPathBye(t *testing.T) {
	env := pbxEnv(t, nil)
	kind := func(k string) float64 {
		return counter(t, env.srv.Registry, "sipedge_proxy_dialog_stateless_total", map[string]string{"kind": k})
	}
	c := rawEstablish(t, env, "bye-fast")
	if got := env.gauge(t, "sipedge_proxy_calls_active", nil); got != 1 {
		t.Fatalf("calls_active = %v during the call, want 1", got)
	}
	br := branch()
	c.inDialog(t, "BYE", 2, br)
	bye := c.callee.expectRequest(t, sip.BYE)
	c.inDialog(t, "BYE", 2, br) // retransmitted: the same branch again
	again := c.callee.expectRequest(t, sip.BYE)
	ours, _ := bye.Via().Params.Get("branch")
	if b, _ := again.Via().Params.Get("branch"); b != ours {
		t.Errorf("retransmitted BYE went with branch %q, the first with %q", b, ours)
	}
	if !strings.HasPrefix(ours, sip.RFC3261BranchMagicCookie) || bye.Via().Port != int(env.srv.UDP.Port()) {
		t.Errorf("BYE top Via %s: not the proxy's", bye.Via().Value())
	}
	if bye.GetHeader("Route") != nil {
		t.Errorf("callee got the BYE with Route %q", bye.GetHeader("Route").Value())
	}
	if mf := bye.MaxForwards(); mf == nil || mf.Val() != 69 {
		t.Errorf("BYE Max-Forwards = %v, want 69", mf)
	}
	if got := kind("bye"); got != 2 {
		t.Errorf("BYEs taken in the reader: %v, want 2", got)
	}
	if got := env.gauge(t, "sipedge_proxy_calls_active", nil); got != 0 {
		t.Errorf("calls_active = %v after the BYE, want 0", got)
	}

	answer := func(subject, secondVia string) string {
		res := sip.NewResponseFromRequest(bye, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Subject", subject))
		msg := res.String()
		if secondVia != "" {
			v := bye.GetHeaders("Via")[1].Value()
			msg = strings.Replace(msg, v, secondVia, 1)
		}
		return msg
	}
	// Aimed elsewhere through the Via below ours: not relayed; the next
	// answer the caller gets is the real one.
	c.callee.send(t, answer("forged", "SIP/2.0/UDP 127.0.0.9:5999;branch="+branch()))
	c.callee.send(t, answer("real", ""))
	res := c.caller.expectResponse(t, sip.BYE)
	if s := header(res, "Subject"); res.StatusCode != 200 || s != "real" {
		t.Fatalf("caller got %d Subject %q to its BYE, want the real 200", res.StatusCode, s)
	}
	if n := len(res.GetHeaders("Via")); n != 1 {
		t.Errorf("relayed answer has %d Vias, want the caller's only", n)
	}
	if got := kind("answer"); got != 1 {
		t.Errorf("answers relayed from the reader: %v, want 1", got)
	}
	if got := env.gauge(t, "sipedge_proxy_stray_responses_total", map[string]string{"action": "relayed"}); got != 0 {
		t.Errorf("answers relayed the slow way: %v, want 0", got)
	}

	// The answer again (to the retransmitted BYE), with a header spelled
	// oddly: the raw relay passes it on as it came, our Via taken off the
	// top and nothing else changed. With a Contact it is the parsed path's
	// (which may add the NAT alias), rewritten and relayed all the same.
	odd := strings.Replace(answer("odd", ""), "Subject: odd", "Subject:    odd", 1)
	at := strings.Index(odd, "\r\nVia: ") + 2
	top := odd[at : at+strings.Index(odd[at:], "\r\n")+2]
	c.callee.send(t, odd)
	if got, want := string(c.caller.readBytes(t)), strings.Replace(odd, top, "", 1); got != want {
		t.Errorf("raw relay sent\n%q\nwant\n%q", got, want)
	}
	withContact := strings.Replace(odd, "Subject:", "Contact: <sip:bob@"+c.callee.addr.String()+">\r\nSubject:", 1)
	c.callee.send(t, withContact)
	relayed := string(c.caller.readBytes(t))
	if strings.Contains(relayed, "Subject:    odd") || !strings.Contains(relayed, "Contact: <sip:bob@") ||
		strings.Count(relayed, "Via:") != 1 {
		t.Errorf("answer with a Contact relayed as %q: want it rewritten by the parsed path, one Via", relayed)
	}
	if got := kind("answer"); got != 3 {
		t.Errorf("answers relayed from the reader: %v, want 3", got)
	}

	// A next hop by name is resolved off the reader, and the BYE still goes.
	callee := c.callee.contact("bob")
	c.caller.send(t, request(fmt.Sprintf("BYE sip:bob@localhost:%d SIP/2.0", callee.Port),
		"Via: SIP/2.0/UDP "+c.caller.addr.String()+";branch="+branch()+";rport",
		"Route: "+c.rr, "From: <sip:pbx@"+realm+">;tag=pbx1", c.to,
		"Call-ID: "+c.callID, "CSeq: 3 BYE", "Max-Forwards: 70"))
	if bye := c.callee.expectRequest(t, sip.BYE); bye.Recipient.Host != "localhost" || bye.CSeq().SeqNo != 3 {
		t.Errorf("BYE by name arrived as %s CSeq %d", bye.Recipient.String(), bye.CSeq().SeqNo)
	}
	waitIdle(t, env)
}

// A BYE that does not bring back our Route token is refused from the
// reader, as by the full path.
func TestDialogFastPathByeForged(t *testing.T) {
	env := pbxEnv(t, nil)
	c := rawEstablish(t, env, "bye-forged")
	c.rr = strings.Replace(c.rr, ";st=", ";st=0", 1)
	c.inDialog(t, "BYE", 2, branch())
	if res := c.caller.expectResponse(t, sip.BYE); res.StatusCode != 403 {
		t.Fatalf("BYE without our token answered %d, want 403", res.StatusCode)
	}
}
