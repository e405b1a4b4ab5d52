package routing

import (
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	alice := profile(t, "a", `{"sip":{"username":"Alice","number":"4155550100"}}`)
	bob := profile(t, "b", `{"sip":{"username":"bob","number":"1001"},"presence_id":"2002"}`)
	carol := profile(t, "c", `{"sip":{"username":"carol","realm":"other.example"},"presence_id":"carol.desk@other.example"}`)
	dupe := profile(t, "d", `{"sip":{"username":"dave","number":"+14155550100"}}`)
	x := NewNumberIndex(alice, bob, nil, carol, dupe)
	if len(x.Conflicts()) != 1 || x.Conflicts()[0].Field != "sip.number" {
		t.Errorf("conflicts %v, want the duplicate number", x.Conflicts())
	}
	if x.Len() != 4 {
		t.Errorf("Len %d", x.Len())
	}
	if x.ByID("c") != carol || x.ByID("zz") != nil {
		t.Errorf("ByID")
	}
	tests := []struct {
		name, realm, dialed string
		want                *Profile
		match               Match
	}{
		{"username", testRealm, "Alice", alice, MatchUsername},
		{"username any case, realm any case", "ACME.sip.example.com", "aLiCe", alice, MatchUsername},
		{"number as dialled e164", testRealm, "+14155550100", alice, MatchNumber},
		{"number as dialled 10 digits", testRealm, "4155550100", alice, MatchNumber},
		{"number as dialled 1npan", testRealm, "14155550100", alice, MatchNumber},
		{"presence id", testRealm, "2002", bob, MatchPresenceID},
		{"presence id in another realm", "other.example", "carol.desk", carol, MatchPresenceID},
		{"username in another realm", "other.example", "carol", carol, MatchUsername},
		{"wrong realm", testRealm, "carol", nil, MatchNone},
		{"DID from a gateway, no realm", "", "+14155550100", alice, MatchNumber},
		{"DID from a gateway, IP host", "192.0.2.1", "14155550100", alice, MatchNumber},
		{"DID of another realm", "other.example", "4155550100", alice, MatchNumber},
		{"extension number", testRealm, "1001", bob, MatchNumber},
		{"extension numbers are not global", "", "1001", nil, MatchNone},
		{"nobody", testRealm, "4158867900", nil, MatchNone},
		{"empty", testRealm, "", nil, MatchNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, m := Resolve(tc.realm, tc.dialed, x)
			if p != tc.want || m != tc.match {
				t.Errorf("Resolve = %v %s, want %v %s", id(p), m, id(tc.want), tc.match)
			}
			// Any Directory gives the same answers.
			p, m = Resolve(tc.realm, tc.dialed, wrapped{x})
			if p != tc.want || m != tc.match {
				t.Errorf("Resolve via interface = %v %s, want %v %s", id(p), m, id(tc.want), tc.match)
			}
		})
	}
	if p, m := Resolve(testRealm, "alice", nil); p != nil || m != MatchNone {
		t.Error("nil directory")
	}
}

func id(p *Profile) string {
	if p == nil {
		return "<nil>"
	}
	return p.DeviceID
}

// wrapped hides the concrete type, to test Resolve's generic path.
type wrapped struct{ x *NumberIndex }

func (w wrapped) ByUsername(r, u string) *Profile   { return w.x.ByUsername(r, u) }
func (w wrapped) ByNumber(r, n string) *Profile     { return w.x.ByNumber(r, n) }
func (w wrapped) ByPresenceID(r, u string) *Profile { return w.x.ByPresenceID(r, u) }

func TestResolveAllocs(t *testing.T) {
	x := NewNumberIndex(profile(t, "a", `{"sip":{"username":"alice","number":"4155550100"}}`))
	for _, dialed := range []string{"alice", "4155550100", "nobody", "+14155550100"} {
		if n := testing.AllocsPerRun(100, func() { Resolve("ACME.sip.example.com", dialed, x) }); n != 0 {
			t.Errorf("Resolve(%q) allocates %v times", dialed, n)
		}
	}
}
