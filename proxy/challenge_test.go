package proxy_test

import (
	"fmt"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/proxy"
)

// The first INVITE of a call, without credentials, is challenged without a
// transaction: a retransmission gets the same answer (same To-tag, made
// from the request), the ACK for the 407 is dropped in the reader, and
// what could end otherwise (credentials, a To-tag, an IP-authenticated
// source) still takes the full path.
func TestStatelessChallenge(t *testing.T) {
	env := pbxEnv(t, nil)
	answered := map[string]string{"outcome": "answered"}
	dropped := map[string]string{"outcome": "ack_dropped"}
	phone := newRawPhone(t, env.srv)
	contact := phone.contact("alice")
	via := "Via: SIP/2.0/UDP " + phone.addr.String() + ";branch=" + branch() + ";rport"
	invite := request("INVITE sip:bob@"+realm+" SIP/2.0", via,
		"From: \"Alice\" <sip:alice@"+realm+">;tag=a1", "To: <sip:bob@"+realm+">",
		"Call-ID: stateless-1", "CSeq: 1 INVITE", "Max-Forwards: 70",
		"Contact: <"+contact.String()+">")

	phone.send(t, invite)
	res := phone.expectResponse(t, sip.INVITE)
	if res.StatusCode != 407 || res.GetHeader("Proxy-Authenticate") == nil {
		t.Fatalf("first INVITE answered %d %v", res.StatusCode, res.GetHeader("Proxy-Authenticate"))
	}
	tag, _ := res.To().Params.Get("tag")
	if tag == "" {
		t.Fatal("407 without a To-tag")
	}
	if v := res.Via(); v == nil || !v.Params.Has("received") && !v.Params.Has("rport") {
		t.Errorf("407 Via %v: no rport/received", res.Via())
	}
	phone.send(t, invite) // lost 407: the INVITE again
	again := phone.expectResponse(t, sip.INVITE)
	if tag2, _ := again.To().Params.Get("tag"); again.StatusCode != 407 || tag2 != tag {
		t.Errorf("retransmission answered %d with tag %q, want 407 with %q", again.StatusCode, tag2, tag)
	}
	if n := counter(t, env.srv.Registry, "sipedge_proxy_invite_stateless_total", answered); n != 2 {
		t.Errorf("answered statelessly: %v, want 2", n)
	}

	// The ACK for it, with the INVITE's branch, as RFC 3261 §17.1.1.3 has it.
	phone.send(t, request("ACK sip:bob@"+realm+" SIP/2.0", via,
		"From: \"Alice\" <sip:alice@"+realm+">;tag=a1", "To: <sip:bob@"+realm+">;tag="+tag,
		"Call-ID: stateless-1", "CSeq: 1 ACK", "Max-Forwards: 70"))
	// An ACK with another tag is not ours to drop (it goes to sipgo,
	// then to the ACK route, which has nothing to forward it on).
	phone.send(t, request("ACK sip:bob@"+realm+" SIP/2.0", via,
		"From: \"Alice\" <sip:alice@"+realm+">;tag=a1", "To: <sip:bob@"+realm+">;tag=x"+tag,
		"Call-ID: stateless-1", "CSeq: 1 ACK", "Max-Forwards: 70"))

	// With credentials (here wrong ones), the full path answers.
	phone.send(t, request("INVITE sip:bob@"+realm+" SIP/2.0",
		"Via: SIP/2.0/UDP "+phone.addr.String()+";branch="+branch()+";rport",
		"From: <sip:alice@"+realm+">;tag=a2", "To: <sip:bob@"+realm+">",
		"Call-ID: stateless-2", "CSeq: 1 INVITE", "Max-Forwards: 70",
		`proxy-authorization: Digest username="alice", realm="`+realm+`", nonce="x", uri="sip:bob@`+realm+`", response="0"`,
		"Contact: <"+contact.String()+">"))
	if res := phone.expectResponse(t, sip.INVITE); res.StatusCode != 407 && res.StatusCode != 403 {
		t.Errorf("INVITE with bad credentials answered %d", res.StatusCode)
	}
	// An unknown realm is refused on the stateless path too.
	phone.send(t, request("INVITE sip:bob@"+realm+" SIP/2.0",
		"Via: SIP/2.0/UDP "+phone.addr.String()+";branch="+branch()+";rport",
		"From: <sip:mallory@elsewhere.example>;tag=m1", "To: <sip:bob@"+realm+">",
		"Call-ID: stateless-3", "CSeq: 1 INVITE", "Max-Forwards: 70"))
	if res := phone.expectResponse(t, sip.INVITE); res.StatusCode != 403 {
		t.Errorf("INVITE from an unknown realm answered %d, want 403", res.StatusCode)
	}
	if n := counter(t, env.srv.Registry, "sipedge_proxy_invite_stateless_total", answered); n != 3 {
		t.Errorf("answered statelessly: %v, want 3 (not the one with credentials)", n)
	}
	if n := counter(t, env.srv.Registry, "sipedge_proxy_invite_stateless_total", dropped); n != 1 {
		t.Errorf("ACKs dropped in the reader: %v, want 1", n)
	}

	// The IP-authenticated PBX is never challenged: its call goes through.
	c := rawEstablish(t, env, "stateless-pbx")
	c.hangUp(t, 2)
	if n := counter(t, env.srv.Registry, "sipedge_proxy_invite_stateless_total", answered); n != 3 {
		t.Errorf("answered statelessly after the PBX call: %v, want 3", n)
	}
}

// With challenge_fast_path off, the same INVITE is challenged by the full
// path, and calls still complete.
func TestStatelessChallengeOff(t *testing.T) {
	env := newCallEnv(t, envOpts{cfg: func(c *proxy.Config) { c.ChallengeFastPath = false }})
	alice, bob := env.phone(t, "udp", "alice"), env.phone(t, "udp", "bob")
	fullCall(t, alice, bob, "bob", "v=0\r\n")
	if n := counter(t, env.srv.Registry, "sipedge_proxy_invite_stateless_total", map[string]string{"outcome": "answered"}); n != 0 {
		t.Errorf("answered statelessly with the path off: %v", n)
	}
}

// An INVITE whose headers carry an injected line gets no answer (any
// answer would echo it), on the stateless path and on the full one.
func TestChallengeDropsInjection(t *testing.T) {
	for _, stateless := range []bool{true, false} {
		env := newCallEnv(t, envOpts{cfg: func(c *proxy.Config) { c.ChallengeFastPath = stateless }})
		ph := newUDPPhone(t, env.srv.UDP)
		ph.silent(request("INVITE sip:bob@"+realm+" SIP/2.0",
			"Via: SIP/2.0/UDP 127.0.0.1:"+fmt.Sprint(ph.port())+";rport;branch="+branch(),
			"From: <sip:alice@"+realm+">;tag=a1", "To: <sip:bob@"+realm+">",
			"Call-ID: x\nInjected: y", "CSeq: 1 INVITE", "Max-Forwards: 70"))
	}
}
