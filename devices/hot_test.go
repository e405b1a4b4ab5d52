package devices

import (
	"encoding/json"
	"reflect"
	"testing"
)

// loadBothWays decodes a stored record as load does (typed, fast) and as
// the whole document, and fails when the two Devices differ. It returns
// whether the fast path took the record.
func loadBothWays(t *testing.T, rec []byte) bool {
	t.Helper()
	acct := &Account{ID: "a1", Realm: "acme.example.com", Enabled: true}
	pub, m, err := decodeRecord(rec)
	if err != nil {
		t.Fatalf("decodeRecord(%s): %v", rec, err)
	}
	want := newDevice(acct, hotFromDoc(pub), m, rec)
	h, hm, ok := decodeHot(rec)
	if !ok {
		return false
	}
	if got := newDevice(acct, h, hm, rec); !reflect.DeepEqual(got, want) {
		t.Errorf("record %s:\ntyped decode %+v\n    document %+v", rec, got, want)
	}
	return true
}

func encodeDevice(t testing.TB, pub map[string]any) []byte {
	t.Helper()
	rec, err := encodeRecord(pub, recordMeta{ID: "d1", Rev: "1-x", Type: "device", AccountID: "a1", Created: 63900000000, Modified: 63900000001})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestTypedLoadMatchesTheDocument(t *testing.T) {
	for _, c := range []struct {
		doc  string
		fast bool
	}{
		{`{"name":"desk","presence_id":"2001","owner_id":"o1","mac_address":"00:04:f2:ab:7e:fd","enabled":false,
		   "register_overwrite_notify":true,"suppress_unregister_notifications":true,
		   "media":{"progress_timeout":12,"audio":{"codecs":["PCMU"]}},"hotdesk":{"users":{"u2":{},"u1":{"x":1}}},
		   "sip":{"username":"desk","password":"secret1","method":"password","realm":"PBX.example.com",
		          "ip":"192.0.2.9","expire_seconds":300,"registration_expiration":600}}`, true},
		{`{"name":"trunk","sip":{"method":"ip","ip":"2001:db8::1","registration_expiration":600}}`, true},
		{`{"name":null,"sip":null,"media":null,"hotdesk":{"users":{}}}`, true},
		{`{"media":{"progress_timeout":"30"},"enabled":"yes","sip":{"expire_seconds":1.5}}`, true},
		// Types the struct cannot hold: the document decides.
		{`{"media":"fast","sip":{"username":"x"}}`, false},
		{`{"hotdesk":{"users":["u1"]}}`, false},
		{`{"hotdesk":{"users":{"u1":7}}}`, false},
		// Keys that encoding/json would match to a struct field but the
		// document's maps do not.
		{`{"Name":"shadow","name":"desk"}`, false},
		{`{"name":"desk","NAME":"shadow"}`, false},
		{`{"sip":{"username":"desk","UserName":"shadow"}}`, false},
		{`{"SIP":{"username":"shadow"},"sip":{"username":"desk"}}`, false},
		{`{"ſip":{"username":"shadow"}}`, false},
		{`{"sip":{"username":"desk"},"PVT_GENERIC":false}`, false},
		{`{"media":{"Progress_Timeout":5}}`, false},
		{`{"hotdesk":{"Users":{"u9":{}}}}`, false},
	} {
		var pub map[string]any
		if err := json.Unmarshal([]byte(c.doc), &pub); err != nil {
			t.Fatal(err)
		}
		if fast := loadBothWays(t, encodeDevice(t, pub)); fast != c.fast {
			t.Errorf("%s: fast path %v, want %v", c.doc, fast, c.fast)
		}
	}
}

// FuzzTypedLoad: whatever device document is stored, loading it through the
// typed decode gives the Device the whole document gives.
func FuzzTypedLoad(f *testing.F) {
	for _, s := range []string{
		`{"name":"desk","sip":{"username":"desk","password":"secret1"}}`,
		`{"Name":"a","name":"b","sip":{"IP":"192.0.2.1","ip":"192.0.2.2"}}`,
		`{"hotdesk":{"users":{"a":{},"b":null}},"media":{"progress_timeout":3600}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var pub map[string]any
		if json.Unmarshal(data, &pub) != nil || pub == nil {
			return
		}
		delete(pub, "id")
		for k := range pub {
			if isPrivateKey(k) {
				delete(pub, k)
			}
		}
		loadBothWays(t, encodeDevice(t, pub))
	})
}
