package routing

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sipedge/sipedge/location"
)

var fuzzSeeds = []string{
	`{"sip":{"username":"bob","invite_format":"e164","number":"4155550100","custom_sip_headers":{"X-A":"1","in":{"X-B":"2"},"out":{"X-C":"3"}}},
	  "ringtones":{"internal":"<http://a>","external":"<http://b>"},"caller_id":{"internal":{"name":"Bob","number":"1002"},
	  "external":{"name":"Acme","number":"+14155550100"},"asserted":{"name":"A","number":"+1415","realm":"x.example"}}}`,
	`{"sip":{"username":"u","invite_format":"route","route":"sip:1@10.0.0.1:5080","proxy":"sip:10.0.0.2"}}`,
	`{"sip":{"ip":"198.51.100.9","invite_format":"npan"},"call_forward":{"enabled":true,"number":"011442071838750","substitute":false,"require_keypress":true}}`,
	`{"sip":{"username":"u"},"call_forward":{"failover":true,"number":"911","keep_caller_id":true},"caller_id_options":{"outbound_privacy":"full"}}`,
	`{"sip":{"username":"u"},"do_not_disturb":{"enabled":true},"call_restriction":{"international":{"action":"deny"},"unknown":{"action":"deny"}}}`,
	`{"sip":{"username":"u"},"dial_plan":{"^(\\d{7})$":{"prefix":"+1415"},"^9(\\d+)$":{"suffix":"0"}},
	  "formatters":{"caller_id_number":[{"regex":"^\\+1(\\d+)$","prefix":"0"}],"to":{"match_invite_format":true},"x_a":{"value":"v"},"request":{"strip":true}}}`,
	`{"enabled":false,"sip":{"username":"x\r\n","custom_sip_headers":{"in":{"X-\u0000":"a\nb"}}},"presence_id":"p@q\r"}`,
	`{"sip":{"username":"u","static_invite":"s","invite_format":"username","realm":"R.example"},"presence_id":"1234","media":{"progress_timeout":3,"audio":{"codecs":["PCMU"]}}}`,
}

// FuzzDecide: random device documents and dialled strings never make
// Compile or Decide panic, and nothing with CR, LF or NUL reaches a plan.
func FuzzDecide(f *testing.F) {
	for i, callee := range fuzzSeeds {
		caller := fuzzSeeds[(i+3)%len(fuzzSeeds)]
		f.Add([]byte(callee), []byte(caller), "+14155550100", "alice", "Alice", "<sip:bob@10.0.0.1;transport=tcp>;expires=60", uint8(i))
	}
	f.Add([]byte(`{}`), []byte(`{}`), "911", "a\x00", "\"q", "sip:x@y;expires=1", uint8(0xff))
	f.Add([]byte(`{"sip":{"username":"bob"}}`), []byte(`null`), "bob", "", "", "", uint8(7))

	f.Fuzz(func(t *testing.T, calleeDoc, callerDoc []byte, dialed, fromUser, fromDisplay, contact string, flags uint8) {
		callee := fuzzProfile(t, "callee", calleeDoc)
		caller := fuzzProfile(t, "caller", callerDoc)
		in := Input{
			Caller: caller, Callee: callee, DialedUser: dialed,
			FromUser: fromUser, FromDisplay: fromDisplay, Indirect: flags&1 != 0,
			Config: Config{FilterCodecs: flags&2 != 0},
		}
		if flags&4 != 0 {
			in.Caller = nil
		}
		if flags&8 != 0 {
			in.Callee = nil
		}
		if flags&16 != 0 {
			in.Bindings = []location.Binding{{OriginalContact: contact, Contact: contact}, binding()}
		}
		if flags&32 != 0 && caller != nil {
			in.Account = &AccountProfile{Realm: testRealm, Restrictions: caller.Restrictions, DialPlan: caller.DialPlan,
				CallerID: caller.CallerID, DND: flags&64 != 0}
		}
		if in.Caller != nil {
			in.DialedUser = Dialed(in.Caller, dialed)
		}
		if callee != nil && caller != nil {
			Resolve(testRealm, dialed, NewNumberIndex(callee, caller))
		}
		p := Decide(in)
		checkPlan(t, &p)
		var again Plan
		DecideInto(&again, &in)
		if !reflect.DeepEqual(normalise(p), normalise(again)) {
			t.Fatalf("Decide is not deterministic:\n%+v\n%+v", p, again)
		}
	})
}

func fuzzProfile(t *testing.T, id string, doc []byte) *Profile {
	var m map[string]any
	if json.Unmarshal(doc, &m) != nil || m == nil {
		return nil
	}
	d := deviceFromMap(id, m)
	p, err := Compile(d)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	checkKeys(t, d, p)
	assertWireSafeProfile(t, p)
	return p
}

// normalise drops the reusable buffer capacity so plans compare by content.
func normalise(p Plan) Plan {
	bs := make([]Branch, len(p.Branches))
	for i, b := range p.Branches {
		if len(b.Headers) == 0 {
			b.Headers = nil
		}
		if len(b.StripHeaders) == 0 {
			b.StripHeaders = nil
		}
		bs[i] = b
	}
	p.Branches = bs
	return p
}

func checkPlan(t *testing.T, p *Plan) {
	t.Helper()
	safe := func(what, s string) {
		if !wireSafe(s) {
			t.Fatalf("%s carries a control character: %q", what, s)
		}
	}
	if p.Refused() == (len(p.Branches) > 0) {
		t.Fatalf("a plan is either a refusal or branches: %+v", p)
	}
	safe("refusal phrase", p.Refusal.Phrase)
	safe("refusal reason", p.Refusal.Reason)
	for _, b := range p.Branches {
		safe("Request-URI", b.RequestURI)
		safe("proxy", b.Proxy)
		safe("number", b.Number)
		safe("diversion", b.Diversion)
		for _, party := range []Party{b.To, b.From} {
			safe("display", party.Display)
			safe("user", party.User)
			safe("host", party.Host)
			if !displaySafe(party.Display) {
				t.Fatalf("display name cannot be quoted: %q", party.Display)
			}
		}
		if b.From.User == "" || !userSafe(b.From.User) {
			t.Fatalf("From user %q", b.From.User)
		}
		if b.Kind == KindDevice && b.RequestURI == "" {
			t.Fatalf("device leg without a Request-URI: %+v", b)
		}
		for _, h := range b.Headers {
			if !validHeaderName(h.Name) {
				t.Fatalf("header name %q", h.Name)
			}
			safe("header "+h.Name, h.Value)
		}
		for _, s := range b.StripHeaders {
			safe("strip", s)
		}
		for _, c := range b.Codecs {
			safe("codec", c)
		}
	}
}
