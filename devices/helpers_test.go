package devices

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// newTestStore opens a store in a fresh temporary directory, closed at the
// end of the test.
func newTestStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sipedge.db")
	s, err := Open(Options{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// reopen closes s and opens the file again, as a restart does; the new
// store is closed at the end of the test.
func reopen(t testing.TB, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(Options{Path: path})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}

func mustAccount(t testing.TB, s *Store, doc map[string]any) *Account {
	t.Helper()
	a, err := s.CreateAccount(doc)
	if err != nil {
		t.Fatalf("CreateAccount(%v): %v", doc, err)
	}
	return a
}

func mustDevice(t testing.TB, s *Store, accountID string, doc map[string]any) *Device {
	t.Helper()
	d, err := s.CreateDevice(accountID, doc)
	if err != nil {
		t.Fatalf("CreateDevice(%v): %v", doc, describe(err))
	}
	return d
}

// describe renders an error, with a ValidationError's fields.
func describe(err error) string {
	var verr *ValidationError
	if errors.As(err, &verr) {
		b, _ := json.Marshal(verr.Fields)
		return err.Error() + " " + string(b)
	}
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// obj parses a JSON object literal.
func obj(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad JSON in test: %v\n%s", err, s)
	}
	return m
}

// seed reads testdata/seed/<name>.json, substituting {DEVICE_ID}.
func seed(t testing.TB, name, deviceID string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "seed", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return obj(t, strings.ReplaceAll(string(raw), "{DEVICE_ID}", deviceID))
}

// jsonEqual compares two values by their JSON form (so 5 and 5.0, or
// []string and []any, are equal) and reports a readable diff.
func jsonEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	g, w := normJSON(t, got), normJSON(t, want)
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(g, "", "  ")
		wb, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("%s:\n got: %s\nwant: %s", what, gb, wb)
	}
}

func normJSON(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// validationFields returns the fields of a *ValidationError or fails.
func validationFields(t testing.TB, err error) map[string]map[string]map[string]any {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	return verr.Fields
}
