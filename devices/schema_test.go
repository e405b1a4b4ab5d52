package devices

import (
	"encoding/json"
	"testing"
)

func TestValidateDeviceErrors(t *testing.T) {
	t.Parallel()
	audioCodecs := `["OPUS","CELT@32000h","G7221@32000h","G7221@16000h","G722","speex@32000h","speex@16000h","PCMU","PCMA","G729","GSM","CELT@48000h","CELT@64000h","G722_16","G722_32","CELT_48","CELT_64","Speex","speex"]`
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{
			name: "missing name",
			doc:  `{}`,
			want: `{"name":{"required":{"message":"Field is required but missing","value":"name"}}}`,
		},
		{
			name: "empty name",
			doc:  `{"name":""}`,
			want: `{"name":{"minLength":{"message":"String must be at least 1 characters","value":"","target":1}}}`,
		},
		{
			name: "short sip password",
			doc:  `{"name":"d","sip":{"password":"abc"}}`,
			want: `{"sip.password":{"minLength":{"message":"String must be at least 5 characters","value":"abc","target":5}}}`,
		},
		{
			name: "long sip password",
			doc:  `{"name":"d","sip":{"password":"123456789012345678901234567890123"}}`,
			want: `{"sip.password":{"maxLength":{"message":"String must not be more than 32 characters","value":"123456789012345678901234567890123","target":32}}}`,
		},
		{
			name: "bad invite_format",
			doc:  `{"name":"d","sip":{"invite_format":"uri"}}`,
			want: `{"sip.invite_format":{"enum":{"message":"Value not found in enumerated list of values","value":"uri","target":["username","npan","1npan","e164","route","strip_plus","contact"]}}}`,
		},
		{
			name: "enabled is not a boolean",
			doc:  `{"name":"d","enabled":"yes"}`,
			want: `{"enabled":{"type":{"message":"Value did not match type(s) boolean","value":"yes","target":"boolean"}}}`,
		},
		{
			name: "nested maxLength",
			doc:  `{"name":"d","caller_id":{"external":{"number":"123456789012345678901234567890123456"}}}`,
			want: `{"caller_id.external.number":{"maxLength":{"message":"String must not be more than 35 characters","value":"123456789012345678901234567890123456","target":35}}}`,
		},
		{
			name: "bad audio codec",
			doc:  `{"name":"d","media":{"audio":{"codecs":["PCMU","AMR"]}}}`,
			want: `{"media.audio.codecs.1":{"enum":{"message":"Value not found in enumerated list of values","value":"AMR","target":` + audioCodecs + `}}}`,
		},
		{
			name: "nested required (metaflow module)",
			doc:  `{"name":"d","metaflows":{"numbers":{"2":{"data":{}}}}}`,
			want: `{"metaflows.numbers.2.module":{"required":{"message":"Field is required but missing","value":"module"}}}`,
		},
		{
			name: "literal dot in a key is escaped",
			doc:  `{"name":"d","metaflows":{"patterns":{"1.2":{"module":""}}}}`,
			want: `{"metaflows.patterns.1%2E2.module":{"minLength":{"message":"String must be at least 1 characters","value":"","target":1}}}`,
		},
		{
			name: "integer field with a fraction",
			doc:  `{"name":"d","sip":{"expire_seconds":1.5}}`,
			want: `{"sip.expire_seconds":{"type":{"message":"Value did not match type(s) integer","value":1.5,"target":"integer"}}}`,
		},
		{
			name: "union type",
			doc:  `{"name":"d","media":{"bypass_media":3}}`,
			want: `{"media.bypass_media":{"type":{"message":"Value did not match type(s) boolean, string","value":3,"target":["boolean","string"]}}}`,
		},
		{
			name: "deprecated string bypass_media outside its enum",
			doc:  `{"name":"d","media":{"bypass_media":"maybe"}}`,
			want: `{"media.bypass_media":{"enum":{"message":"Value not found in enumerated list of values","value":"maybe","target":[true,false,"auto","false","true"]}}}`,
		},
		{
			name: "formatter object with a bad direction",
			doc:  `{"name":"d","formatters":{"from":{"direction":"sideways"}}}`,
			want: `{"formatters.from.direction":{"enum":{"message":"Value not found in enumerated list of values","value":"sideways","target":["inbound","outbound","both"]}}}`,
		},
		{
			name: "formatter of neither shape",
			doc:  `{"name":"d","formatters":{"from":"x"}}`,
			want: `{"formatters.from":{"type":{"message":"Value did not match type(s) array, object","value":"x","target":["array","object"]}}}`,
		},
		{
			name: "owner_id must be 32 characters",
			doc:  `{"name":"d","owner_id":"abc"}`,
			want: `{"owner_id":{"minLength":{"message":"String must be at least 32 characters","value":"abc","target":32}}}`,
		},
		{
			name: "custom header value must be a string",
			doc:  `{"name":"d","sip":{"custom_sip_headers":{"in":{"X-A":1},"X-B":true}}}`,
			want: `{"sip.custom_sip_headers.in.X-A":{"type":{"message":"Value did not match type(s) string","value":1,"target":"string"}},` +
				`"sip.custom_sip_headers.X-B":{"type":{"message":"Value did not match type(s) string","value":true,"target":"string"}}}`,
		},
		{
			name: "several failures at once",
			doc:  `{"sip":{"username":"a","method":"radius"},"ringtones":{"internal":7}}`,
			want: `{"name":{"required":{"message":"Field is required but missing","value":"name"}},` +
				`"sip.username":{"minLength":{"message":"String must be at least 2 characters","value":"a","target":2}},` +
				`"sip.method":{"enum":{"message":"Value not found in enumerated list of values","value":"radius","target":["password","ip"]}},` +
				`"ringtones.internal":{"type":{"message":"Value did not match type(s) string","value":7,"target":"string"}}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ValidateDevice(obj(t, tc.doc))
			jsonEqual(t, "fields", validationFields(t, err), obj(t, tc.want))
		})
	}
}

func TestValidateDeviceAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
	}{
		{name: "extra keys are allowed", doc: `{"name":"d","x_custom":{"anything":[1,2]},"sip":{"inbound_ip":"192.0.2.1"}}`},
		{name: "formatter as a list", doc: `{"name":"d","formatters":{"from":[{"regex":"^\\+?1?(\\d{10})$","prefix":"+1"}]}}`},
		{name: "outbound_flags as an object", doc: `{"name":"d","outbound_flags":{"dynamic":["x"]}}`},
		{name: "endpoint_model as a list", doc: `{"name":"d","provision":{"endpoint_model":["a","b"],"combo_keys":{"1":{"type":"line"},"2":null}}}`},
		{name: "bypass_media as a deprecated string", doc: `{"name":"d","media":{"bypass_media":"auto"}}`},
		{name: "recursive metaflows", doc: `{"name":"d","metaflows":{"numbers":{"2":{"module":"transfer","children":{"_":{"module":"hangup"}}}}}}`},
		{name: "unicode name at the length limit", doc: `{"name":"` + repeat("é", 128) + `"}`},
		{name: "integer given as a whole float", doc: `{"name":"d","sip":{"expire_seconds":3600.0}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := ValidateDevice(obj(t, tc.doc)); err != nil {
				t.Fatal(describe(err))
			}
		})
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func TestDefaultsFillNestedObjects(t *testing.T) {
	t.Parallel()
	got, err := ValidateDevice(obj(t, `{"name":"d","call_forward":{"enabled":true,"number":"+15555550100"},
		"metaflows":{"numbers":{"2":{"module":"transfer","children":{"_":{"module":"hangup"}}}}},
		"media":{"audio":{"codecs":["PCMA"]},"video":{}}}`))
	if err != nil {
		t.Fatal(describe(err))
	}
	jsonEqual(t, "call_forward", got["call_forward"], obj(t, `{"enabled":true,"number":"+15555550100",
		"direct_calls_only":false,"failover":false,"ignore_early_media":true,"keep_caller_id":true,
		"require_keypress":true,"substitute":true}`))
	jsonEqual(t, "metaflows", got["metaflows"], obj(t, `{"binding_digit":"*","numbers":{"2":{"module":"transfer","data":{},
		"children":{"_":{"module":"hangup","data":{}}}}}}`))
	// Given values are kept, missing ones filled.
	jsonEqual(t, "media", got["media"], obj(t, `{"audio":{"codecs":["PCMA"]},"encryption":{"enforce_security":false,"methods":[]},"video":{"codecs":[]}}`))
}

func TestValidateDeviceDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	in := obj(t, `{"name":"d","id":"x","sync":true,"pvt_x":1,"_rev":"1-a","sip":{}}`)
	before, _ := json.Marshal(in)
	out, err := ValidateDevice(in)
	if err != nil {
		t.Fatal(describe(err))
	}
	after, _ := json.Marshal(in)
	if string(before) != string(after) {
		t.Errorf("input modified:\n%s\n%s", before, after)
	}
	for _, k := range []string{"id", "sync", "pvt_x", "_rev"} {
		if _, ok := out[k]; ok {
			t.Errorf("%q kept in %v", k, out)
		}
	}
	if len(in["sip"].(map[string]any)) != 0 {
		t.Error("defaults written into the caller's map")
	}
}

func TestCanonicalTypes(t *testing.T) {
	t.Parallel()
	out, err := ValidateDevice(map[string]any{
		"name":  "d",
		"flags": []string{"a", "b"},
		"sip":   map[string]any{"expire_seconds": json.Number("120"), "registration_expiration": 60},
	})
	if err != nil {
		t.Fatal(describe(err))
	}
	sip := out["sip"].(map[string]any)
	if sip["expire_seconds"] != float64(120) || sip["registration_expiration"] != float64(60) {
		t.Errorf("numbers not canonical: %#v", sip)
	}
	if _, ok := out["flags"].([]any); !ok {
		t.Errorf("flags not canonical: %#v", out["flags"])
	}
	_, err = ValidateDevice(map[string]any{"name": "d", "x": map[string]any{"ch": make(chan int)}})
	jsonEqual(t, "not JSON", validationFields(t, err), obj(t, `{"x.ch":{"type":{"message":"Value is not a JSON value"}}}`))
}

func TestValidateAccount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, want string
	}{
		{name: "missing name", doc: `{"realm":"example.com"}`, want: `{"name":{"required":{"message":"Field is required but missing","value":"name"}}}`},
		{name: "short realm", doc: `{"name":"a","realm":"a.b"}`, want: `{"realm":{"minLength":{"message":"String must be at least 4 characters","value":"a.b","target":4}}}`},
		{name: "realm not a hostname", doc: `{"name":"a","realm":"bad realm.com"}`, want: `{"realm":{"pattern":{"message":"Failed to match pattern '^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*$'","value":"bad realm.com","target":"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*$"}}}`},
		{name: "enabled type", doc: `{"name":"a","enabled":1}`, want: `{"enabled":{"type":{"message":"Value did not match type(s) boolean","value":1,"target":"boolean"}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ValidateAccount(obj(t, tc.doc))
			jsonEqual(t, "fields", validationFields(t, err), obj(t, tc.want))
		})
	}
	got, err := ValidateAccount(obj(t, `{"name":"a","realm":"Example.COM","x":1}`))
	if err != nil {
		t.Fatal(describe(err))
	}
	jsonEqual(t, "defaults", got, obj(t, `{"name":"a","realm":"Example.COM","x":1,"enabled":true}`))
}
