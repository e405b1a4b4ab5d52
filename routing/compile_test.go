package routing

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
)

func TestCompileFields(t *testing.T) {
	t.Parallel()
	p := profile(t, "dev1", `{
		"enabled": true,
		"presence_id": "Reception",
		"sip": {"username":"user_abc","invite_format":"1npan","number":"4155550100","proxy":"sip:10.0.0.9:5070"},
		"call_forward": {"enabled":true,"number":"+14158867900","substitute":true,"keep_caller_id":true,
			"require_keypress":true,"ignore_early_media":true,"direct_calls_only":true,"failover":true},
		"do_not_disturb": {"enabled": false},
		"caller_id_options": {"outbound_privacy":"number"},
		"media": {"progress_timeout": 8, "audio": {"codecs": ["PCMU","G722"]}},
		"call_restriction": {"toll_us":{"action":"deny"},"did_us":{"action":"inherit"}}
	}`)
	if p.InviteFormat != Format1NPAN || p.Number != "4155550100" || p.NumberE164 != "+14155550100" {
		t.Errorf("sip fields: %v %q %q", p.InviteFormat, p.Number, p.NumberE164)
	}
	if p.numberUser != "14155550100" || p.numberURI != "sip:14155550100@acme.sip.example.com" {
		t.Errorf("pre-built number: %q %q", p.numberUser, p.numberURI)
	}
	if p.PresenceID != "Reception@acme.sip.example.com" || p.presenceUser != "Reception" {
		t.Errorf("presence %q", p.PresenceID)
	}
	if p.Proxy != "sip:10.0.0.9:5070" {
		t.Errorf("proxy %q", p.Proxy)
	}
	want := CallForward{Enabled: true, Number: "+14158867900", Substitute: true, Failover: true,
		DirectCallsOnly: true, KeepCallerID: true, RequireKeypress: true, IgnoreEarlyMedia: true}
	if p.CallForward != want {
		t.Errorf("call_forward %+v", p.CallForward)
	}
	if p.OutboundPrivacy != PrivacyNumber || p.DND {
		t.Errorf("privacy %v dnd %v", p.OutboundPrivacy, p.DND)
	}
	if p.ProgressTimeout != 8*time.Second || !slices.Equal(p.Codecs, []string{"PCMU", "G722"}) {
		t.Errorf("media %v %v", p.ProgressTimeout, p.Codecs)
	}
	if p.Restrictions.Of(ClassTollUS) != ActionDeny || p.Restrictions.Of(ClassDIDUS) != ActionInherit {
		t.Errorf("restrictions %v", p.Restrictions)
	}
}

func TestCompileDefaults(t *testing.T) {
	t.Parallel()
	p := profile(t, "d", `{"sip":{"username":"u"}}`)
	if p.InviteFormat != FormatContact || !p.Enabled || p.DND || p.CallForward != (CallForward{}) ||
		p.PresenceID != "u@acme.sip.example.com" || p.Formatters != nil || p.DialPlan != nil {
		t.Errorf("defaults: %+v", p)
	}
	if _, err := Compile(nil); !errors.Is(err, ErrNoDocument) {
		t.Errorf("Compile(nil) = %v", err)
	}
	if _, err := CompileAccount(nil); !errors.Is(err, ErrNoDocument) {
		t.Errorf("CompileAccount(nil) = %v", err)
	}
}

func TestCompileWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, doc, field string }{
		{"unknown invite format", `{"sip":{"invite_format":"fancy"}}`, "sip.invite_format"},
		{"unknown privacy", `{"caller_id_options":{"outbound_privacy":"most"}}`, "caller_id_options.outbound_privacy"},
		{"unknown classifier", `{"call_restriction":{"premium":{"action":"deny"}}}`, "call_restriction.premium"},
		{"unknown action", `{"call_restriction":{"toll_us":{"action":"maybe"}}}`, "call_restriction.toll_us.action"},
		{"bad codec", `{"media":{"audio":{"codecs":["PCMU","bad codec"]}}}`, "media.audio.codecs.1"},
		{"route format without route", `{"sip":{"invite_format":"route"}}`, "sip.route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(device(t, "d", tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(p.Warnings, func(w Warning) bool { return w.Field == tc.field }) {
				t.Errorf("no warning on %s: %v", tc.field, p.Warnings)
			}
		})
	}
}

func TestCompileAccount(t *testing.T) {
	t.Parallel()
	a, err := CompileAccount(&devices.Account{ID: "acct1", Realm: "ACME.example", Doc: map[string]any{
		"call_restriction": map[string]any{"international": map[string]any{"action": "deny"}},
		"dial_plan":        map[string]any{`^(\d{7})$`: map[string]any{"prefix": "+1415"}},
		"caller_id":        map[string]any{"external": map[string]any{"number": "+14155550000"}},
		"do_not_disturb":   map[string]any{"enabled": true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Realm != "acme.example" || a.Restrictions.Of(ClassInternational) != ActionDeny || a.DialPlan.Len() != 1 ||
		a.CallerID.External.Number != "+14155550000" || !a.DND || len(a.Warnings) != 0 {
		t.Errorf("account %+v", a)
	}
}

func TestBranchTimersAndCodecs(t *testing.T) {
	t.Parallel()
	callee := profile(t, "b", `{"sip":{"username":"bob"},"media":{"progress_timeout":5,"audio":{"codecs":["PCMA"]}}}`)
	tests := []struct {
		name   string
		cfg    Config
		ring   time.Duration
		codecs []string
	}{
		{"defaults", Config{}, DefaultRingTimeout, nil},
		{"configured", Config{RingTimeout: 25 * time.Second, FilterCodecs: true}, 25 * time.Second, []string{"PCMA"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := Decide(Input{Callee: callee, DialedUser: "bob", FromUser: "x", Config: tc.cfg,
				Bindings: []location.Binding{binding()}})
			mustBranches(t, p, 1)
			b := p.Branches[0]
			if b.RingTimeout != tc.ring || b.ProgressTimeout != 5*time.Second || !slices.Equal(b.Codecs, tc.codecs) {
				t.Errorf("ring %v progress %v codecs %v", b.RingTimeout, b.ProgressTimeout, b.Codecs)
			}
		})
	}
}

// DecideInto reuses a plan: nothing of the previous decision leaks.
func TestDecideIntoReuse(t *testing.T) {
	t.Parallel()
	caller := profile(t, "a", `{"sip":{"username":"alice","custom_sip_headers":{"out":{"X-A":"1","X-B":"2"}}}}`)
	callee := profile(t, "b", `{"sip":{"username":"bob"}}`)
	bs := []location.Binding{binding(), binding()}
	var p Plan
	DecideInto(&p, &Input{Caller: caller, Callee: callee, DialedUser: "bob", FromUser: "alice", Bindings: bs})
	if len(p.Branches) != 2 || len(p.Branches[1].Headers) != 2 {
		t.Fatalf("first plan %+v", p)
	}
	DecideInto(&p, &Input{Callee: callee, DialedUser: "bob", FromUser: "x", Bindings: bs[:1]})
	if len(p.Branches) != 1 || len(p.Branches[0].Headers) != 0 || p.Branches[0].Strips("X-A") {
		t.Fatalf("second plan kept old state: %+v", p)
	}
	DecideInto(&p, &Input{Callee: callee, DialedUser: "bob", FromUser: "x"})
	if !p.Refused() || len(p.Branches) != 0 {
		t.Fatalf("third plan %+v", p)
	}
	DecideInto(&p, &Input{Callee: callee, DialedUser: "bob", FromUser: "x", Bindings: bs[:1]})
	if p.Refused() || len(p.Branches) != 1 {
		t.Fatalf("fourth plan %+v", p)
	}
}
