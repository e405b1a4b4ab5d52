package proxy

import (
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/routing"
)

// TestProfileCacheConcurrentFirstUse: calls that arrive together right
// after devices were created all find them (the index once was rebuilt by
// the first call after a change, and a call that came while another
// rebuilt got the old index and a 404 for a device that existed).
func TestProfileCacheConcurrentFirstUse(t *testing.T) {
	store, acct := acmeStore(t)
	const devicesN = 300
	c := newProfileCache(store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for round := range 5 {
		user := "r" + string(rune('a'+round))
		for i := range devicesN / 5 {
			if _, err := store.CreateDevice(acct.ID, map[string]any{
				"name": user + string(rune('a'+i%26)) + string(rune('a'+i/26)),
				"sip":  map[string]any{"username": user + string(rune('a'+i%26)) + string(rune('a'+i/26)), "password": "secret-password"},
			}); err != nil {
				t.Fatal(err)
			}
		}
		last := user + string(rune('a'+(devicesN/5-1)%26)) + string(rune('a'+(devicesN/5-1)/26))
		start := make(chan struct{})
		var wg sync.WaitGroup
		missing := make(chan string, 16)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if c.ByUsername("acme.example.com", last) == nil {
					missing <- last
				}
			}()
		}
		close(start)
		wg.Wait()
		close(missing)
		for u := range missing {
			t.Fatalf("round %d: a concurrent call did not find %s, created before it", round, u)
		}
	}
}

// TestProfileCacheFollowsChanges: numbers and presence ids are found from
// the devices' hot fields, follow every write, and a key two devices claim
// goes to the first, then to the second when the first lets go.
func TestProfileCacheFollowsChanges(t *testing.T) {
	store, acct := acmeStore(t)
	dev := func(doc map[string]any) *devices.Device {
		t.Helper()
		d, err := store.CreateDevice(acct.ID, doc)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Devices from before the cache (a restart) and after it.
	alice := dev(map[string]any{"name": "alice", "presence_id": "2001",
		"sip": map[string]any{"username": "alice", "password": "secret-password", "number": "4155550100"}})
	c := newProfileCache(store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	bob := dev(map[string]any{"name": "bob", "sip": map[string]any{"username": "bob", "password": "secret-password", "number": "+4155550100"}})

	find := func(dialed string) string {
		t.Helper()
		p, _ := routing.Resolve("acme.example.com", dialed, c)
		if p == nil {
			return ""
		}
		return p.DeviceID
	}
	for dialed, want := range map[string]string{
		"alice": alice.ID, "ALICE": alice.ID, "2001": alice.ID, "4155550100": alice.ID, "14155550100": alice.ID,
		"bob": bob.ID, "carol": "",
	} {
		if got := find(dialed); got != want {
			t.Errorf("dial %s: device %q, want %q", dialed, got, want)
		}
	}
	// From a gateway: the "+" number of any realm.
	if p, _ := routing.Resolve("", "+4155550100", c); p == nil || p.DeviceID != bob.ID {
		t.Errorf("DID from a gateway: %v", p)
	}
	// Bob claims alice's number: alice keeps it until she lets go.
	if _, err := store.PatchDevice(acct.ID, bob.ID, map[string]any{"sip": map[string]any{"number": "4155550100"}}, ""); err != nil {
		t.Fatal(err)
	}
	if got := find("4155550100"); got != alice.ID {
		t.Errorf("shared number: %q, want the first holder", got)
	}
	if _, err := store.PatchDevice(acct.ID, alice.ID, map[string]any{"presence_id": "2002", "sip": map[string]any{"number": "4155550199"}}, ""); err != nil {
		t.Fatal(err)
	}
	for dialed, want := range map[string]string{"4155550100": bob.ID, "4155550199": alice.ID, "2002": alice.ID, "2001": ""} {
		if got := find(dialed); got != want {
			t.Errorf("after the change, dial %s: device %q, want %q", dialed, got, want)
		}
	}
	if p := c.device(mustDevice(t, store, acct.ID, alice.ID)); p == nil || p.PresenceID != "2002@acme.example.com" {
		t.Errorf("profile after the change: %+v", p)
	}
	if _, err := store.DeleteDevice(acct.ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	if got := find("4155550100"); got != "" {
		t.Errorf("number of a deleted device reaches %q", got)
	}
	if len(c.keys) != 3 || len(c.shadow) != 0 {
		t.Errorf("index keeps %d keys and %d shadows, want alice's 3 and none", len(c.keys), len(c.shadow))
	}
}

func mustDevice(t *testing.T, s *devices.Store, acct, id string) *devices.Device {
	t.Helper()
	d, err := s.Device(acct, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// acmeStore is a store on a temporary file with one account.
func acmeStore(t *testing.T) (*devices.Store, *devices.Account) {
	t.Helper()
	store, err := devices.Open(devices.Options{Path: t.TempDir() + "/sipedge.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	acct, err := store.CreateAccount(map[string]any{"name": "Acme", "realm": "acme.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return store, acct
}
