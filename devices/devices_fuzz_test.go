package devices

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDeviceDocument: any JSON object, as a create, a PATCH onto a valid
// device, or through the pure ValidateDevice, never panics; whatever is
// accepted validates again and is a fixed point of defaults + validation.
func FuzzDeviceDocument(f *testing.F) {
	for _, s := range []string{
		`{"name":"New Device"}`,
		`{"enabled":true,"name":"authn_by_ip","sip":{"invite_format":"e164","ip":"192.0.2.10","method":"ip"}}`,
		`{"presence_id":"dis_my_device"}`,
		`{"name":"d","sip":{"username":"alice","password":"abc","realm":"PBX.example.com"}}`,
		`{"name":"d","media":{"audio":{"codecs":["PCMU","x"]},"bypass_media":"auto"},"caller_id":{"external":{"number":"1"}}}`,
		`{"name":"d","metaflows":{"numbers":{"1":{"module":"m","children":{"a.b":{"data":null}}}}},"formatters":{"f":[{"direction":"both"}],"g":1}}`,
		`{"name":null,"sip":null,"media":{"encryption":{"methods":null}}}`,
		`{"name":"d","mac_address":"00:04:F2:AB:7E:FD","sip":{"custom_sip_headers":{"in":{"X-A":"1"},"X-B":2}}}`,
		`{"name":"d","sip":{"expire_seconds":1e300,"registration_expiration":-5}}`,
	} {
		f.Add([]byte(s))
	}
	s, err := Open(Options{Path: filepath.Join(f.TempDir(), "fuzz.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	acct, err := s.CreateAccount(map[string]any{"name": "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	base, err := s.CreateDevice(acct.ID, map[string]any{"name": "base", "sip": map[string]any{"username": "base", "password": "secret"}})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		var doc map[string]any
		if json.Unmarshal(data, &doc) != nil {
			return
		}
		if out, err := ValidateDevice(doc); err == nil {
			checkFixedPoint(t, out)
		} else {
			checkValidationError(t, err)
		}

		d, err := s.CreateDevice(acct.ID, doc)
		if err != nil {
			checkValidationError(t, err)
		} else {
			checkFixedPoint(t, d.Doc())
			if _, err := s.DeleteDevice(acct.ID, d.ID); err != nil {
				t.Fatal(err)
			}
		}

		p, err := s.PatchDevice(acct.ID, base.ID, doc, "")
		if err != nil {
			checkValidationError(t, err)
			return
		}
		checkFixedPoint(t, p.Doc())
		// Put the base device back for the next input.
		if base, err = s.ReplaceDevice(acct.ID, base.ID, map[string]any{"name": "base", "sip": map[string]any{"username": "base", "password": "secret"}}, ""); err != nil {
			t.Fatal(describe(err))
		}
	})
}

func checkValidationError(t *testing.T, err error) {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Fields) == 0 {
		t.Fatalf("want a non-empty *ValidationError, got %v", err)
	}
	if _, err := json.Marshal(verr.Fields); err != nil {
		t.Fatalf("error fields are not JSON: %v", err)
	}
}

// checkFixedPoint: a stored document, round-tripped through JSON as a client
// would send it back, validates and comes out unchanged.
func checkFixedPoint(t *testing.T, stored map[string]any) {
	t.Helper()
	raw, err := json.Marshal(stored)
	if err != nil {
		t.Fatalf("stored doc is not JSON: %v", err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	again, err := ValidateDevice(back)
	if err != nil {
		t.Fatalf("stored doc no longer validates: %s\n%s", describe(err), raw)
	}
	delete(back, "id")
	if !reflect.DeepEqual(again, back) {
		t.Fatalf("defaults not idempotent:\n%v\n%v", again, back)
	}
}
