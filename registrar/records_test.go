package registrar

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestRecords(t *testing.T) {
	e := newEnv(t, nil)
	p := e.phone("alice", alicePass, "UDP")
	if res := p.register(p.contact("expires", "3600")); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	first := e.clock.Now()
	e.clock.Advance(time.Minute)
	p.contactHost = "192.168.1.30"
	if res := p.register(p.contact("expires", "3600")); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	c := e.phone("carol", "carol-secret", "TCP")
	if res := c.register(c.contact()); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}

	recs := e.svc.Registrations(e.acct.ID)
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	b := e.bindings("alice")[0]
	now := e.clock.Now()
	want := Record{
		AccountName:              "Acme",
		AccountRealm:             testRealm,
		AuthorizingID:            e.alice.ID,
		AuthorizingType:          "device",
		CallID:                   p.callID,
		Contact:                  "sip:alice@192.168.1.30:5062;expires=3600",
		ContactIP:                "192.168.1.30",
		ContactPort:              "5062",
		EventTimestamp:           now.Unix() + 62167219200,
		Expires:                  3600 + 180,
		FromHost:                 testRealm,
		FromUser:                 "alice",
		InitialRegistration:      now.Unix() + 62167219200,
		LastRegistration:         now.Unix() + 62167219200,
		NetworkIP:                "undefined",
		NetworkPort:              "undefined",
		OriginalContact:          "<sip:alice@192.168.1.30:5062>;expires=3600",
		OwnerID:                  "0123456789abcdef0123456789abcdef",
		PresenceID:               "1001@" + testRealm,
		PreviousContact:          "sip:alice@192.168.1.20:5062;expires=3600",
		ProxyIP:                  "127.0.0.1",
		ProxyPort:                e.addr["UDP"][len("127.0.0.1:"):],
		ProxyProtocol:            "udp",
		Realm:                    testRealm,
		RegisterOverwriteNotify:  true,
		SourceIP:                 "127.0.0.1",
		SourcePort:               itoa(int(b.Source.Port())),
		SuppressUnregisterNotify: true,
		ToHost:                   testRealm,
		ToUser:                   "alice",
		UserAgent:                "TestPhone/1.0",
		Username:                 "alice",
	}
	if !reflect.DeepEqual(recs[0], want) {
		t.Fatalf("record\n got %+v\nwant %+v", recs[0], want)
	}
	_ = first
	if r := recs[1]; r.Username != "carol" || r.ProxyProtocol != "tcp" || r.Expires != 300+180 ||
		r.PresenceID != "carol@"+testRealm || r.OwnerID != "" || r.SuppressUnregisterNotify {
		t.Fatalf("carol record %+v", r)
	}

	if n := e.svc.Count(e.acct.ID); n != 2 {
		t.Fatalf("Count = %d", n)
	}
	ids := e.svc.RegisteredDevices(e.acct.ID)
	wantIDs := []string{e.alice.ID, e.carol.ID}
	if wantIDs[0] > wantIDs[1] {
		wantIDs[0], wantIDs[1] = wantIDs[1], wantIDs[0]
	}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("RegisteredDevices = %v, want %v", ids, wantIDs)
	}
	if n := len(e.svc.Registrations("no-such-account")); n != 0 {
		t.Fatalf("%d records for an unknown account", n)
	}
}

func TestFlush(t *testing.T) {
	e := newEnv(t, nil)
	reg := func(user, pass string) {
		t.Helper()
		p := e.phone(user, pass, "UDP")
		if res := p.register(p.contact()); res.StatusCode != 200 {
			t.Fatal(res.Short())
		}
	}
	reg("alice", alicePass)
	reg("carol", "carol-secret")

	if _, err := e.svc.FlushUser(e.acct.ID, "nobody"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("FlushUser(nobody) = %v", err)
	}
	// A device without bindings is known: 0, nil.
	if n, err := e.svc.FlushUser(e.acct.ID, "bob"); n != 0 || err != nil {
		t.Fatalf("FlushUser(bob) = %d, %v", n, err)
	}
	if n, err := e.svc.FlushUser(e.acct.ID, "ALICE"); n != 1 || err != nil {
		t.Fatalf("FlushUser(alice) = %d, %v", n, err)
	}
	if len(e.bindings("alice")) != 0 || len(e.bindings("carol")) != 1 {
		t.Fatal("FlushUser removed the wrong bindings")
	}
	reg("alice", alicePass)
	if n := e.svc.FlushAccount(e.acct.ID); n != 2 {
		t.Fatalf("FlushAccount = %d", n)
	}
	if e.svc.Count(e.acct.ID) != 0 {
		t.Fatal("bindings left after FlushAccount")
	}
}

func TestDeviceChanged(t *testing.T) {
	tests := []struct {
		name  string
		patch map[string]any
		flush bool
	}{
		{"password", map[string]any{"sip": map[string]any{"password": "new-secret"}}, true},
		{"username", map[string]any{"sip": map[string]any{"username": "alice2"}}, true},
		{"disabled", map[string]any{"enabled": false}, true},
		{"name only", map[string]any{"name": "renamed"}, false},
		{"deleted", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			p := e.phone("alice", alicePass, "UDP")
			if res := p.register(p.contact()); res.StatusCode != 200 {
				t.Fatal(res.Short())
			}
			var err error
			if tt.patch == nil {
				_, err = e.store.DeleteDevice(e.acct.ID, e.alice.ID)
			} else {
				_, err = e.store.PatchDevice(e.acct.ID, e.alice.ID, tt.patch, "")
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(e.bindings("alice")) == 0; got != tt.flush {
				t.Fatalf("flushed = %v, want %v", got, tt.flush)
			}
		})
	}
}
