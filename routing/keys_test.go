package routing

import (
	"testing"

	"github.com/sipedge/sipedge/devices"
)

// checkKeys: the keys computed from the Device are the profile's own.
func checkKeys(t testing.TB, d *devices.Device, p *Profile) {
	t.Helper()
	k := KeysOf(d)
	if k.Realm != p.Realm || k.Username != p.Username || k.NumberE164 != p.NumberE164 || k.PresenceID != p.PresenceID {
		t.Fatalf("KeysOf %+v, profile realm %q username %q number %q presence %q",
			k, p.Realm, p.Username, p.NumberE164, p.PresenceID)
	}
}

func TestKeysOf(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want Keys
	}{
		{`{"sip":{"username":"Bob","number":"4155550100"}}`,
			Keys{Realm: testRealm, Username: "Bob", NumberE164: "+14155550100", PresenceID: "Bob@" + testRealm}},
		{`{"presence_id":"2001","sip":{"username":"bob","realm":"PBX.Example.com"}}`,
			Keys{Realm: "pbx.example.com", Username: "bob", PresenceID: "2001@pbx.example.com", PresenceSet: true}},
		{`{"presence_id":"x@Other.example","sip":{"username":"bob","number":"+442071838750"}}`,
			Keys{Realm: testRealm, Username: "bob", NumberE164: "+442071838750", PresenceID: "x@other.example", PresenceSet: true}},
		{`{"presence_id":"bad user","sip":{"username":"a b","number":"1;2"}}`,
			Keys{Realm: testRealm, PresenceSet: true}},
		{`{"sip":{"username":7,"number":4155550100}}`, Keys{Realm: testRealm}},
		{`{}`, Keys{Realm: testRealm}},
	} {
		d := device(t, "d1", tc.doc)
		if got := KeysOf(d); got != tc.want {
			t.Errorf("%s: KeysOf %+v, want %+v", tc.doc, got, tc.want)
		}
		p, err := Compile(d)
		if err != nil {
			t.Fatal(err)
		}
		checkKeys(t, d, p)
	}
	if KeysOf(nil) != (Keys{}) {
		t.Error("KeysOf(nil) not zero")
	}
}
