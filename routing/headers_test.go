package routing

import (
	"slices"
	"strings"
	"testing"

	"github.com/sipedge/sipedge/location"
)

func TestCustomHeaderDirections(t *testing.T) {
	t.Parallel()
	callerDoc := `{"sip":{"username":"alice","custom_sip_headers":{
		"X-Flat-Caller":"fc",
		"in":{"X-Caller-In":"ci"},
		"out":{"X-Caller-Out":"co","X-Both":"caller-out"}}}}`
	calleeDoc := `{"sip":{"username":"bob","custom_sip_headers":{
		"X-Flat-Callee":"fe",
		"X-Shadowed":"flat",
		"in":{"X-Callee-In":"ei","X-Both":"callee-in","X-Shadowed":"in"},
		"out":{"X-Callee-Out":"eo"}}},
		"ringtones":{"internal":"<http://ring/internal>;info=Bellcore-dr2","external":"<http://ring/external>"}}`
	caller := profile(t, "a", callerDoc)
	callee := profile(t, "b", calleeDoc)

	tests := []struct {
		name   string
		caller *Profile
		callee *Profile
		want   map[string]string // headers on the branch; "" value = must be absent
	}{
		{
			name: "device to device", caller: caller, callee: callee,
			want: map[string]string{
				"X-Callee-In": "ei", "X-Flat-Callee": "fe", "X-Shadowed": "in", // callee in + flat, in wins
				"X-Caller-Out": "co", "X-Flat-Caller": "fc", // caller out + flat
				"X-Both":      "caller-out", // caller out beats callee in
				"X-Caller-In": "", "X-Callee-Out": "",
				"Alert-Info": "<http://ring/internal>;info=Bellcore-dr2",
			},
		},
		{
			name: "gateway to device", callee: callee,
			want: map[string]string{
				"X-Callee-In": "ei", "X-Flat-Callee": "fe", "X-Both": "callee-in",
				"X-Caller-Out": "", "X-Callee-Out": "",
				"Alert-Info": "<http://ring/external>",
			},
		},
		{
			name: "device to gateway", caller: caller,
			want: map[string]string{
				"X-Caller-Out": "co", "X-Flat-Caller": "fc", "X-Both": "caller-out",
				"X-Caller-In": "", "Alert-Info": "",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := Input{Caller: tc.caller, Callee: tc.callee, DialedUser: "bob", FromUser: "alice",
				Bindings: []location.Binding{binding()}}
			if tc.callee == nil {
				in.DialedUser = "+14158867900"
			}
			p := Decide(in)
			mustBranches(t, p, 1)
			b := p.Branches[0]
			for name, want := range tc.want {
				got, ok := b.Header(name)
				if want == "" && ok {
					t.Errorf("%s present (%q), want absent", name, got)
				}
				if want != "" && got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
				if ok && !b.Strips(name) {
					t.Errorf("added header %s is not stripped from the incoming request", name)
				}
			}
			for _, h := range b.Headers {
				if n := countHeader(b.Headers, h.Name); n != 1 {
					t.Errorf("%s added %d times", h.Name, n)
				}
			}
			if !b.Strips("X-Sipedge-Whatever") || !b.Strips("x-sipedge-require-keypress") {
				t.Error("internal headers are not stripped")
			}
			if b.Strips("X-Other") {
				t.Error("strips an unrelated header")
			}
			if tc.caller != nil && !b.Strips("P-Asserted-Identity") {
				t.Error("a device's own P-Asserted-Identity is not stripped")
			}
		})
	}
}

func countHeader(hs []Header, name string) int {
	n := 0
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			n++
		}
	}
	return n
}

// Custom headers are merged last: they may override Alert-Info (Kazoo).
func TestCustomHeaderOverridesAlertInfo(t *testing.T) {
	t.Parallel()
	callee := profile(t, "b", `{"sip":{"username":"bob","custom_sip_headers":{"in":{"Alert-Info":"<custom>"}}},
		"ringtones":{"external":"<ring>"}}`)
	p := Decide(Input{Callee: callee, DialedUser: "bob", FromUser: "x", Bindings: []location.Binding{binding()}})
	mustBranches(t, p, 1)
	if got := header(t, p.Branches[0], "Alert-Info"); got != "<custom>" || countHeader(p.Branches[0].Headers, "Alert-Info") != 1 {
		t.Errorf("Alert-Info %q (%d times)", got, countHeader(p.Branches[0].Headers, "Alert-Info"))
	}
}

// No value with CR, LF or NUL reaches the wire: the header is dropped and
// the drop reported.
func TestUnsafeValuesDropped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		doc   string
		field string // warning field
		check func(t *testing.T, p *Profile)
	}{
		{"CRLF in a custom header value", `{"sip":{"custom_sip_headers":{"in":{"X-A":"a\r\nVia: evil"}}}}`,
			"sip.custom_sip_headers.in.X-A", func(t *testing.T, p *Profile) {
				if len(p.HeadersIn) != 0 {
					t.Errorf("kept %v", p.HeadersIn)
				}
			}},
		{"LF in a flat header value", `{"sip":{"custom_sip_headers":{"X-B":"b\nc"}}}`,
			"sip.custom_sip_headers.X-B", func(t *testing.T, p *Profile) {
				if len(p.HeadersIn)+len(p.HeadersOut) != 0 {
					t.Errorf("kept %v %v", p.HeadersIn, p.HeadersOut)
				}
			}},
		{"NUL in an out header", `{"sip":{"custom_sip_headers":{"out":{"X-C":"c\u0000"}}}}`,
			"sip.custom_sip_headers.out.X-C", func(t *testing.T, p *Profile) {
				if len(p.HeadersOut) != 0 {
					t.Errorf("kept %v", p.HeadersOut)
				}
			}},
		{"CR in a header name", `{"sip":{"custom_sip_headers":{"in":{"X-D\r":"d"}}}}`,
			"sip.custom_sip_headers.in.X-D\r", nil},
		{"space in a header name", `{"sip":{"custom_sip_headers":{"in":{"X D":"d"}}}}`,
			"sip.custom_sip_headers.in.X D", nil},
		{"internal header", `{"sip":{"custom_sip_headers":{"in":{"X-Sipedge-Require-Keypress":"true"}}}}`,
			"sip.custom_sip_headers.in.X-Sipedge-Require-Keypress", nil},
		{"proxy-owned header", `{"sip":{"custom_sip_headers":{"out":{"Via":"SIP/2.0/UDP evil"}}}}`,
			"sip.custom_sip_headers.out.Via", nil},
		{"non-string value", `{"sip":{"custom_sip_headers":{"in":{"X-E":5}}}}`,
			"sip.custom_sip_headers.in.X-E", nil},
		{"ringtone", `{"ringtones":{"internal":"<a>\r\nX: y"}}`, "ringtones.internal", func(t *testing.T, p *Profile) {
			if p.RingtoneInternal != "" {
				t.Errorf("kept %q", p.RingtoneInternal)
			}
		}},
		{"caller id name", `{"caller_id":{"internal":{"name":"Al\nice","number":"1001"}}}`, "caller_id.internal.name",
			func(t *testing.T, p *Profile) {
				if p.CallerID.Internal.Name != "" || p.CallerID.Internal.Number != "1001" {
					t.Errorf("internal %+v", p.CallerID.Internal)
				}
			}},
		{"caller id name with a quote", `{"caller_id":{"external":{"name":"A\"B"}}}`, "caller_id.external.name", nil},
		{"caller id number", `{"caller_id":{"external":{"number":"+1 415 886"}}}`, "caller_id.external.number", nil},
		{"static_invite", `{"sip":{"static_invite":"a\rb"}}`, "sip.static_invite", nil},
		{"sip.number", `{"sip":{"number":"1\u0000"}}`, "sip.number", nil},
		{"sip.route", `{"sip":{"route":"sip:a@b\r\n"}}`, "sip.route", nil},
		{"forward number", `{"call_forward":{"number":"1\n2"}}`, "call_forward.number", func(t *testing.T, p *Profile) {
			if p.CallForward.Number != "" {
				t.Errorf("kept %q", p.CallForward.Number)
			}
		}},
		{"asserted realm", `{"caller_id":{"asserted":{"number":"1","realm":"a\r\nb"}}}`, "caller_id.asserted.realm", nil},
		{"presence_id", `{"presence_id":"a\nb"}`, "presence_id", nil},
		{"formatter value", `{"formatters":{"caller_id_name":{"value":"x\ny"}}}`, "formatters.caller_id_name.0.value", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(device(t, "d", tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(p.Warnings, func(w Warning) bool { return w.Field == tc.field }) {
				t.Errorf("no warning on %q: %v", tc.field, p.Warnings)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
			assertWireSafeProfile(t, p)
		})
	}
}

func assertWireSafeProfile(t *testing.T, p *Profile) {
	t.Helper()
	for _, s := range []string{p.Realm, p.Username, p.StaticInvite, p.Number, p.Route, p.Proxy, p.PresenceID,
		p.CallForward.Number, p.RingtoneInternal, p.RingtoneExternal,
		p.CallerID.Internal.Name, p.CallerID.Internal.Number, p.CallerID.External.Name, p.CallerID.External.Number,
		p.CallerID.Emergency.Name, p.CallerID.Emergency.Number, p.CallerID.Asserted.Name,
		p.CallerID.Asserted.Number, p.CallerID.Asserted.Realm, p.paiValue, p.paiEmergency, p.usernameURI, p.numberURI} {
		if !wireSafe(s) {
			t.Errorf("unsafe value compiled: %q", s)
		}
	}
	for _, h := range append(slices.Clone(p.HeadersIn), p.HeadersOut...) {
		if !validHeaderName(h.Name) || !wireSafe(h.Value) {
			t.Errorf("unsafe header compiled: %q: %q", h.Name, h.Value)
		}
	}
}

// What a device sends is checked too: an unusable From is replaced, an
// unusable dialled user refused.
func TestUnsafeInput(t *testing.T) {
	t.Parallel()
	callee := profile(t, "b", `{"sip":{"username":"bob"}}`)
	p := Decide(Input{Callee: callee, DialedUser: "bob", FromUser: "a\x00b", FromDisplay: "x\r\ny",
		Bindings: []location.Binding{binding()}})
	mustBranches(t, p, 1)
	if f := p.Branches[0].From; f.User != "anonymous" || f.Display != "" {
		t.Errorf("From %+v", f)
	}
	for _, dialed := range []string{"", "bo\rb", "a b", "x@y"} {
		mustRefuse(t, Decide(Input{Callee: callee, DialedUser: dialed}), 484, `Q.850;cause=28;text="Invalid Number Format"`)
	}
}
