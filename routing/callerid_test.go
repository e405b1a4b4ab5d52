package routing

import (
	"testing"

	"github.com/sipedge/sipedge/location"
)

const aliceDoc = `{"sip":{"username":"alice"},
	"caller_id":{
		"internal":{"name":"Alice","number":"1001"},
		"external":{"name":"Acme Sales","number":"+14155550100"},
		"emergency":{"name":"Acme HQ","number":"+14155550199"},
		"asserted":{"name":"Acme","number":"+14155550101"}}}`

func TestCallerIDSelection(t *testing.T) {
	t.Parallel()
	alice := profile(t, "a", aliceDoc)
	bare := profile(t, "n", `{"sip":{"username":"nobody"}}`)
	withPresence := profile(t, "p", `{"sip":{"username":"carol"},"presence_id":"2002"}`)
	acct := account(t, `{"caller_id":{"external":{"name":"Acme Inc","number":"+14155550000"},
		"internal":{"name":"Front Desk","number":"1000"}}}`)
	bob := profile(t, "b", `{"sip":{"username":"bob"}}`)
	tests := []struct {
		name    string
		caller  *Profile
		account *AccountProfile
		callee  *Profile
		dialed  string
		want    Party
		wantPAI string
	}{
		{"on-net internal", alice, nil, bob, "bob",
			Party{Display: "Alice", User: "1001", Host: testRealm}, ""},
		{"off-net caller unchanged", nil, nil, bob, "bob",
			Party{Display: "Sent Name", User: "sentuser", Host: testRealm}, ""},
		{"internal falls back to the account", bare, acct, bob, "bob",
			Party{Display: "Front Desk", User: "1000", Host: testRealm}, ""},
		{"internal falls back to the presence id, then the From", withPresence, nil, bob, "bob",
			Party{Display: "Sent Name", User: "2002", Host: testRealm}, ""},
		{"internal falls back to the username as presence id", bare, nil, bob, "bob",
			Party{Display: "Sent Name", User: "nobody", Host: testRealm}, ""},
		{"external toward gateways", alice, nil, nil, "4158867900",
			Party{Display: "Acme Sales", User: "+14155550100", Host: testRealm},
			`"Acme" <sip:+14155550101@acme.sip.example.com>`},
		{"external falls back to the account", bare, acct, nil, "4158867900",
			Party{Display: "Acme Inc", User: "+14155550000", Host: testRealm}, ""},
		{"external falls back to the From", bare, nil, nil, "4158867900",
			Party{Display: "Sent Name", User: "sentuser", Host: testRealm}, ""},
		{"emergency", alice, nil, nil, "911",
			Party{Display: "Acme HQ", User: "+14155550199", Host: testRealm},
			`"Acme HQ" <sip:+14155550199@acme.sip.example.com>`},
		{"emergency falls back to external", bare, acct, nil, "911",
			Party{Display: "Acme Inc", User: "+14155550000", Host: testRealm}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := Input{Caller: tc.caller, Account: tc.account, Callee: tc.callee, DialedUser: tc.dialed,
				FromUser: "sentuser", FromDisplay: "Sent Name", Bindings: []location.Binding{binding()}}
			p := Decide(in)
			mustBranches(t, p, 1)
			b := p.Branches[0]
			if b.From != tc.want {
				t.Errorf("From %+v, want %+v", b.From, tc.want)
			}
			if got := header(t, b, "P-Asserted-Identity"); got != tc.wantPAI {
				t.Errorf("P-Asserted-Identity %q, want %q", got, tc.wantPAI)
			}
		})
	}
}

func TestAssertedIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cid        string
		normal, emergent string
	}{
		{"name and number", `{"asserted":{"name":"Acme","number":"+14155550101"}}`,
			`"Acme" <sip:+14155550101@acme.sip.example.com>`, `"Acme" <sip:+14155550101@acme.sip.example.com>`},
		{"number only: no PAI on emergency calls", `{"asserted":{"number":"+14155550101"}}`,
			`<sip:+14155550101@acme.sip.example.com>`, ""},
		{"name only: none", `{"asserted":{"name":"Acme"}}`, "", ""},
		{"realm", `{"asserted":{"number":"+14155550101","realm":"Carrier.Example"}}`,
			`<sip:+14155550101@carrier.example>`, ""},
		{"emergency rewrites", `{"asserted":{"name":"Acme","number":"1"},"emergency":{"name":"HQ","number":"2"}}`,
			`"Acme" <sip:1@acme.sip.example.com>`, `"HQ" <sip:2@acme.sip.example.com>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := profile(t, "a", `{"sip":{"username":"alice"},"caller_id":`+tc.cid+`}`)
			for _, c := range []struct {
				dialed, want string
			}{{"4158867900", tc.normal}, {"911", tc.emergent}} {
				plan := Decide(Input{Caller: p, DialedUser: c.dialed, FromUser: "alice"})
				mustBranches(t, plan, 1)
				if got := header(t, plan.Branches[0], "P-Asserted-Identity"); got != c.want {
					t.Errorf("dialling %s: P-Asserted-Identity %q, want %q", c.dialed, got, c.want)
				}
			}
		})
	}
}

func TestOutboundPrivacy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, privacy string
		dialed        string
		want          Party
		wantPrivacy   string
	}{
		{"none", "none", "4158867900", Party{Display: "Acme Sales", User: "+14155550100", Host: testRealm}, ""},
		{"name", "name", "4158867900", Party{Display: "Anonymous", User: "+14155550100", Host: testRealm}, "id"},
		{"number", "number", "4158867900", Party{Display: "Acme Sales", User: "anonymous", Host: "anonymous.invalid"}, "id"},
		{"full", "full", "4158867900", Party{Display: "Anonymous", User: "anonymous", Host: "anonymous.invalid"}, "id"},
		{"never on emergency calls", "full", "911", Party{Display: "Acme HQ", User: "+14155550199", Host: testRealm}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc := aliceDoc[:len(aliceDoc)-1] + `,"caller_id_options":{"outbound_privacy":"` + tc.privacy + `"}}`
			p := Decide(Input{Caller: profile(t, "a", doc), DialedUser: tc.dialed, FromUser: "alice"})
			mustBranches(t, p, 1)
			b := p.Branches[0]
			if b.From != tc.want {
				t.Errorf("From %+v, want %+v", b.From, tc.want)
			}
			if got := header(t, b, "Privacy"); got != tc.wantPrivacy {
				t.Errorf("Privacy %q, want %q", got, tc.wantPrivacy)
			}
			if pai := header(t, b, "P-Asserted-Identity"); pai == "" {
				t.Error("P-Asserted-Identity must still tell the gateway who called")
			}
		})
	}
	// On-net calls are not anonymised.
	doc := aliceDoc[:len(aliceDoc)-1] + `,"caller_id_options":{"outbound_privacy":"full"}}`
	p := Decide(Input{Caller: profile(t, "a", doc), Callee: profile(t, "b", `{"sip":{"username":"bob"}}`),
		DialedUser: "bob", FromUser: "alice", Bindings: []location.Binding{binding()}})
	mustBranches(t, p, 1)
	if p.Branches[0].From.User != "1001" {
		t.Errorf("on-net From %+v", p.Branches[0].From)
	}
}

func TestCallRestrictions(t *testing.T) {
	t.Parallel()
	callee := profile(t, "b", `{"sip":{"username":"1002"}}`)
	tests := []struct {
		name     string
		device   string // call_restriction of the caller
		account  string // call_restriction of the account
		dialed   string
		toDevice bool
		want     string // "" allowed, else the class in the 403
	}{
		{"tollfree denied", `{"tollfree_us":{"action":"deny"}}`, ``, "18005551234", false, "tollfree_us"},
		{"toll denied", `{"toll_us":{"action":"deny"}}`, ``, "19005551234", false, "toll_us"},
		{"emergency denied", `{"emergency":{"action":"deny"}}`, ``, "911", false, "emergency"},
		{"caribbean denied", `{"caribbean":{"action":"deny"}}`, ``, "18765551234", false, "caribbean"},
		{"did_us denied", `{"did_us":{"action":"deny"}}`, ``, "4158867900", false, "did_us"},
		{"international denied", `{"international":{"action":"deny"}}`, ``, "011442071838750", false, "international"},
		{"unknown denied", `{"unknown":{"action":"deny"}}`, ``, "5555", false, "unknown"},
		{"unknown denied blocks extensions", `{"unknown":{"action":"deny"}}`, ``, "1002", true, "unknown"},
		{"other class allowed", `{"international":{"action":"deny"}}`, ``, "4158867900", false, ""},
		{"inherit allows", `{"international":{"action":"inherit"}}`, ``, "011442071838750", false, ""},
		{"account deny", ``, `{"international":{"action":"deny"}}`, "011442071838750", false, "international"},
		{"account deny beats device allow", `{"international":{"action":"allow"}}`, `{"international":{"action":"deny"}}`, "+442071838750", false, "international"},
		{"device deny with account inherit", `{"caribbean":{"action":"deny"}}`, `{"caribbean":{"action":"inherit"}}`, "+18095551234", false, "caribbean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc := `{"sip":{"username":"alice"}}`
			if tc.device != "" {
				doc = `{"sip":{"username":"alice"},"call_restriction":` + tc.device + `}`
			}
			in := Input{Caller: profile(t, "a", doc), DialedUser: tc.dialed, FromUser: "alice",
				Bindings: []location.Binding{binding()}}
			if tc.account != "" {
				in.Account = account(t, `{"call_restriction":`+tc.account+`}`)
			}
			if tc.toDevice {
				in.Callee = callee
			}
			p := Decide(in)
			if tc.want == "" {
				mustBranches(t, p, 1)
				return
			}
			mustRefuse(t, p, 403, `Q.850;cause=21;text="Call Restricted (`+tc.want+`)"`)
			if p.Refusal.Phrase != "Forbidden" {
				t.Errorf("phrase %q", p.Refusal.Phrase)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	alice := profile(t, "a", `{"sip":{"username":"alice"}}`)
	disabledCaller, _ := Compile(device(t, "x", `{"enabled":false,"sip":{"username":"x"}}`))
	tests := []struct {
		name   string
		in     Input
		code   int
		reason string
	}{
		{"gateway to nobody", Input{DialedUser: "4158867900", FromUser: "x"}, 404, `Q.850;cause=1;text="Unallocated Number"`},
		{"disabled callee", Input{Caller: alice, Callee: profile(t, "b", `{"enabled":false,"sip":{"username":"b"}}`),
			DialedUser: "b", Bindings: []location.Binding{binding()}}, 480, `Q.850;cause=21;text="Call Rejected"`},
		{"unregistered", Input{Caller: alice, Callee: profile(t, "b", `{"sip":{"username":"b"}}`), DialedUser: "b"},
			480, `Q.850;cause=20;text="Subscriber Absent"`},
		{"dnd", Input{Caller: alice, Callee: profile(t, "b", `{"do_not_disturb":{"enabled":true},"sip":{"username":"b"}}`),
			DialedUser: "b", Bindings: []location.Binding{binding()}}, 486, `Q.850;cause=17;text="User Busy"`},
		{"disabled caller", Input{Caller: disabledCaller, DialedUser: "4158867900"}, 403, `Q.850;cause=21;text="Call Rejected"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mustRefuse(t, Decide(tc.in), tc.code, tc.reason)
		})
	}
}
