package routing

import (
	"net/netip"
	"testing"

	"github.com/sipedge/sipedge/location"
)

// kazoo-semantics.md §1.3: device user_abc in acme.sip.example.com,
// registered with Contact <sip:user_abc@192.168.1.20:5062;transport=udp>
// from 203.0.113.7:40112, called for +14158867900 from an upstream gateway.
func TestInviteFormats(t *testing.T) {
	t.Parallel()
	flow := netip.MustParseAddrPort("203.0.113.7:40112")
	tests := []struct {
		name     string
		sip      string // the device's sip object
		dialed   string
		wantURI  string
		wantTo   Party
		viaFlow  bool           // sent to the binding's flow
		target   netip.AddrPort // sip.ip legs
		wantWarn bool
	}{
		{
			name:    "contact",
			sip:     `{"username":"user_abc","invite_format":"contact"}`,
			dialed:  "+14158867900",
			wantURI: "sip:user_abc@192.168.1.20:5062;transport=udp",
			wantTo:  Party{User: "user_abc", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "missing format is contact",
			sip:     `{"username":"user_abc"}`,
			dialed:  "+14158867900",
			wantURI: "sip:user_abc@192.168.1.20:5062;transport=udp",
			wantTo:  Party{User: "user_abc", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "username",
			sip:     `{"username":"user_abc","invite_format":"username"}`,
			dialed:  "+14158867900",
			wantURI: "sip:user_abc@acme.sip.example.com",
			wantTo:  Party{User: "user_abc", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "username with static_invite",
			sip:     `{"username":"user_abc","invite_format":"username","static_invite":"frontdesk"}`,
			dialed:  "+14158867900",
			wantURI: "sip:frontdesk@acme.sip.example.com",
			wantTo:  Party{User: "frontdesk", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "npan",
			sip:     `{"username":"user_abc","invite_format":"npan"}`,
			dialed:  "+14158867900",
			wantURI: "sip:4158867900@acme.sip.example.com",
			wantTo:  Party{User: "4158867900", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "1npan",
			sip:     `{"username":"user_abc","invite_format":"1npan"}`,
			dialed:  "+14158867900",
			wantURI: "sip:14158867900@acme.sip.example.com",
			wantTo:  Party{User: "14158867900", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "e164",
			sip:     `{"username":"user_abc","invite_format":"e164"}`,
			dialed:  "4158867900",
			wantURI: "sip:+14158867900@acme.sip.example.com",
			wantTo:  Party{User: "+14158867900", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "strip_plus",
			sip:     `{"username":"user_abc","invite_format":"strip_plus"}`,
			dialed:  "+14158867900",
			wantURI: "sip:14158867900@acme.sip.example.com",
			wantTo:  Party{User: "14158867900", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "strip_plus international",
			sip:     `{"username":"user_abc","invite_format":"strip_plus"}`,
			dialed:  "011442071838750",
			wantURI: "sip:442071838750@acme.sip.example.com",
			wantTo:  Party{User: "442071838750", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "npan uses sip.number regardless of the dialled number",
			sip:     `{"username":"user_abc","invite_format":"npan","number":"+12125551234"}`,
			dialed:  "+14158867900",
			wantURI: "sip:2125551234@acme.sip.example.com",
			wantTo:  Party{User: "2125551234", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "npan of an extension is a no-op",
			sip:     `{"username":"user_abc","invite_format":"npan"}`,
			dialed:  "1001",
			wantURI: "sip:1001@acme.sip.example.com",
			wantTo:  Party{User: "1001", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "e164 of an extension is a no-op",
			sip:     `{"username":"user_abc","invite_format":"e164"}`,
			dialed:  "1001",
			wantURI: "sip:1001@acme.sip.example.com",
			wantTo:  Party{User: "1001", Host: testRealm}, viaFlow: true,
		},
		{
			name:    "route verbatim",
			sip:     `{"username":"user_abc","invite_format":"route","route":"sip:4158867900@10.1.1.5:5080"}`,
			dialed:  "+14158867900",
			wantURI: "sip:4158867900@10.1.1.5:5080",
			wantTo:  Party{User: "4158867900", Host: "10.1.1.5:5080"},
		},
		{
			name:    "route without sip.route uses the contact",
			sip:     `{"username":"user_abc","invite_format":"route"}`,
			dialed:  "+14158867900",
			wantURI: "sip:user_abc@192.168.1.20:5062;transport=udp",
			wantTo:  Party{User: "user_abc", Host: testRealm}, viaFlow: true, wantWarn: true,
		},
		{
			name:    "sip.realm overrides the account realm",
			sip:     `{"username":"user_abc","invite_format":"npan","realm":"Other.Example.NET"}`,
			dialed:  "+14158867900",
			wantURI: "sip:4158867900@other.example.net",
			wantTo:  Party{User: "4158867900", Host: "other.example.net"}, viaFlow: true,
		},
		{
			name:    "sip.ip e164",
			sip:     `{"method":"ip","ip":"198.51.100.9","invite_format":"e164"}`,
			dialed:  "4158867900",
			wantURI: "sip:+14158867900@198.51.100.9",
			wantTo:  Party{User: "+14158867900", Host: "198.51.100.9"},
			target:  netip.MustParseAddrPort("198.51.100.9:5060"),
		},
		{
			name:    "sip.ip with sip.number",
			sip:     `{"method":"ip","ip":"198.51.100.9","invite_format":"npan","number":"+12125551234"}`,
			dialed:  "4158867900",
			wantURI: "sip:2125551234@198.51.100.9",
			wantTo:  Party{User: "2125551234", Host: "198.51.100.9"},
			target:  netip.MustParseAddrPort("198.51.100.9:5060"),
		},
		{
			name:    "sip.ip username format",
			sip:     `{"username":"pbx1","ip":"198.51.100.9","invite_format":"username"}`,
			dialed:  "4158867900",
			wantURI: "sip:pbx1@198.51.100.9",
			wantTo:  Party{User: "pbx1", Host: "198.51.100.9"},
			target:  netip.MustParseAddrPort("198.51.100.9:5060"),
		},
		{
			name:    "sip.ip contact format keeps the dialled number",
			sip:     `{"ip":"198.51.100.9"}`,
			dialed:  "4158867900",
			wantURI: "sip:4158867900@198.51.100.9",
			wantTo:  Party{User: "4158867900", Host: "198.51.100.9"},
			target:  netip.MustParseAddrPort("198.51.100.9:5060"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := device(t, "dev1", `{"sip":`+tc.sip+`}`)
			callee, err := Compile(d)
			if err != nil {
				t.Fatal(err)
			}
			if (len(callee.Warnings) > 0) != tc.wantWarn {
				t.Fatalf("warnings %v, want some: %v", callee.Warnings, tc.wantWarn)
			}
			in := Input{
				Callee: callee, DialedUser: tc.dialed, FromUser: "+12125550000", FromDisplay: "Carrier Caller",
				Bindings: []location.Binding{binding()},
			}
			p := Decide(in)
			mustBranches(t, p, 1)
			b := p.Branches[0]
			if b.Kind != KindDevice {
				t.Errorf("kind %s", b.Kind)
			}
			if b.RequestURI != tc.wantURI {
				t.Errorf("Request-URI %q, want %q", b.RequestURI, tc.wantURI)
			}
			if b.To != tc.wantTo {
				t.Errorf("To %+v, want %+v", b.To, tc.wantTo)
			}
			if tc.viaFlow {
				if b.Binding == nil || b.Binding.Source != flow || b.Binding != &in.Bindings[0] {
					t.Errorf("not sent to the binding's flow: %+v", b.Binding)
				}
			} else if b.Binding != nil {
				t.Errorf("route/ip leg carries a binding")
			}
			if b.Target != tc.target {
				t.Errorf("target %v, want %v", b.Target, tc.target)
			}
			// Off-net caller: its number and name pass unchanged, host is the device realm.
			if b.From != (Party{User: "+12125550000", Display: "Carrier Caller", Host: tc.wantTo.Host}) &&
				b.From != (Party{User: "+12125550000", Display: "Carrier Caller", Host: callee.Realm}) {
				t.Errorf("From %+v", b.From)
			}
		})
	}
}

// Route and sip.ip devices need no registration; others are 480 without one.
func TestRegistrationNeeded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sip  string
		want int // branches; 0 = 480
	}{
		{"route", `{"username":"u","invite_format":"route","route":"sip:1@10.0.0.1"}`, 1},
		{"ip", `{"ip":"10.0.0.2"}`, 1},
		{"contact", `{"username":"u"}`, 0},
		{"e164", `{"username":"u","invite_format":"e164"}`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := Decide(Input{Callee: profile(t, "d", `{"sip":`+tc.sip+`}`), DialedUser: "u", FromUser: "x"})
			if tc.want == 0 {
				mustRefuse(t, p, 480, `Q.850;cause=20;text="Subscriber Absent"`)
				return
			}
			mustBranches(t, p, tc.want)
		})
	}
}

func TestOneBranchPerBinding(t *testing.T) {
	t.Parallel()
	b1, b2, bad := binding(), binding(), binding()
	b2.OriginalContact = "sip:user_abc@10.9.9.9:5060;expires=60"
	b2.Source = netip.MustParseAddrPort("198.51.100.1:5060")
	bad.OriginalContact = "<sip:user_abc@10.0.0.1\x00>"
	callee := profile(t, "d", `{"sip":{"username":"user_abc"}}`)
	p := Decide(Input{Callee: callee, DialedUser: "user_abc", FromUser: "x",
		Bindings: []location.Binding{b1, b2, bad}})
	mustBranches(t, p, 2)
	if p.Fork != ForkParallel {
		t.Errorf("fork %v", p.Fork)
	}
	if got := p.Branches[1].RequestURI; got != "sip:user_abc@10.9.9.9:5060" {
		t.Errorf("second branch R-URI %q (header params must not leak into the URI)", got)
	}
}

func TestContactURI(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, orig, contact, want string }{
		{"brackets", `<sip:a@h:5062;transport=tcp>;expires=60`, "", "sip:a@h:5062;transport=tcp"},
		{"display name", `"Bob" <sips:b@h>;+sip.instance="<urn:uuid:1>"`, "", "sips:b@h"},
		{"no brackets", `sip:c@h;expires=60`, "", "sip:c@h"},
		{"fallback to contact", "", "sip:d@h;expires=60", "sip:d@h"},
		{"unterminated", `<sip:e@h`, "", ""},
		{"control char", "<sip:f@h\r>", "", ""},
		{"empty", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := location.Binding{OriginalContact: tc.orig, Contact: tc.contact}
			if got := ContactURI(&b); got != tc.want {
				t.Errorf("ContactURI = %q, want %q", got, tc.want)
			}
		})
	}
}
