package devices

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// phoneDocs returns n password devices user%07d/secret%07d from first.
func phoneDocs(t testing.TB, first, n int) []map[string]any {
	t.Helper()
	docs := make([]map[string]any, n)
	for i := range docs {
		u := first + i
		docs[i] = obj(t, fmt.Sprintf(`{"name":"phone %d","sip":{"username":"user%07d","password":"secret%07d"}}`, u, u, u))
	}
	return docs
}

// importError returns the *ImportError of err or fails.
func importError(t testing.TB, err error) *ImportError {
	t.Helper()
	var ierr *ImportError
	if !errors.As(err, &ierr) {
		t.Fatalf("want *ImportError, got %v", err)
	}
	return ierr
}

func TestImportDevicesReadBack(t *testing.T) {
	t.Parallel()
	s, path := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	var notified int
	s.Subscribe(func(c Change) {
		if c.Old == nil && c.New != nil && c.New.AccountID == a.ID {
			notified++
		}
	})
	const n = 1000
	devs, err := s.importDevices(a.ID, phoneDocs(t, 1, n), 300) // four transactions
	if err != nil {
		t.Fatal(describe(err))
	}
	if len(devs) != n || notified != n {
		t.Fatalf("imported %d, notified %d, want %d", len(devs), notified, n)
	}
	if got := len(s.Devices(a.ID)); got != n {
		t.Fatalf("Devices: %d, want %d", got, n)
	}
	check := func(s *Store) {
		t.Helper()
		for i, want := range devs {
			u := i + 1
			got, err := s.Device(a.ID, want.ID)
			if err != nil {
				t.Fatalf("Device(%s): %v", want.ID, err)
			}
			if got.Username != fmt.Sprintf("user%07d", u) || got.Password != fmt.Sprintf("secret%07d", u) ||
				got.Realm != "acme.example.com" || !got.Enabled || !strings.HasPrefix(got.Rev, "1-") {
				t.Fatalf("device %d: %+v", u, got)
			}
			if by := s.ByUser("ACME.example.com", fmt.Sprintf("USER%07d", u)); by == nil || by.ID != want.ID {
				t.Fatalf("ByUser(user%07d) = %v, want %s", u, by, want.ID)
			}
		}
	}
	check(s)
	s2 := reopen(t, s, path)
	if got := len(s2.Devices(a.ID)); got != n {
		t.Fatalf("after reopen: %d devices, want %d", got, n)
	}
	check(s2)
	for _, want := range devs[:10] {
		got, _ := s2.Device(a.ID, want.ID)
		jsonEqual(t, "reopened device", got, want)
	}
}

// The documents an import refuses leave nothing of their chunk behind.
func TestImportDevicesRefusesChunk(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	existing := mustDevice(t, s, a.ID, obj(t, `{"name":"taken","sip":{"username":"taken","password":"secret"},"mac_address":"00:04:f2:ab:7e:fd"}`))
	mustDevice(t, s, a.ID, obj(t, `{"name":"trunk","sip":{"method":"ip","ip":"192.0.2.10"}}`))

	tests := []struct {
		name  string
		bad   string // put at index 7 of ten good documents; ${DUP} is document 3's username
		index int
		want  string
	}{
		{name: "username of an earlier document, other case", bad: `{"name":"x","sip":{"username":"USER0000004"}}`, index: 7,
			want: `{"sip.username":{"unique":{"message":"SIP credentials already in use","cause":"USER0000004"}}}`},
		{name: "username of an existing device", bad: `{"name":"x","sip":{"username":"Taken"}}`, index: 7,
			want: `{"sip.username":{"unique":{"message":"SIP credentials already in use","cause":"Taken"}}}`},
		{name: "IP of an existing IP-auth device", bad: `{"name":"x","sip":{"method":"ip","ip":"::ffff:192.0.2.10"}}`, index: 7,
			want: `{"sip.ip":{"unique":{"message":"SIP IP already in use","cause":"::ffff:192.0.2.10"}}}`},
		{name: "MAC of an existing device", bad: `{"name":"x","mac_address":"0004.F2AB.7EFD"}`, index: 7,
			want: `{"mac_address":{"unique":{"message":"MAC address already in use","cause":"0004.F2AB.7EFD"}}}`},
		{name: "schema", bad: `{"name":"x","enabled":"yes"}`, index: 7,
			want: `{"enabled":{"type":{"message":"Value did not match type(s) boolean","value":"yes","target":"boolean"}}}`},
		{name: "schema and uniqueness together", bad: `{"sip":{"username":"taken"}}`, index: 7,
			want: `{"name":{"required":{"message":"Field is required but missing","value":"name"}},` +
				`"sip.username":{"unique":{"message":"SIP credentials already in use","cause":"taken"}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs := phoneDocs(t, 1, 10)
			docs[tc.index] = obj(t, tc.bad)
			devs, err := s.ImportDevices(a.ID, docs)
			ierr := importError(t, err)
			if ierr.Index != tc.index || len(devs) != 0 {
				t.Errorf("index %d, %d devices returned; want %d, 0", ierr.Index, len(devs), tc.index)
			}
			jsonEqual(t, "fields", validationFields(t, err), obj(t, tc.want))
			if !strings.Contains(err.Error(), fmt.Sprintf("document %d", tc.index)) {
				t.Errorf("error does not name the document: %v", err)
			}
			if got := len(s.Devices(a.ID)); got != 2 {
				t.Errorf("%d devices after a refused import, want 2", got)
			}
			if s.ByUser("acme.example.com", "user0000001") != nil {
				t.Error("a refused chunk reached the index")
			}
		})
	}

	// Two documents of the same batch that collide with each other.
	docs := phoneDocs(t, 1, 3)
	docs = append(docs, obj(t, `{"name":"m1","mac_address":"00:11:22:33:44:55"}`), obj(t, `{"name":"m2","mac_address":"001122334455"}`))
	_, err := s.ImportDevices(a.ID, docs)
	if ierr := importError(t, err); ierr.Index != 4 {
		t.Errorf("MAC twice in a batch: index %d, want 4", ierr.Index)
	}
	if got := len(s.Devices(a.ID)); got != 2 {
		t.Errorf("%d devices after a refused import, want 2", got)
	}
	if s.ByUser("acme.example.com", existing.Username) != existing {
		t.Error("existing device lost from the index")
	}
}

// Chunks before the refused one stay; the error counts from the start.
func TestImportDevicesKeepsEarlierChunks(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	docs := phoneDocs(t, 1, 25)
	docs[22] = obj(t, `{"name":"dup","sip":{"username":"user0000021"}}`)
	devs, err := s.importDevices(a.ID, docs, 10)
	if ierr := importError(t, err); ierr.Index != 22 {
		t.Errorf("index %d, want 22", ierr.Index)
	}
	if len(devs) != 20 || len(s.Devices(a.ID)) != 20 {
		t.Errorf("returned %d, stored %d; want the first two chunks (20)", len(devs), len(s.Devices(a.ID)))
	}
	if s.ByUser("acme.example.com", "user0000021") != nil {
		t.Error("the refused chunk reached the index")
	}
	if _, err := s.ImportDevices("0123456789abcdef0123456789abcdef", docs[:1]); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}

// An import stores the document CreateDevice would have stored.
func TestImportDevicesSameDefaultsAsCreate(t *testing.T) {
	t.Parallel()
	s1, _ := newTestStore(t)
	s2, _ := newTestStore(t)
	a1 := mustAccount(t, s1, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	a2 := mustAccount(t, s2, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	for _, name := range []string{"create.request", "post.request", "authn-by-ip.request"} {
		doc := seed(t, name, "")
		created := mustDevice(t, s1, a1.ID, doc)
		devs, err := s2.ImportDevices(a2.ID, []map[string]any{doc})
		if err != nil {
			t.Fatalf("%s: %s", name, describe(err))
		}
		want, got := deepCopyMap(created.Doc()), deepCopyMap(devs[0].Doc())
		delete(want, "id")
		delete(got, "id")
		jsonEqual(t, name+": imported document", got, want)
		c, i := *created, *devs[0]
		c.ID, c.AccountID, c.Rev, c.Created, c.Modified = "", "", "", 0, 0
		i.ID, i.AccountID, i.Rev, i.Created, i.Modified = "", "", "", 0, 0
		jsonEqual(t, name+": hot-path fields", i, c)
	}
}

func TestImportDevicesKeepsValidUnusedIDs(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	b := mustAccount(t, s, obj(t, `{"name":"bravo","realm":"bravo.example.com"}`))
	other := mustDevice(t, s, b.ID, obj(t, `{"name":"other"}`))
	const kept = "00112233445566778899aabbccddeeff"
	docs := []map[string]any{
		obj(t, `{"name":"kept","id":"`+kept+`"}`),
		obj(t, `{"name":"kept again","id":"`+kept+`"}`),
		obj(t, `{"name":"used by another account","id":"`+other.ID+`"}`),
		obj(t, `{"name":"upper case","id":"00112233445566778899AABBCCDDEEF0"}`),
		obj(t, `{"name":"short","id":"0011"}`),
		obj(t, `{"name":"couchdb export","_id":"ffeeddccbbaa99887766554433221100","_rev":"3-abc","pvt_type":"device"}`),
	}
	devs, err := s.ImportDevices(a.ID, docs)
	if err != nil {
		t.Fatal(describe(err))
	}
	if devs[0].ID != kept || devs[5].ID != "ffeeddccbbaa99887766554433221100" {
		t.Errorf("ids %s, %s not kept", devs[0].ID, devs[5].ID)
	}
	seen := map[string]bool{other.ID: true}
	for i, d := range devs {
		if !isDocID(d.ID) || seen[d.ID] {
			t.Errorf("document %d: id %q reused or malformed", i, d.ID)
		}
		seen[d.ID] = true
		if got, err := s.Device(a.ID, d.ID); err != nil || got.Doc()["name"] != docs[i]["name"] {
			t.Errorf("document %d: Device(%s) = %v, %v", i, d.ID, got, err)
		}
		if _, priv := d.Doc()["_rev"]; priv {
			t.Errorf("document %d: private key kept", i)
		}
	}
	if _, err := s.Device(b.ID, other.ID); err != nil {
		t.Errorf("device of the other account: %v", err)
	}
}
