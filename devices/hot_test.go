package devices

import (
	"encoding/json"
	"reflect"
	"testing"
)

var hotMeta = recordMeta{ID: "d1", Rev: "1-x", Type: "device", AccountID: "a1", Created: 63900000000, Modified: 63900000001}

// checkHotRoundTrip fails when the Device a restart builds from the hot
// record of pub differs from the one built from pub itself.
func checkHotRoundTrip(t *testing.T, pub map[string]any) {
	t.Helper()
	acct := &Account{ID: "a1", Realm: "acme.example.com", Enabled: true}
	want := newDevice(acct, hotOf(pub, hotMeta))
	h, err := parseHot(encodeHot(pub, hotMeta))
	if err != nil {
		t.Fatalf("hot record of %v: %v", pub, err)
	}
	if got := newDevice(acct, h); !reflect.DeepEqual(got, want) {
		t.Errorf("document %v:\nfrom the hot record %+v\n     from the document %+v", pub, got, want)
	}
}

func TestHotRecordRoundTrip(t *testing.T) {
	for _, doc := range []string{
		`{"name":"desk","presence_id":"2001","owner_id":"o1","mac_address":"00:04:f2:ab:7e:fd","enabled":false,
		   "register_overwrite_notify":true,"suppress_unregister_notifications":true,
		   "media":{"progress_timeout":12,"audio":{"codecs":["PCMU"]}},"hotdesk":{"users":{"u2":{},"u1":{"x":1}}},
		   "sip":{"username":"désk","password":"secret1","method":"password","realm":"PBX.example.com",
		          "ip":"192.0.2.9","expire_seconds":300,"registration_expiration":600,"number":"+14155550100"}}`,
		`{"name":"trunk","sip":{"method":"ip","ip":"2001:db8::1","registration_expiration":600}}`,
		`{"name":null,"sip":null,"media":null,"hotdesk":{"users":{}}}`,
		`{"media":{"progress_timeout":"30"},"enabled":"yes","sip":{"expire_seconds":1.5}}`,
		`{"media":"fast","hotdesk":{"users":["u1"]},"name":7}`,
		`{}`,
	} {
		var pub map[string]any
		if err := json.Unmarshal([]byte(doc), &pub); err != nil {
			t.Fatal(err)
		}
		checkHotRoundTrip(t, pub)
	}
}

// A hot record that is cut short or has bytes left over is refused, never
// read past its end.
func TestHotRecordMalformed(t *testing.T) {
	h := hotOf(map[string]any{"name": "desk", "hotdesk": map[string]any{"users": map[string]any{"u1": nil}}}, hotMeta)
	rec := appendHot(nil, &h)
	if _, err := parseHot(rec); err != nil {
		t.Fatal(err)
	}
	for n := range len(rec) {
		if _, err := parseHot(rec[:n]); err == nil {
			t.Errorf("record cut to %d of %d bytes accepted", n, len(rec))
		}
	}
	if _, err := parseHot(append(rec, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	bad := append([]byte{}, rec...)
	bad[0] = hotVersion + 1
	if _, err := parseHot(bad); err == nil {
		t.Error("unknown version accepted")
	}
}

// FuzzHotRecord: any bytes are a hot record or an error; one that parses
// encodes back to the same bytes.
func FuzzHotRecord(f *testing.F) {
	h := hotOf(map[string]any{"name": "desk", "sip": map[string]any{"username": "u", "password": "p"},
		"hotdesk": map[string]any{"users": map[string]any{"a": nil, "b": nil}}}, hotMeta)
	f.Add(appendHot(nil, &h))
	f.Add([]byte{hotVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHot(data)
		if err != nil {
			return
		}
		if again := appendHot(nil, &h); string(again) != string(data) {
			// Varints have one shortest form; a longer one is not what
			// appendHot writes, so only the values must survive.
			h2, err := parseHot(again)
			if err != nil || !reflect.DeepEqual(h2, h) {
				t.Fatalf("%x parsed to %+v, re-encoded to %x: %+v %v", data, h, again, h2, err)
			}
		}
	})
}

// FuzzHotDocument: for any device document, the hot record gives the
// Device the document gives.
func FuzzHotDocument(f *testing.F) {
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
		checkHotRoundTrip(t, pub)
	})
}
