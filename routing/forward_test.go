package routing

import (
	"fmt"
	"testing"

	"github.com/sipedge/sipedge/location"
)

// legs summarises a plan as its branch kinds, forward legs marked.
func legs(p Plan) string {
	if p.Refused() {
		return fmt.Sprint(p.Refusal.Code)
	}
	s := ""
	for i, b := range p.Branches {
		if i > 0 {
			s += "+"
		}
		switch {
		case b.Forward:
			s += "forward"
		default:
			s += b.Kind.String()
		}
	}
	return s
}

func TestCallForwardCombinations(t *testing.T) {
	t.Parallel()
	const fwd = `"number":"4158867900"`
	tests := []struct {
		name       string
		cf         string // call_forward object
		extra      string // more device keys
		account    string
		registered bool
		indirect   bool
		want       string // legs, or the refusal code
		reason     string // Diversion reason of the forward leg
	}{
		{name: "substitute registered", cf: `{"enabled":true,"substitute":true,` + fwd + `}`, registered: true,
			want: "forward", reason: "unconditional"},
		{name: "substitute unregistered", cf: `{"enabled":true,"substitute":true,` + fwd + `}`,
			want: "forward", reason: "unconditional"},
		{name: "parallel registered", cf: `{"enabled":true,"substitute":false,` + fwd + `}`, registered: true,
			want: "device+forward", reason: "unconditional"},
		{name: "missing substitute rings both", cf: `{"enabled":true,` + fwd + `}`, registered: true,
			want: "device+forward", reason: "unconditional"},
		{name: "parallel unregistered", cf: `{"enabled":true,"substitute":false,` + fwd + `}`,
			want: "forward", reason: "unconditional"},
		{name: "enabled without number registered", cf: `{"enabled":true,"substitute":true}`, registered: true,
			want: "device"},
		{name: "enabled without number unregistered", cf: `{"enabled":true,"substitute":true}`,
			want: "480"},
		{name: "disabled forward registered", cf: `{"enabled":false,"substitute":true,` + fwd + `}`, registered: true,
			want: "device"},
		{name: "disabled forward unregistered", cf: `{"enabled":false,"substitute":true,` + fwd + `}`,
			want: "480"},
		{name: "failover registered", cf: `{"failover":true,` + fwd + `}`, registered: true,
			want: "device"},
		{name: "failover unregistered", cf: `{"failover":true,` + fwd + `}`,
			want: "forward", reason: "unavailable"},
		{name: "failover without number", cf: `{"failover":true}`,
			want: "480"},
		{name: "enabled wins over failover", cf: `{"enabled":true,"substitute":true,"failover":true,` + fwd + `}`, registered: true,
			want: "forward", reason: "unconditional"},
		{name: "direct only, direct call", cf: `{"enabled":true,"substitute":true,"direct_calls_only":true,` + fwd + `}`, registered: true,
			want: "forward", reason: "unconditional"},
		{name: "direct only, indirect call", cf: `{"enabled":true,"substitute":true,"direct_calls_only":true,` + fwd + `}`, registered: true, indirect: true,
			want: "device"},
		{name: "direct only, indirect, failover", cf: `{"enabled":true,"substitute":true,"direct_calls_only":true,"failover":true,` + fwd + `}`, indirect: true,
			want: "forward", reason: "unavailable"},
		{name: "not direct only, indirect call", cf: `{"enabled":true,"substitute":true,` + fwd + `}`, registered: true, indirect: true,
			want: "forward", reason: "unconditional"},
		{name: "dnd with forwarding", cf: `{"enabled":true,"substitute":false,` + fwd + `}`, extra: `"do_not_disturb":{"enabled":true},`, registered: true,
			want: "forward", reason: "do-not-disturb"},
		{name: "dnd without forwarding", cf: `{}`, extra: `"do_not_disturb":{"enabled":true},`, registered: true,
			want: "486"},
		{name: "dnd with failover only", cf: `{"failover":true,` + fwd + `}`, extra: `"do_not_disturb":{"enabled":true},`,
			want: "486"},
		{name: "account dnd", cf: `{}`, account: `{"do_not_disturb":{"enabled":true}}`, registered: true,
			want: "486"},
		{name: "disabled device with forwarding", cf: `{"enabled":true,"substitute":true,` + fwd + `}`, extra: `"enabled":false,`, registered: true,
			want: "480"},
		{name: "forward number denied, substitute", cf: `{"enabled":true,"substitute":true,"number":"011442071838750"}`,
			extra: `"call_restriction":{"international":{"action":"deny"}},`, registered: true, want: "403"},
		{name: "forward number denied, parallel", cf: `{"enabled":true,"substitute":false,"number":"011442071838750"}`,
			extra: `"call_restriction":{"international":{"action":"deny"}},`, registered: true, want: "device"},
		{name: "forward number denied by account, failover", cf: `{"failover":true,"number":"011442071838750"}`,
			account: `{"call_restriction":{"international":{"action":"deny"}}}`, want: "403"},
		{name: "forward to an allowed class", cf: `{"failover":true,"number":"011442071838750"}`,
			extra: `"call_restriction":{"did_us":{"action":"deny"}},`, want: "forward", reason: "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			callee := profile(t, "dev1", `{`+tc.extra+`"sip":{"username":"user_abc"},"call_forward":`+tc.cf+`}`)
			in := Input{Callee: callee, DialedUser: "+14155550100", FromUser: "+12125550000", Indirect: tc.indirect}
			if tc.account != "" {
				in.Account = account(t, tc.account)
			}
			if tc.registered {
				in.Bindings = []location.Binding{binding()}
			}
			p := Decide(in)
			if got := legs(p); got != tc.want {
				t.Fatalf("plan %s, want %s (%+v)", got, tc.want, p)
			}
			switch p.Refusal.Code {
			case 480:
				if !callee.Enabled {
					mustRefuse(t, p, 480, `Q.850;cause=21;text="Call Rejected"`)
				} else {
					mustRefuse(t, p, 480, `Q.850;cause=20;text="Subscriber Absent"`)
				}
			case 486:
				mustRefuse(t, p, 486, `Q.850;cause=17;text="User Busy"`)
			case 403:
				mustRefuse(t, p, 403, `Q.850;cause=21;text="Call Restricted (international)"`)
			}
			for _, b := range p.Branches {
				if !b.Forward {
					continue
				}
				want := "<sip:+14155550100@acme.sip.example.com>;reason=" + tc.reason
				if b.Diversion != want || header(t, b, "Diversion") != want {
					t.Errorf("Diversion %q / header %q, want %q", b.Diversion, header(t, b, "Diversion"), want)
				}
				if b.Kind != KindGateway || b.RequestURI != "" || b.Binding != nil {
					t.Errorf("forward leg is not a gateway leg: %+v", b)
				}
				if b.Number != ToE164(callee.CallForward.Number) || b.To.User != b.Number {
					t.Errorf("forward number %q / To %q", b.Number, b.To.User)
				}
				if header(t, b, HeaderForwardedBy) != "dev1" {
					t.Errorf("%s = %q", HeaderForwardedBy, header(t, b, HeaderForwardedBy))
				}
				if _, ok := b.Header("Alert-Info"); ok {
					t.Error("forward legs get no Alert-Info")
				}
			}
		})
	}
}

// require_keypress and ignore_early_media become X-Sipedge headers on the
// forward leg (Kazoo §2 rule 6: a non-substitute forward or a keypress
// forward always ignores early media).
func TestForwardMediaHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		cf               string
		keypress, ignore string
	}{
		{"nothing", `{"substitute":true}`, "", ""},
		{"keypress", `{"substitute":true,"require_keypress":true}`, "true", "true"},
		{"ignore early media", `{"substitute":true,"ignore_early_media":true}`, "", "true"},
		{"parallel ignores early media", `{"substitute":false}`, "", "true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cf := tc.cf[:len(tc.cf)-1] + `,"enabled":true,"number":"+14158867900"}`
			callee := profile(t, "dev1", `{"sip":{"username":"u"},"call_forward":`+cf+`}`)
			p := Decide(Input{Callee: callee, DialedUser: "u", FromUser: "x"})
			var fw *Branch
			for i := range p.Branches {
				if p.Branches[i].Forward {
					fw = &p.Branches[i]
				}
			}
			if fw == nil {
				t.Fatalf("no forward leg: %+v", p)
			}
			if got := header(t, *fw, HeaderRequireKeypress); got != tc.keypress {
				t.Errorf("%s = %q, want %q", HeaderRequireKeypress, got, tc.keypress)
			}
			if got := header(t, *fw, HeaderIgnoreEarlyMedia); got != tc.ignore {
				t.Errorf("%s = %q, want %q", HeaderIgnoreEarlyMedia, got, tc.ignore)
			}
		})
	}
}

func TestForwardCallerID(t *testing.T) {
	t.Parallel()
	const doc = `{"sip":{"username":"user_abc"},
		"caller_id":{"external":{"name":"Acme Main","number":"+14155550100"},
			"emergency":{"name":"Acme 911","number":"+14155550911"},
			"asserted":{"name":"Acme","number":"+14155550101"}},
		"call_forward":{"enabled":true,"substitute":true,"number":"%s","keep_caller_id":%v}}`
	caller := profile(t, "caller", `{"sip":{"username":"alice"},"caller_id":{"internal":{"name":"Alice","number":"1001"},"external":{"name":"Alice Ext","number":"+14155550111"}}}`)
	tests := []struct {
		name     string
		number   string
		keep     bool
		onNet    bool
		wantFrom Party
		wantPAI  string
	}{
		{"off-net keep", "+14158867900", true, false,
			Party{Display: "Carrier Caller", User: "+12125550000", Host: testRealm}, `"Acme" <sip:+14155550101@acme.sip.example.com>`},
		{"off-net do not keep", "+14158867900", false, false,
			Party{Display: "Acme Main", User: "+14155550100", Host: testRealm}, `"Acme" <sip:+14155550101@acme.sip.example.com>`},
		{"on-net keep uses the device's external", "+14158867900", true, true,
			Party{Display: "Acme Main", User: "+14155550100", Host: testRealm}, `"Acme" <sip:+14155550101@acme.sip.example.com>`},
		{"forward to emergency", "911", false, false,
			Party{Display: "Acme 911", User: "+14155550911", Host: testRealm}, `"Acme 911" <sip:+14155550911@acme.sip.example.com>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			callee := profile(t, "dev1", fmt.Sprintf(doc, tc.number, tc.keep))
			in := Input{Callee: callee, DialedUser: "user_abc", FromUser: "+12125550000", FromDisplay: "Carrier Caller"}
			if tc.onNet {
				in.Caller = caller
			}
			p := Decide(in)
			mustBranches(t, p, 1)
			b := p.Branches[0]
			if b.From != tc.wantFrom {
				t.Errorf("From %+v, want %+v", b.From, tc.wantFrom)
			}
			if got := header(t, b, "P-Asserted-Identity"); got != tc.wantPAI {
				t.Errorf("P-Asserted-Identity %q, want %q", got, tc.wantPAI)
			}
		})
	}
}
