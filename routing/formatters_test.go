package routing

import (
	"testing"

	"github.com/sipedge/sipedge/location"
)

// Formatters of the callee apply outbound (toward it); the caller's apply
// inbound (to what it sends).
func TestFormatters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		calleeFmt  string // formatters of the callee (bob, invite_format e164)
		callerFmt  string // formatters of the caller (alice)
		fromGW     bool
		dialed     string
		wantFrom   Party
		wantTo     string
		wantURI    string
		wantHeader string // X-Tag value
	}{
		{
			name:      "kazoo example: strip +1 from the caller id number",
			calleeFmt: `{"caller_id_number":[{"regex":"^\\+1(\\d{10})$","direction":"outbound"}]}`,
			fromGW:    true, dialed: "bob",
			wantFrom: Party{User: "4158867900", Display: "Caller", Host: testRealm},
			wantTo:   "bob", wantURI: "sip:bob@acme.sip.example.com", wantHeader: "t",
		},
		{
			name:      "inbound-only formatter does not apply toward the device",
			calleeFmt: `{"caller_id_number":[{"regex":"^\\+1(\\d{10})$","direction":"inbound"}]}`,
			fromGW:    true, dialed: "bob",
			wantFrom: Party{User: "+14158867900", Display: "Caller", Host: testRealm},
			wantTo:   "bob", wantURI: "sip:bob@acme.sip.example.com", wantHeader: "t",
		},
		{
			name:      "regex falls through to the next formatter",
			calleeFmt: `{"caller_id_number":[{"regex":"^44(\\d+)$"},{"prefix":"00","regex":"^\\+(\\d+)$"}]}`,
			fromGW:    true, dialed: "bob",
			wantFrom: Party{User: "0014158867900", Display: "Caller", Host: testRealm},
			wantTo:   "bob", wantURI: "sip:bob@acme.sip.example.com", wantHeader: "t",
		},
		{
			name:      "value and strip on the name",
			calleeFmt: `{"caller_id_name":{"value":"Acme Line"},"from":{"value":"reception"}}`,
			fromGW:    true, dialed: "bob",
			wantFrom: Party{User: "reception", Display: "Acme Line", Host: testRealm},
			wantTo:   "bob", wantURI: "sip:bob@acme.sip.example.com", wantHeader: "t",
		},
		{
			name:      "strip removes the display name",
			calleeFmt: `{"caller_id_name":{"strip":true}}`,
			fromGW:    true, dialed: "bob",
			wantFrom: Party{User: "+14158867900", Host: testRealm},
			wantTo:   "bob", wantURI: "sip:bob@acme.sip.example.com", wantHeader: "t",
		},
		{
			name:      "match_invite_format",
			calleeFmt: `{"caller_id_number":{"match_invite_format":true}}`,
			fromGW:    true, dialed: "bob",
			wantFrom: Party{User: "+14158867900", Display: "Caller", Host: testRealm},
			wantTo:   "bob", wantURI: "sip:bob@acme.sip.example.com", wantHeader: "t",
		},
		{
			name:      "to and request",
			calleeFmt: `{"to":{"value":"desk"},"request":{"regex":"^(.*)$","prefix":"x"}}`,
			fromGW:    true, dialed: "bob",
			wantFrom: Party{User: "+14158867900", Display: "Caller", Host: testRealm},
			wantTo:   "desk", wantURI: "sip:xdesk@acme.sip.example.com", wantHeader: "t",
		},
		{
			name:      "custom header by name",
			calleeFmt: `{"x_tag":{"value":"rewritten"}}`,
			fromGW:    true, dialed: "bob",
			wantFrom: Party{User: "+14158867900", Display: "Caller", Host: testRealm},
			wantTo:   "bob", wantURI: "sip:bob@acme.sip.example.com", wantHeader: "rewritten",
		},
		{
			name:      "custom header strip",
			calleeFmt: `{"X-Tag":{"strip":true}}`,
			fromGW:    true, dialed: "bob",
			wantFrom: Party{User: "+14158867900", Display: "Caller", Host: testRealm},
			wantTo:   "bob", wantURI: "sip:bob@acme.sip.example.com", wantHeader: "",
		},
		{
			name:      "caller's inbound request formatter picks the callee",
			callerFmt: `{"request":{"regex":"^\\*(.*)$","direction":"inbound"}}`,
			dialed:    "*bob",
			wantFrom:  Party{User: "alice", Display: "Caller", Host: testRealm},
			wantTo:    "bob", wantURI: "sip:bob@acme.sip.example.com", wantHeader: "t",
		},
		{
			name:      "a result that is no user part is not used",
			calleeFmt: `{"caller_id_number":{"value":"a b"}}`,
			fromGW:    true, dialed: "bob",
			wantFrom: Party{User: "+14158867900", Display: "Caller", Host: testRealm},
			wantTo:   "bob", wantURI: "sip:bob@acme.sip.example.com", wantHeader: "t",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calleeDoc := `{"sip":{"username":"bob","invite_format":"username","custom_sip_headers":{"in":{"X-Tag":"t"}}}`
			if tc.calleeFmt != "" {
				calleeDoc += `,"formatters":` + tc.calleeFmt
			}
			calleeDoc += `}`
			callee := profile(t, "b", calleeDoc)
			in := Input{Callee: callee, DialedUser: tc.dialed, FromUser: "+14158867900", FromDisplay: "Caller",
				Bindings: []location.Binding{binding()}}
			if !tc.fromGW {
				callerDoc := `{"sip":{"username":"alice"}`
				if tc.callerFmt != "" {
					callerDoc += `,"formatters":` + tc.callerFmt
				}
				in.Caller = profile(t, "a", callerDoc+`}`)
			}
			in.DialedUser = Dialed(in.Caller, tc.dialed)
			if p, _ := Resolve(testRealm, in.DialedUser, NewNumberIndex(callee)); p != callee {
				t.Fatalf("dialled %q (as %q) does not reach the callee", tc.dialed, in.DialedUser)
			}
			p := Decide(in)
			mustBranches(t, p, 1)
			b := p.Branches[0]
			if b.From != tc.wantFrom {
				t.Errorf("From %+v, want %+v", b.From, tc.wantFrom)
			}
			if b.To.User != tc.wantTo {
				t.Errorf("To user %q, want %q", b.To.User, tc.wantTo)
			}
			if b.RequestURI != tc.wantURI {
				t.Errorf("Request-URI %q, want %q", b.RequestURI, tc.wantURI)
			}
			if got := header(t, b, "X-Tag"); got != tc.wantHeader {
				t.Errorf("X-Tag %q, want %q", got, tc.wantHeader)
			}
		})
	}
}

func TestFormatterWarnings(t *testing.T) {
	t.Parallel()
	p, err := Compile(device(t, "d", `{"formatters":{
		"a":{"regex":"(?<=x)y"},
		"b":{"direction":"sideways","value":"v"},
		"c":{"prefix":"p"},
		"d":5,
		"e":[{"value":"ok"},7]}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"formatters.a.0.regex": true, "formatters.b.0.direction": true,
		"formatters.c.0": true, "formatters.d": true, "formatters.e.1": true}
	for _, w := range p.Warnings {
		delete(want, w.Field)
	}
	if len(want) != 0 {
		t.Errorf("missing warnings %v; got %v", want, p.Warnings)
	}
	if p.Formatters == nil || len(p.Formatters.headers["e"]) != 1 {
		t.Errorf("the valid formatter was not kept")
	}
}
