package routing

import (
	"encoding/json"
	"maps"
	"net/netip"
	"testing"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
)

const testRealm = "acme.sip.example.com"

// device builds a devices.Device the way the store does (the hot-path
// fields decoded from the document) from a JSON document.
func device(t testing.TB, id, doc string) *devices.Device {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("bad test document %s: %v", doc, err)
	}
	return deviceFromMap(id, m)
}

func deviceFromMap(id string, m map[string]any) *devices.Device {
	doc := maps.Clone(m)
	doc["id"] = id
	d, err := devices.FromDocument("acct1", testRealm, doc)
	if err != nil {
		panic(err)
	}
	return d
}

// profile compiles a device document and fails on any warning unless the
// test expects some.
func profile(t testing.TB, id, doc string) *Profile {
	t.Helper()
	p, err := Compile(device(t, id, doc))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if len(p.Warnings) > 0 {
		t.Fatalf("unexpected warnings compiling %s: %v", doc, p.Warnings)
	}
	return p
}

func account(t testing.TB, doc string) *AccountProfile {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("bad test document %s: %v", doc, err)
	}
	a, err := CompileAccount(&devices.Account{ID: "acct1", Realm: testRealm, Enabled: true, Doc: m})
	if err != nil {
		t.Fatalf("CompileAccount: %v", err)
	}
	if len(a.Warnings) > 0 {
		t.Fatalf("unexpected warnings: %v", a.Warnings)
	}
	return a
}

// binding is the registration of §1.3's example device.
func binding() location.Binding {
	return location.Binding{
		Contact:         "sip:user_abc@192.168.1.20:5062;transport=udp;expires=3600",
		OriginalContact: "<sip:user_abc@192.168.1.20:5062;transport=udp>;expires=3600",
		Source:          netip.MustParseAddrPort("203.0.113.7:40112"),
		Transport:       location.UDP,
		Username:        "user_abc",
		Realm:           testRealm,
	}
}

// mustBranches fails unless the plan has n branches.
func mustBranches(t *testing.T, p Plan, n int) {
	t.Helper()
	if p.Refused() {
		t.Fatalf("refused %+v, want %d branches", p.Refusal, n)
	}
	if len(p.Branches) != n {
		t.Fatalf("got %d branches, want %d: %+v", len(p.Branches), n, p.Branches)
	}
}

func mustRefuse(t *testing.T, p Plan, code int, reason string) {
	t.Helper()
	if p.Refusal.Code != code || p.Refusal.Reason != reason {
		t.Fatalf("refusal = %+v (branches %+v), want %d %q", p.Refusal, p.Branches, code, reason)
	}
	if len(p.Branches) != 0 {
		t.Fatalf("refused plan has branches: %+v", p.Branches)
	}
}

func header(t *testing.T, b Branch, name string) string {
	t.Helper()
	v, _ := b.Header(name)
	return v
}
