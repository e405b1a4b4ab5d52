package proxy_test

import (
	"testing"
)

// In-dialog requests need no credentials, so they must prove they belong
// to a dialog we record-routed: a Route to us without our token (or with
// one for another Call-ID) is refused, and nothing is forwarded.
func TestInDialogNeedsOurRouteToken(t *testing.T) {
	env := newCallEnv(t, envOpts{})
	self := env.srv.UDP.String()
	tests := []struct {
		name   string
		method string
		route  string
		code   int
	}{
		{name: "no token", method: "BYE", route: "<sip:" + self + ";lr>", code: 403},
		{name: "forged token", method: "INVITE", route: "<sip:" + self + ";lr;st=0123456789ab>", code: 403},
		{name: "not our route", method: "BYE", route: "<sip:192.0.2.1;lr>", code: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rawUDP(t, env.srv.UDP, request(tc.method+" sip:+19005551234@192.0.2.7 SIP/2.0",
				"Via: SIP/2.0/UDP 127.0.0.1:9;branch="+branch()+";rport",
				"Route: "+tc.route,
				"From: <sip:mallory@evil.example>;tag=1", "To: <sip:x@192.0.2.7>;tag=2",
				"Call-ID: forged-"+tc.name, "CSeq: 5 "+tc.method, "Max-Forwards: 70"))
			res := readResponse(t, c)
			for res.StatusCode == 100 {
				res = readResponse(t, c)
			}
			if res.StatusCode != tc.code {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tc.code)
			}
		})
	}
}
