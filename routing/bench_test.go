package routing

import (
	"testing"

	"github.com/sipedge/sipedge/location"
)

func benchInput(b testing.TB, calleeSIP string) (*Input, *NumberIndex) {
	caller := profile(b, "a", `{"sip":{"username":"alice","custom_sip_headers":{"out":{"X-Account":"acme"}}},
		"caller_id":{"internal":{"name":"Alice","number":"1001"},"external":{"name":"Acme","number":"+14155550100"}},
		"call_restriction":{"international":{"action":"deny"}}}`)
	callee := profile(b, "b", `{"sip":`+calleeSIP+`,
		"ringtones":{"internal":"<http://ring.example/internal.wav>"},
		"caller_id":{"internal":{"name":"Bob","number":"1002"}},
		"call_forward":{"enabled":false,"failover":true,"number":"+14158867900"}}`)
	acct := account(b, `{"call_restriction":{"toll_us":{"action":"deny"}}}`)
	idx := NewNumberIndex(caller, callee)
	return &Input{
		Caller: caller, Account: acct, DialedUser: "1002",
		FromUser: "alice", FromDisplay: "Alice", Bindings: []location.Binding{binding()},
	}, idx
}

// BenchmarkDecide: a device-to-device call on compiled profiles, the
// callee resolved by number, decided into a reused plan.
func BenchmarkDecide(b *testing.B) {
	for _, bc := range []struct{ name, sip string }{
		{"contact", `{"username":"bob","number":"1002","custom_sip_headers":{"in":{"X-Line":"2"}}}`},
		{"username", `{"username":"bob","number":"1002","invite_format":"username"}`},
		{"e164 with number", `{"username":"bob","number":"+14155550102","invite_format":"e164"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in, idx := benchInput(b, bc.sip)
			in.DialedUser = "bob"
			var p Plan
			b.ReportAllocs()
			for b.Loop() {
				callee, _ := Resolve(testRealm, in.DialedUser, idx)
				in.Callee = callee
				DecideInto(&p, in)
			}
			if len(p.Branches) != 1 || p.Branches[0].From.User != "1001" {
				b.Fatalf("unexpected plan %+v", p)
			}
		})
	}
}

// TestDecideAllocs pins the zero-allocation promise of the compiled path.
func TestDecideAllocs(t *testing.T) {
	for _, sip := range []string{
		`{"username":"bob","custom_sip_headers":{"in":{"X-Line":"2"}}}`,
		`{"username":"bob","invite_format":"username","static_invite":"desk"}`,
		`{"username":"bob","number":"+14155550102","invite_format":"npan"}`,
	} {
		in, idx := benchInput(t, sip)
		in.DialedUser = "bob"
		var p Plan
		n := testing.AllocsPerRun(200, func() {
			in.Callee, _ = Resolve(testRealm, in.DialedUser, idx)
			DecideInto(&p, in)
		})
		if n != 0 || len(p.Branches) != 1 {
			t.Errorf("%s: %v allocs per call, %d branches", sip, n, len(p.Branches))
		}
	}
}
