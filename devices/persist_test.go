package devices

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var startTime = time.Now().Add(-time.Second)

func assertFileLacks(t *testing.T, path, s string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(s)) {
		t.Errorf("%s contains %q", path, s)
	}
}

func TestReopenAfterClose(t *testing.T) {
	t.Parallel()
	s, path := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"acme.example.com","x":{"y":[1,"z"]}}`))
	d := mustDevice(t, s, a.ID, obj(t, `{"name":"alice","mac_address":"00:04:f2:ab:7e:fd","sip":{"username":"alice","password":"secret1"}}`))
	trunk := mustDevice(t, s, a.ID, obj(t, `{"name":"trunk","sip":{"method":"ip","ip":"192.0.2.10"}}`))
	gone := mustDevice(t, s, a.ID, obj(t, `{"name":"gone"}`))
	d, err := s.PatchDevice(a.ID, d.ID, obj(t, `{"presence_id":"1001"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteDevice(a.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	s2 := reopen(t, s, path)
	a2, err := s2.Account(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "account", a2, a)
	for _, want := range []*Device{d, trunk} {
		got, err := s2.Device(a.ID, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		jsonEqual(t, "device "+want.ID, got, want)
	}
	if _, err := s2.Device(a.ID, gone.ID); err == nil {
		t.Error("deleted device came back")
	}
	if s2.ByUser("ACME.example.com", "Alice") == nil || s2.ByIP(trunk.IP) == nil {
		t.Error("indexes not rebuilt")
	}
	// Uniqueness state is rebuilt too.
	_, err = s2.CreateDevice(a.ID, obj(t, `{"name":"dup","mac_address":"0004f2ab7efd"}`))
	validationFields(t, err)
	d3, err := s2.PatchDevice(a.ID, d.ID, obj(t, `{"name":"alice 3"}`), d.Rev)
	if err != nil || !strings.HasPrefix(d3.Rev, "3-") {
		t.Errorf("patch after reopen: %v %q", err, d3.Rev)
	}
}

// A write is on disk when the method returns: a copy of the file taken
// while the store is still open (no Close) holds it.
func TestWriteDurableWithoutClose(t *testing.T) {
	t.Parallel()
	s, path := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme"}`))
	d := mustDevice(t, s, a.ID, obj(t, `{"name":"d","sip":{"username":"bob"}}`))

	cp := filepath.Join(t.TempDir(), "copy.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Options{Path: cp})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.ByUser(a.Realm, "bob"); got == nil || got.ID != d.ID {
		t.Errorf("device missing from a copy taken without Close: %+v", got)
	}
}

const crashChildEnv = "SIPEDGE_DEVICES_CRASH_CHILD"

// TestCrashDurability creates a device in a child process, kills it with
// SIGKILL right after CreateDevice returned, and reopens the file.
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sipedge.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Process.Kill() // SIGKILL: no deferred Close, no flush
	_ = cmd.Wait()
	if err != nil && err != io.EOF {
		t.Fatalf("reading child: %v", err)
	}
	accountID, deviceID, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "created ")), " ")
	if !ok {
		t.Fatalf("child said %q", line)
	}
	s, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Device(accountID, deviceID)
	if err != nil {
		t.Fatalf("device lost after kill -9: %v", err)
	}
	if d.Username != "crash" || s.ByUser(d.Realm, "crash") != d {
		t.Errorf("device after kill -9: %+v", d)
	}
}

func crashChild(path string) {
	s, err := Open(Options{Path: path})
	if err != nil {
		os.Exit(3)
	}
	a, err := s.CreateAccount(map[string]any{"name": "crash"})
	if err != nil {
		os.Exit(4)
	}
	d, err := s.CreateDevice(a.ID, map[string]any{"name": "crash", "sip": map[string]any{"username": "crash"}})
	if err != nil {
		os.Exit(5)
	}
	os.Stdout.WriteString("created " + a.ID + " " + d.ID + "\n")
	time.Sleep(time.Minute) // killed before this ends
	os.Exit(6)
}

func TestOpenLockedFile(t *testing.T) {
	t.Parallel()
	_, path := newTestStore(t)
	start := time.Now()
	s, err := Open(Options{Path: path})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("error: %v", err)
	}
	if time.Since(start) > lockTimeout+2*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if _, err := Open(Options{}); err == nil {
		t.Error("empty path accepted")
	}
}

// The fields the proxy and registrar read without decoding the document
// follow it through create, patch and reopen, and Doc is a copy the caller
// may change.
func TestHotFieldsFollowTheDocument(t *testing.T) {
	t.Parallel()
	s, path := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	d := mustDevice(t, s, a.ID, obj(t, `{"name":"desk","presence_id":"2001",
		"media":{"progress_timeout":12},"hotdesk":{"users":{"u1":{},"u2":{}}},
		"sip":{"username":"desk","password":"secret1","number":"+14155550100"}}`))
	check := func(what string, d *Device, name, presence string, timeout time.Duration, users []string) {
		t.Helper()
		slices.Sort(d.HotdeskUsers)
		if d.Name != name || d.PresenceID != presence || d.ProgressTimeout != timeout || !slices.Equal(d.HotdeskUsers, users) {
			t.Errorf("%s: name %q presence %q timeout %v hotdesk %v", what, d.Name, d.PresenceID, d.ProgressTimeout, d.HotdeskUsers)
		}
		if d.Number != "+14155550100" {
			t.Errorf("%s: number %q", what, d.Number)
		}
		if doc := d.Doc(); doc["name"] != name || doc["id"] != d.ID {
			t.Errorf("%s: document %v", what, doc)
		}
	}
	check("created", d, "desk", "2001", 12*time.Second, []string{"u1", "u2"})

	doc := d.Doc()
	doc["name"] = "changed by the caller"
	if d.Doc()["name"] != "desk" {
		t.Error("Doc returned the stored document, not a copy")
	}

	d, err := s.PatchDevice(a.ID, d.ID, obj(t, `{"name":"desk 2","presence_id":"2002","media":{"progress_timeout":7200},"hotdesk":{"users":{"u3":{}}}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	// More than an hour is not a progress timeout a call should wait for.
	check("patched", d, "desk 2", "2002", 0, []string{"u1", "u2", "u3"})
	s2 := reopen(t, s, path)
	d2, err := s2.Device(a.ID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("reopened", d2, "desk 2", "2002", 0, []string{"u1", "u2", "u3"})
}

// A version 2 file has hot records without sip.number: open rewrites them,
// and the device knows its number without a document being read.
func TestUpgradeFromVersion2(t *testing.T) {
	t.Parallel()
	s, path := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	d := mustDevice(t, s, a.ID, obj(t, `{"name":"desk","sip":{"username":"desk","password":"secret1","number":"4155550100"}}`))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	editFile(t, path, func(tx *bolt.Tx) error {
		// A record of the old layout: version byte 1, no number.
		if err := tx.Bucket(bucketHot).Put(deviceKey(a.ID, d.ID), []byte{1, 0}); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put([]byte("version"), []byte("2"))
	})
	s2, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.Device(a.ID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Number != "4155550100" || got.Username != "desk" {
		t.Errorf("upgraded device: number %q username %q", got.Number, got.Username)
	}
}

// A file written before the hot records existed (version 1) is upgraded on
// open, and a device loaded from its hot record shows its document as
// stored, across replacement and deletion.
func TestUpgradeFromVersion1(t *testing.T) {
	t.Parallel()
	s, path := newTestStore(t)
	a := mustAccount(t, s, obj(t, `{"name":"acme","realm":"acme.example.com"}`))
	d := mustDevice(t, s, a.ID, obj(t, `{"name":"desk","presence_id":"2001","sip":{"username":"desk","password":"secret1"}}`))
	other := mustDevice(t, s, a.ID, obj(t, `{"name":"other"}`))
	docBefore := d.Doc()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	editFile(t, path, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketHot); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put([]byte("version"), []byte("1"))
	})

	s2, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Device(a.ID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.rec != "" || got.src != s2 {
		t.Fatal("a loaded device holds its document")
	}
	jsonEqual(t, "upgraded device", got, d)
	jsonEqual(t, "upgraded document", got.Doc(), docBefore)
	if by := s2.ByUser("acme.example.com", "desk"); by != got {
		t.Errorf("ByUser after upgrade: %v", by)
	}

	// The stale snapshot reads what is stored now.
	if _, err := s2.PatchDevice(a.ID, d.ID, obj(t, `{"name":"desk 2"}`), ""); err != nil {
		t.Fatal(err)
	}
	if name := got.Doc()["name"]; name != "desk 2" {
		t.Errorf("document of a replaced snapshot: name %v", name)
	}
	if gone, err := s2.DeleteDevice(a.ID, other.ID); err != nil || gone.Doc()["name"] != "other" {
		t.Fatalf("delete of a loaded device: %v, document %v", err, gone.Doc())
	}
	s3 := reopen(t, s2, path)
	if got.Doc() != nil {
		t.Error("document read from a closed store")
	}
	d3, err := s3.Device(a.ID, d.ID)
	if err != nil || d3.Name != "desk 2" || d3.Doc()["name"] != "desk 2" {
		t.Fatalf("after reopen: %v %+v", err, d3)
	}
	if _, err := s3.Device(a.ID, other.ID); err == nil {
		t.Error("deleted device came back")
	}
	// Deleting the account removes the hot records with the devices.
	if _, err := s3.DeleteAccount(a.ID); err != nil {
		t.Fatal(err)
	}
	s4 := reopen(t, s3, path)
	if n := len(s4.Devices(a.ID)); n != 0 {
		t.Errorf("%d devices of a deleted account", n)
	}
	err = s4.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketHot).Cursor().First(); k != nil {
			t.Errorf("hot record %s left behind", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A file newer than this code is refused, not written.
	if err := s4.Close(); err != nil {
		t.Fatal(err)
	}
	editFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("version"), []byte("4")) })
	if s5, err := Open(Options{Path: path}); err == nil {
		_ = s5.Close()
		t.Error("opened a version 4 file")
	}
}

// editFile changes a closed store's file directly, as an older sipedge
// (or a newer one) would have left it.
func editFile(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(fn)
	if err2 := db.Close(); err == nil {
		err = err2
	}
	if err != nil {
		t.Fatal(err)
	}
}
