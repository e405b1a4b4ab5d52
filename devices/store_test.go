package devices

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// The seed's documented answers, compared as whole documents.
func TestSeedCreateExamples(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"create", "authn-by-ip"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestStore(t)
			a := mustAccount(t, s, obj(t, `{"name":"acme"}`))
			d := mustDevice(t, s, a.ID, seed(t, name+".request", ""))
			jsonEqual(t, "stored doc", d.Doc(), seed(t, name+".response", d.ID))
			got, err := s.Device(a.ID, d.ID)
			if err != nil || got != d {
				t.Fatalf("Device() = %v, %v; want the created snapshot", got, err)
			}
		})
	}
}

func TestSeedPostThenPatch(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme"}`))
	d := mustDevice(t, s, a.ID, seed(t, "create.request", ""))

	// The documented POST body carries an "id" of another device: ignored.
	post, err := s.ReplaceDevice(a.ID, d.ID, seed(t, "post.request", ""), "")
	if err != nil {
		t.Fatal(describe(err))
	}
	jsonEqual(t, "after POST", post.Doc(), seed(t, "post.response", d.ID))

	patched, err := s.PatchDevice(a.ID, d.ID, seed(t, "patch.request", ""), "")
	if err != nil {
		t.Fatal(describe(err))
	}
	jsonEqual(t, "after PATCH", patched.Doc(), seed(t, "patch.response", d.ID))
	if patched.Created != d.Created || !strings.HasPrefix(patched.Rev, "3-") {
		t.Errorf("created %d -> %d, rev %q: want created kept and rev 3-…", d.Created, patched.Created, patched.Rev)
	}
}

func TestPatchSemantics(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme"}`))
	d := mustDevice(t, s, a.ID, obj(t, `{"name":"phone","presence_id":"p1","flags":["a","b"],
		"sip":{"username":"alice","password":"secret1"},"caller_id":{"external":{"name":"A","number":"+15555550100"}}}`))

	got, err := s.PatchDevice(a.ID, d.ID, obj(t, `{"presence_id":null,"flags":["c"],
		"sip":{"password":null,"realm":"pbx.example.com"},
		"caller_id":{"external":{"number":"+15555550199"}},
		"new_obj":{"keep":1,"gone":null}}`), "")
	if err != nil {
		t.Fatal(describe(err))
	}
	doc := got.Doc()
	if _, ok := doc["presence_id"]; ok {
		t.Error("null did not delete presence_id")
	}
	jsonEqual(t, "flags (arrays replace)", doc["flags"], []any{"c"})
	jsonEqual(t, "sip (objects merge)", doc["sip"], obj(t, `{"username":"alice","realm":"pbx.example.com",
		"invite_format":"username","method":"password","registration_expiration":300}`))
	jsonEqual(t, "caller_id", doc["caller_id"], obj(t, `{"external":{"name":"A","number":"+15555550199"}}`))
	jsonEqual(t, "new object without its nulls", doc["new_obj"], obj(t, `{"keep":1}`))
	if got.Password != "" || got.Realm != "pbx.example.com" {
		t.Errorf("snapshot not re-derived: password %q realm %q", got.Password, got.Realm)
	}

	// A PATCH that makes the document invalid is refused and changes nothing.
	_, err = s.PatchDevice(a.ID, d.ID, obj(t, `{"name":null}`), "")
	jsonEqual(t, "invalid patch", validationFields(t, err), obj(t, `{"name":{"required":{"message":"Field is required but missing","value":"name"}}}`))
	if cur, _ := s.Device(a.ID, d.ID); cur != got {
		t.Error("failed PATCH changed the device")
	}
}

func TestReplaceDropsAbsentFields(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme"}`))
	d := mustDevice(t, s, a.ID, obj(t, `{"name":"phone","presence_id":"p1","mac_address":"00:04:f2:ab:7e:fd",
		"sip":{"username":"alice","password":"secret1","expire_seconds":120}}`))
	if d.ExpireSeconds != 120 || d.Username != "alice" {
		t.Fatalf("snapshot: %+v", d)
	}
	got, err := s.ReplaceDevice(a.ID, d.ID, obj(t, `{"name":"renamed","id":"ffffffffffffffffffffffffffffffff","pvt_account_id":"x"}`), "")
	if err != nil {
		t.Fatal(describe(err))
	}
	want := seed(t, "create.response", d.ID)
	want["name"] = "renamed"
	jsonEqual(t, "replaced doc", got.Doc(), want)
	if got.ID != d.ID || got.Username != "" || got.MACAddress != "" || got.ExpireSeconds != 300 {
		t.Errorf("snapshot after replace: %+v", got)
	}
	if s.ByUser(a.Realm, "alice") != nil {
		t.Error("old username still indexed")
	}
	// The MAC address is free again.
	mustDevice(t, s, a.ID, obj(t, `{"name":"other","mac_address":"0004F2AB7EFD"}`))
}

func TestCreateIgnoresClientIDAndPrivateFields(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","id":"00000000000000000000000000000000"}`))
	if a.ID == "00000000000000000000000000000000" || len(a.ID) != 32 || strings.Trim(a.ID, "0123456789abcdef") != "" {
		t.Fatalf("account id %q", a.ID)
	}
	d := mustDevice(t, s, a.ID, obj(t, `{"name":"d","id":"11111111111111111111111111111111","sync":true,
		"_rev":"9-x","pvt_created":1,"pvt_account_id":"other"}`))
	if d.ID == "11111111111111111111111111111111" || d.Doc()["id"] != d.ID {
		t.Errorf("id %q doc id %v", d.ID, d.Doc()["id"])
	}
	for _, k := range []string{"sync", "_rev", "pvt_created", "pvt_account_id"} {
		if _, ok := d.Doc()[k]; ok {
			t.Errorf("%q in the public doc", k)
		}
	}
	if !strings.HasPrefix(d.Rev, "1-") || len(d.Rev) != 34 || d.AccountID != a.ID {
		t.Errorf("rev %q account %q", d.Rev, d.AccountID)
	}
	if d.Created < Gregorian(startTime) || d.Modified != d.Created {
		t.Errorf("created %d modified %d", d.Created, d.Modified)
	}
	if _, err := s.CreateDevice("nosuchaccount", obj(t, `{"name":"d"}`)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}

func TestUniqueness(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	b := mustAccount(t, s, obj(t, `{"name":"bravo","realm":"bravo.example.com"}`))
	alice := mustDevice(t, s, a.ID, obj(t, `{"name":"a1","sip":{"username":"alice","password":"secret1"},"mac_address":"00:04:f2:ab:7e:fd"}`))
	trunk := mustDevice(t, s, a.ID, obj(t, `{"name":"t1","sip":{"method":"ip","ip":"192.0.2.10"}}`))

	tests := []struct {
		name    string
		account string
		doc     string
		want    string // "" = accepted
	}{
		{name: "same username, other case", account: a.ID, doc: `{"name":"x","sip":{"username":"ALICE"}}`,
			want: `{"sip.username":{"unique":{"message":"SIP credentials already in use","cause":"ALICE"}}}`},
		{name: "same username in another realm", account: b.ID, doc: `{"name":"x","sip":{"username":"alice"}}`},
		{name: "realm override into the taken realm", account: b.ID, doc: `{"name":"x","sip":{"username":"Alice","realm":"ACME.example.com"}}`,
			want: `{"sip.username":{"unique":{"message":"SIP credentials already in use","cause":"Alice"}}}`},
		{name: "same IP, IP auth", account: b.ID, doc: `{"name":"x","sip":{"method":"ip","ip":"192.0.2.10"}}`,
			want: `{"sip.ip":{"unique":{"message":"SIP IP already in use","cause":"192.0.2.10"}}}`},
		{name: "same IP as IPv4-mapped IPv6", account: b.ID, doc: `{"name":"x","sip":{"method":"ip","ip":"::ffff:192.0.2.10"}}`,
			want: `{"sip.ip":{"unique":{"message":"SIP IP already in use","cause":"::ffff:192.0.2.10"}}}`},
		{name: "same IP, password auth", account: b.ID, doc: `{"name":"x","sip":{"ip":"192.0.2.10"}}`},
		{name: "IP auth without a usable IP", account: b.ID, doc: `{"name":"x","sip":{"method":"ip","ip":"pbx.example.com"}}`,
			want: `{"sip.ip":{"type":{"message":"Must be a valid IP address","cause":"pbx.example.com"}}}`},
		{name: "IP auth without an IP", account: b.ID, doc: `{"name":"x","sip":{"method":"ip"}}`,
			want: `{"sip.ip":{"type":{"message":"Must be a valid IP address"}}}`},
		{name: "same MAC, other spelling", account: b.ID, doc: `{"name":"x","mac_address":"0004.F2AB.7EFD"}`,
			want: `{"mac_address":{"unique":{"message":"MAC address already in use","cause":"0004.F2AB.7EFD"}}}`},
		{name: "empty MAC twice", account: b.ID, doc: `{"name":"x","mac_address":""}`},
		{name: "schema and uniqueness errors together", account: a.ID, doc: `{"sip":{"username":"alice"}}`,
			want: `{"name":{"required":{"message":"Field is required but missing","value":"name"}},` +
				`"sip.username":{"unique":{"message":"SIP credentials already in use","cause":"alice"}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateDevice(tc.account, obj(t, tc.doc))
			if tc.want == "" {
				if err != nil {
					t.Fatal(describe(err))
				}
				return
			}
			jsonEqual(t, "fields", validationFields(t, err), obj(t, tc.want))
		})
	}
	mustDevice(t, s, b.ID, obj(t, `{"name":"y","mac_address":""}`))

	// A device keeps its own username, IP and MAC when rewritten.
	if _, err := s.PatchDevice(a.ID, alice.ID, obj(t, `{"sip":{"username":"Alice"},"mac_address":"00-04-F2-AB-7E-FD"}`), ""); err != nil {
		t.Error(describe(err))
	}
	if _, err := s.PatchDevice(a.ID, trunk.ID, obj(t, `{"name":"t2"}`), ""); err != nil {
		t.Error(describe(err))
	}
	// Once deleted, the credentials are free.
	if _, err := s.DeleteDevice(a.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	mustDevice(t, s, b.ID, obj(t, `{"name":"z","sip":{"username":"alice","realm":"acme.example.com"},"mac_address":"0004f2ab7efd"}`))
}

func TestAccountRealmUnique(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"Example.COM"}`))
	if a.Realm != "example.com" || a.Doc["realm"] != "Example.COM" {
		t.Errorf("realm %q, doc realm %v", a.Realm, a.Doc["realm"])
	}
	_, err := s.CreateAccount(obj(t, `{"name":"other","realm":"example.com"}`))
	jsonEqual(t, "fields", validationFields(t, err), obj(t, `{"realm":{"unique":{"message":"Realm already in use","cause":"example.com"}}}`))
	b := mustAccount(t, s, obj(t, `{"name":"other"}`))
	if b.Realm != b.ID[:8]+".sip.sipedge.local" {
		t.Errorf("generated realm %q for %s", b.Realm, b.ID)
	}
	_, err = s.PatchAccount(b.ID, obj(t, `{"realm":"EXAMPLE.com"}`), "")
	jsonEqual(t, "fields", validationFields(t, err), obj(t, `{"realm":{"unique":{"message":"Realm already in use","cause":"EXAMPLE.com"}}}`))
	if s.AccountByRealm("EXAMPLE.Com") != a || s.AccountByRealm(b.Realm) != b || s.AccountByRealm("nope.example") != nil {
		t.Error("AccountByRealm")
	}
	// Replacing without a realm keeps the realm; the account can keep its own.
	got, err := s.ReplaceAccount(a.ID, obj(t, `{"name":"acme 2"}`), "")
	if err != nil {
		t.Fatal(describe(err))
	}
	jsonEqual(t, "replaced account", got.Doc, map[string]any{"id": a.ID, "name": "acme 2", "realm": "Example.COM", "enabled": true})
}

func TestIfMatch(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme"}`))
	d := mustDevice(t, s, a.ID, obj(t, `{"name":"d"}`))

	if _, err := s.PatchDevice(a.ID, d.ID, obj(t, `{"name":"e"}`), "1-00000000000000000000000000000000"); !errors.Is(err, ErrStaleRevision) {
		t.Fatalf("stale rev: %v", err)
	}
	d2, err := s.PatchDevice(a.ID, d.ID, obj(t, `{"name":"e"}`), `"`+d.Rev+`"`)
	if err != nil {
		t.Fatalf("quoted current rev: %v", describe(err))
	}
	if !strings.HasPrefix(d2.Rev, "2-") {
		t.Errorf("rev %q", d2.Rev)
	}
	if _, err := s.ReplaceDevice(a.ID, d.ID, obj(t, `{"name":"f"}`), d.Rev); !errors.Is(err, ErrStaleRevision) {
		t.Errorf("old rev: %v", err)
	}
	d3, err := s.ReplaceDevice(a.ID, d.ID, obj(t, `{"name":"f"}`), "*")
	if err != nil || !strings.HasPrefix(d3.Rev, "3-") {
		t.Errorf("*: %v %q", err, d3.Rev)
	}
	if _, err := s.PatchDevice(a.ID, "nosuchdevice", obj(t, `{}`), "*"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing device: %v", err)
	}

	if _, err := s.PatchAccount(a.ID, obj(t, `{"name":"x"}`), "7-abc"); !errors.Is(err, ErrStaleRevision) {
		t.Errorf("account stale rev: %v", err)
	}
	if a2, err := s.PatchAccount(a.ID, obj(t, `{"name":"x"}`), `W/"`+a.Rev+`"`); err != nil || !strings.HasPrefix(a2.Rev, "2-") {
		t.Errorf("account current rev: %v", err)
	}
}

func TestSnapshotsAndAccountChanges(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	var changes []Change
	s.Subscribe(func(c Change) { changes = append(changes, c) })

	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"Acme.Example.com"}`))
	alice := mustDevice(t, s, a.ID, obj(t, `{"name":"alice","owner_id":"0123456789abcdef0123456789abcdef",
		"register_overwrite_notify":true,"sip":{"username":"Alice","password":"secret1"}}`))
	pbx := mustDevice(t, s, a.ID, obj(t, `{"name":"pbx","enabled":false,"suppress_unregister_notifications":true,
		"sip":{"username":"pbx","realm":"PBX.example.net","method":"ip","ip":"2001:db8::7","expire_seconds":90}}`))

	if alice.Realm != "acme.example.com" || alice.Username != "Alice" || alice.Password != "secret1" ||
		alice.Method != "password" || !alice.Enabled || alice.ExpireSeconds != 300 || alice.IP.IsValid() ||
		!alice.RegisterOverwriteNotify || alice.OwnerID != "0123456789abcdef0123456789abcdef" {
		t.Errorf("alice snapshot: %+v", alice)
	}
	if pbx.Realm != "pbx.example.net" || pbx.Method != "ip" || pbx.IP != netip.MustParseAddr("2001:db8::7") ||
		pbx.Enabled || pbx.ExpireSeconds != 90 || !pbx.SuppressUnregisterNotifications {
		t.Errorf("pbx snapshot: %+v", pbx)
	}
	if s.ByUser("ACME.example.COM", "alice") != alice || s.ByUser("pbx.example.net", "PBX") != pbx ||
		s.ByIP(netip.MustParseAddr("2001:db8::7")) != pbx || s.ByIP(netip.MustParseAddr("2001:db8::8")) != nil {
		t.Error("lookups after create")
	}
	if len(changes) != 2 || changes[0].Old != nil || changes[0].New != alice {
		t.Fatalf("changes after create: %+v", changes)
	}

	// Disabling the account disables every device snapshot; a realm change
	// moves the devices that follow the account realm.
	changes = nil
	a2, err := s.PatchAccount(a.ID, obj(t, `{"enabled":false,"realm":"new.example.com"}`), "")
	if err != nil {
		t.Fatal(describe(err))
	}
	if len(changes) != 2 {
		t.Fatalf("%d changes after account patch", len(changes))
	}
	nAlice := s.ByUser("new.example.com", "alice")
	if nAlice == nil || nAlice.Enabled || nAlice.Realm != "new.example.com" || nAlice.Rev != alice.Rev {
		t.Errorf("alice after account change: %+v", nAlice)
	}
	if s.ByUser("acme.example.com", "alice") != nil {
		t.Error("alice still under the old realm")
	}
	if s.AccountByRealm("acme.example.com") != nil || s.AccountByRealm("new.example.com") != a2 {
		t.Error("AccountByRealm after realm change")
	}
	if got := s.ByUser("pbx.example.net", "pbx"); got == nil || got.Realm != "pbx.example.net" {
		t.Errorf("pbx keeps its realm: %+v", got)
	}
	if d, _ := s.Device(a.ID, alice.ID); d != nAlice {
		t.Error("Device() not the new snapshot")
	}

	// Enabling the account again: the device's own enabled flag still counts.
	if _, err := s.PatchAccount(a.ID, obj(t, `{"enabled":true}`), ""); err != nil {
		t.Fatal(err)
	}
	if !s.ByUser("new.example.com", "alice").Enabled || s.ByIP(pbx.IP).Enabled {
		t.Error("enabled flags after re-enable")
	}

	// Moving the account into a realm where a device name is taken fails.
	other := mustAccount(t, s, obj(t, `{"name":"other"}`))
	mustDevice(t, s, other.ID, obj(t, `{"name":"squatter","sip":{"username":"ALICE","realm":"taken.example.com"}}`))
	_, err = s.PatchAccount(a.ID, obj(t, `{"realm":"taken.example.com"}`), "")
	jsonEqual(t, "moved conflict", validationFields(t, err), obj(t, `{"realm":{"unique":{"message":"SIP credentials already in use","cause":"Alice"}}}`))

	// Deleting the account removes its devices and tells subscribers.
	changes = nil
	if _, err := s.DeleteAccount(a.ID); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0].New != nil || changes[1].New != nil {
		t.Errorf("changes after account delete: %+v", changes)
	}
	if s.ByUser("new.example.com", "alice") != nil || s.ByIP(pbx.IP) != nil || s.Devices(a.ID) != nil {
		t.Error("devices survive their account")
	}
	if _, err := s.Account(a.ID); !errors.Is(err, ErrNotFound) {
		t.Error("account survives")
	}
	if _, err := s.DeleteAccount(a.ID); !errors.Is(err, ErrNotFound) {
		t.Error("second delete")
	}
}

func TestListingOrder(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	for _, n := range []string{"charlie", "alpha", "bravo", "alpha"} {
		mustAccount(t, s, map[string]any{"name": n})
	}
	accts := s.Accounts()
	var names []string
	for _, a := range accts {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "alpha,alpha,bravo,charlie" || accts[0].ID > accts[1].ID {
		t.Errorf("accounts order: %v", names)
	}
	a := accts[0]
	if got := s.Devices(a.ID); got == nil || len(got) != 0 {
		t.Errorf("no devices: %#v", got)
	}
	for _, n := range []string{"desk", "Lobby", "desk", "attic"} {
		mustDevice(t, s, a.ID, map[string]any{"name": n})
	}
	devs := s.Devices(a.ID)
	names = nil
	for _, d := range devs {
		names = append(names, d.Doc()["name"].(string))
	}
	if strings.Join(names, ",") != "Lobby,attic,desk,desk" || devs[2].ID > devs[3].ID {
		t.Errorf("devices order: %v", names)
	}
	if s.Devices("unknown") != nil {
		t.Error("Devices(unknown) not nil")
	}
	if _, err := s.Device(a.ID, "unknown"); !errors.Is(err, ErrNotFound) {
		t.Error(err)
	}
	if _, err := s.DeleteDevice(accts[1].ID, devs[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete through the wrong account: %v", err)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	s, path := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme"}`))
	b := mustAccount(t, s, obj(t, `{"name":"bravo"}`))
	secret, tok, err := s.CreateToken(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) < 43 || tok.AccountID != a.ID || len(tok.ID) != 32 || tok.Created == 0 {
		t.Errorf("token %q %+v", secret, tok)
	}
	secretB, _, err := s.CreateToken(b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := s.TokenAccount(secret); !ok || id != a.ID {
		t.Errorf("TokenAccount = %q %v", id, ok)
	}
	if _, ok := s.TokenAccount(secret[:len(secret)-1]); ok {
		t.Error("prefix of a secret accepted")
	}
	if _, ok := s.TokenAccount(""); ok {
		t.Error("empty secret accepted")
	}
	if _, _, err := s.CreateToken("nosuch"); !errors.Is(err, ErrNotFound) {
		t.Error(err)
	}
	if got := s.Tokens(a.ID); len(got) != 1 || got[0] != tok {
		t.Errorf("Tokens = %+v", got)
	}
	if err := s.DeleteToken(b.ID, tok.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete through the wrong account: %v", err)
	}

	// Only the hash is on disk, and tokens survive a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	assertFileLacks(t, path, secret)
	s2, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if id, ok := s2.TokenAccount(secret); !ok || id != a.ID {
		t.Error("token lost on reopen")
	}
	if err := s2.DeleteToken(a.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.TokenAccount(secret); ok {
		t.Error("deleted token still works")
	}
	if _, err := s2.DeleteAccount(b.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.TokenAccount(secretB); ok {
		t.Error("token outlives its account")
	}
}

func TestWritesAfterClose(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme"}`))
	d := mustDevice(t, s, a.ID, obj(t, `{"name":"d","sip":{"username":"u1"}}`))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.CreateDevice(a.ID, obj(t, `{"name":"e"}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("create after close: %v", err)
	}
	if _, err := s.PatchDevice(a.ID, d.ID, obj(t, `{}`), ""); !errors.Is(err, ErrClosed) {
		t.Errorf("patch after close: %v", err)
	}
	if s.ByUser(a.Realm, "u1") != d {
		t.Error("lookups stop after close")
	}
}

// Lookups run lock-free while devices are written, renamed and deleted;
// -race checks the snapshots are published safely.
func TestConcurrentLookupsDuringWrites(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	stable := mustDevice(t, s, a.ID, obj(t, `{"name":"stable","sip":{"username":"stable","method":"ip","ip":"192.0.2.1"}}`))
	stableID, stableIP := stable.ID, stable.IP
	var seen []Change
	s.Subscribe(func(c Change) { seen = append(seen, c) })

	stop := make(chan struct{})
	errs := make(chan string, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- ""
					return
				default:
				}
				u, ip := s.ByUser("ACME.example.com", "Stable"), s.ByIP(stableIP)
				if u == nil || ip == nil || u.ID != stableID || ip.ID != stableID {
					errs <- "stable device missing during writes"
					return
				}
				if d := s.ByUser("acme.example.com", "moving"); d != nil && d.Username != "moving" {
					errs <- "inconsistent snapshot"
					return
				}
				_ = s.Devices(a.ID)
			}
		}()
	}
	for i := range 30 {
		d := mustDevice(t, s, a.ID, obj(t, `{"name":"m","sip":{"username":"moving"}}`))
		if _, err := s.PatchDevice(a.ID, d.ID, obj(t, `{"sip":{"username":"moved"}}`), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteDevice(a.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := s.PatchAccount(a.ID, obj(t, `{"enabled":false}`), ""); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PatchAccount(a.ID, obj(t, `{"enabled":true}`), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	for range 4 {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
	if len(seen) != 30*3+3*2 {
		t.Errorf("%d changes notified", len(seen))
	}
}

// EachDevice visits every device of every account once, and a deleted one
// no more.
func TestEachDevice(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	want := map[string]bool{}
	for _, acct := range []string{"acme", "globex"} {
		a := mustAccount(t, s, obj(t, `{"name":"`+acct+`"}`))
		for _, u := range []string{"alice", "bob"} {
			d := mustDevice(t, s, a.ID, obj(t, `{"name":"`+u+`","sip":{"username":"`+u+`","password":"secret"}}`))
			want[d.ID] = true
		}
	}
	visits := func() map[string]int {
		got := map[string]int{}
		s.EachDevice(func(d *Device) { got[d.ID]++ })
		return got
	}
	got := visits()
	if len(got) != len(want) {
		t.Fatalf("visited %d devices, want %d", len(got), len(want))
	}
	var gone string
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Fatalf("device %s visited %d times (ours: %v)", id, n, want[id])
		}
		gone = id
	}
	var acctID string
	s.EachDevice(func(d *Device) {
		if d.ID == gone {
			acctID = d.AccountID
		}
	})
	if _, err := s.DeleteDevice(acctID, gone); err != nil {
		t.Fatal(err)
	}
	if got := visits(); got[gone] != 0 || len(got) != len(want)-1 {
		t.Fatalf("after deleting %s: %v", gone, got)
	}
}
