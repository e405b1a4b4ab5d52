package proxy

import (
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/sipedge/sipedge/devices"
)

// TestProfileCacheConcurrentFirstUse: calls that arrive together right
// after devices changed all route on the new index. A call that saw the
// change while another call was rebuilding used to get the old index and
// a 404 for a device that existed.
func TestProfileCacheConcurrentFirstUse(t *testing.T) {
	store, err := devices.Open(devices.Options{Path: t.TempDir() + "/sipedge.db"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	acct, err := store.CreateAccount(map[string]any{"name": "Acme", "realm": "acme.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	const devicesN = 300
	c := newProfileCache(store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for round := range 5 {
		// Every round changes the store, so every round starts with a rebuild.
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
				if c.current().index.ByUsername("acme.example.com", last) == nil {
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
