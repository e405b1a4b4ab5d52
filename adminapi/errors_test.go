package adminapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sipedge/sipedge/devices"
)

// TestValidationErrors checks that schema failures come back as Crossbar's
// 400 "validation error" whose data is exactly the store's Fields.
func TestValidationErrors(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Val", "val.sip.example.com")
	ta.createDevice(acct, `{"name":"taken","sip":{"username":"dupuser","password":"secret1"}}`)

	cases := []struct {
		name  string
		doc   string
		field string // Fields key
		rule  string
		msg   string // exact message, "" = any
	}{
		{name: "missing name", doc: `{}`, field: "name", rule: "required", msg: "Field is required but missing"},
		{name: "short sip.password", doc: `{"name":"d","sip":{"username":"abc","password":"abc"}}`, field: "sip.password", rule: "minLength", msg: "String must be at least 5 characters"},
		{name: "bad invite_format enum", doc: `{"name":"d","sip":{"invite_format":"bogus"}}`, field: "sip.invite_format", rule: "enum", msg: "Value not found in enumerated list of values"},
		{name: "duplicate sip.username", doc: `{"name":"d2","sip":{"username":"dupuser","password":"secret2"}}`, field: "sip.username", rule: "unique", msg: "SIP credentials already in use"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ta.do("PUT", "/v2/accounts/"+acct+"/devices", testAdminToken, `{"data":`+tc.doc+`}`)
			// What the store itself says about the same document.
			var doc map[string]any
			if err := json.Unmarshal([]byte(tc.doc), &doc); err != nil {
				t.Fatal(err)
			}
			_, err := ta.store.CreateDevice(acct, doc)
			var ve *devices.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("store accepted the document: %v", err)
			}
			errorEnvelope(t, r, 400, "validation error", ve.Fields)
			rule, ok := r.dataMap(t)[tc.field].(map[string]any)[tc.rule].(map[string]any)
			if !ok {
				t.Fatalf("no %s.%s in %s", tc.field, tc.rule, r.raw)
			}
			if tc.msg != "" && rule["message"] != tc.msg {
				t.Errorf("message %q, want %q", rule["message"], tc.msg)
			}
			if r.env["auth_token"] != testAdminToken {
				t.Errorf("auth_token %v", r.env["auth_token"])
			}
		})
	}
	if n := len(ta.store.Devices(acct)); n != 1 {
		t.Errorf("%d devices stored, want 1", n)
	}
}

func TestAuthErrors(t *testing.T) {
	ta := startAPI(t, nil)
	a := ta.createAccount("A", "a.sip.example.com")
	b := ta.createAccount("B", "b.sip.example.com")
	tokA := ta.token(a)
	devB := ta.createDevice(b, `{"name":"b-phone"}`)
	unauth := map[string]any{"message": "invalid credentials"}
	forbidden := map[string]any{"message": "forbidden"}

	cases := []struct {
		name, method, path, token, body string
		code                            int
		message                         string
		data                            any
	}{
		{name: "no token", method: "GET", path: "/v2/accounts/" + a + "/devices", code: 401, message: "invalid_credentials", data: unauth},
		{name: "wrong token", method: "GET", path: "/v2/accounts/" + a + "/devices", token: "not-a-token", code: 401, message: "invalid_credentials", data: unauth},
		{name: "other account's token", method: "GET", path: "/v2/accounts/" + b + "/devices/" + devB, token: tokA, code: 403, message: "forbidden", data: forbidden},
		{name: "account token on admin route", method: "PUT", path: "/v2/accounts", token: tokA, body: `{"data":{"name":"x","realm":"x.example.com"}}`, code: 403, message: "forbidden", data: forbidden},
		{name: "account token mints tokens", method: "PUT", path: "/v2/accounts/" + a + "/tokens", token: tokA, code: 403, message: "forbidden", data: forbidden},
		{name: "account token on bans", method: "GET", path: "/v2/bans", token: tokA, code: 403, message: "forbidden", data: forbidden},
		{name: "account token deletes its account", method: "DELETE", path: "/v2/accounts/" + a, token: tokA, code: 403, message: "forbidden", data: forbidden},
		{name: "unknown account", method: "GET", path: "/v2/accounts/" + strings.Repeat("f", 32) + "/devices", token: testAdminToken, code: 404, message: "bad_identifier",
			data: map[string]any{"cause": strings.Repeat("f", 32), "message": "bad identifier"}},
		{name: "unknown device", method: "GET", path: "/v2/accounts/" + a + "/devices/nosuchdevice", token: testAdminToken, code: 404, message: "bad_identifier",
			data: map[string]any{"cause": "nosuchdevice", "message": "bad identifier"}},
		{name: "device of another account", method: "GET", path: "/v2/accounts/" + a + "/devices/" + devB, token: tokA, code: 404, message: "bad_identifier",
			data: map[string]any{"cause": devB, "message": "bad identifier"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errorEnvelope(t, ta.do(tc.method, tc.path, tc.token, tc.body), tc.code, tc.message, tc.data)
		})
	}

	t.Run("account token works on its own account", func(t *testing.T) {
		ta.do("GET", "/v2/accounts/"+a+"/devices", tokA, "").mustCode(t, 200)
		r := ta.do("GET", "/v2/accounts/"+a+"/devices?auth_token="+tokA, "", "").mustCode(t, 200)
		if r.env["status"] != "success" {
			t.Errorf("query-string token: %s", r.raw)
		}
	})
}

func TestBodyErrors(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Body", "body.sip.example.com")
	path := "/v2/accounts/" + acct + "/devices"
	required := map[string]any{"data": map[string]any{"required": map[string]any{"message": "Field is required but missing"}}}

	t.Run("malformed JSON", func(t *testing.T) {
		r := ta.do("PUT", path, testAdminToken, `{"data":{"name":"x"`)
		r.mustCode(t, 400)
		inv, ok := r.dataMap(t)["json"].(map[string]any)["invalid"].(map[string]any)
		if !ok || inv["target"] != "body" || !strings.HasPrefix(inv["message"].(string), "All JSON must be valid") {
			t.Errorf("malformed JSON data: %s", r.raw)
		}
		errorEnvelope(t, r, 400, "validation error", r.data())
	})
	t.Run("no data key", func(t *testing.T) {
		errorEnvelope(t, ta.do("PUT", path, testAdminToken, `{"name":"x"}`), 400, "validation error", required)
	})
	t.Run("empty body", func(t *testing.T) {
		errorEnvelope(t, ta.do("PUT", path, testAdminToken, "", hdr{"Content-Type", "application/json"}), 400, "validation error", required)
	})
	t.Run("data not an object", func(t *testing.T) {
		errorEnvelope(t, ta.do("PUT", path, testAdminToken, `{"data":[1,2]}`), 400, "validation error",
			map[string]any{"data": map[string]any{"type": map[string]any{"message": "Value did not match type(s): object", "target": "object"}}})
	})
	t.Run("text/plain body", func(t *testing.T) {
		errorEnvelope(t, ta.do("PUT", path, testAdminToken, `{"data":{"name":"x"}}`, hdr{"Content-Type", "text/plain"}),
			415, "unsupported_media_type", map[string]any{"cause": "text/plain", "message": "content type must be application/json"})
	})
	t.Run("vendor +json accepted", func(t *testing.T) {
		ta.do("PUT", path, testAdminToken, `{"data":{"name":"x"}}`, hdr{"Content-Type", "application/merge-patch+json; charset=utf-8"}).mustCode(t, 201)
	})
	if n := len(ta.store.Devices(acct)); n != 1 {
		t.Errorf("%d devices stored, want only the +json one", n)
	}
}

// TestBodyTooLarge announces a 10 MiB body and sends none of it: the 413
// must come back from the headers alone, so the body is never buffered.
func TestBodyTooLarge(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Big", "big.sip.example.com")
	conn, err := net.Dial("tcp", strings.TrimPrefix(ta.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /v2/accounts/%s/devices HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\nX-Request-ID: big-1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		acct, testAdminToken, 10<<20)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("413 body: %v: %s", err, raw)
	}
	r := resp{code: res.StatusCode, hdr: res.Header, raw: raw, env: env}
	limit := Default().MaxBodyBytes
	errorEnvelope(t, r, 413, "validation error", map[string]any{"file": map[string]any{"maxSize": map[string]any{
		"message": fmt.Sprintf("Payload or Files must not be more than %d bytes", limit), "target": limit}}})
	if r.env["request_id"] != "big-1" || res.Header.Get("X-Request-ID") != "big-1" {
		t.Errorf("request id not honoured on 413: %v / %q", r.env["request_id"], res.Header.Get("X-Request-ID"))
	}
}

func TestRoutingErrors(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("R", "r.sip.example.com")
	t.Run("unknown path", func(t *testing.T) {
		errorEnvelope(t, ta.do("GET", "/v2/nothing/here", testAdminToken, ""), 404, "not_found", map[string]any{"message": "not found"})
	})
	t.Run("wrong verb", func(t *testing.T) {
		r := ta.do("PATCH", "/v2/accounts/"+acct+"/devices", testAdminToken, `{"data":{}}`)
		errorEnvelope(t, r, 405, "invalid_method", map[string]any{"message": "method not allowed"})
		if got := r.hdr.Get("Allow"); got != "GET, PUT" {
			t.Errorf("Allow %q, want %q", got, "GET, PUT")
		}
	})
	t.Run("literal beats parameter", func(t *testing.T) {
		r := ta.do("GET", "/v2/accounts/"+acct+"/devices/status", testAdminToken, "")
		errorEnvelope(t, r, 501, "not_implemented", map[string]any{"message": "not implemented"})
	})
}

func TestRequestID(t *testing.T) {
	ta := startAPI(t, nil)
	r := ta.do("GET", "/v2/accounts", testAdminToken, "", hdr{"X-Request-ID", "trace-abc-123"}).mustCode(t, 200)
	if r.env["request_id"] != "trace-abc-123" || r.hdr.Get("X-Request-ID") != "trace-abc-123" {
		t.Errorf("request id: envelope %v, header %q", r.env["request_id"], r.hdr.Get("X-Request-ID"))
	}
	r = ta.do("GET", "/v2/accounts", "", "")
	id, _ := r.env["request_id"].(string)
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" || r.hdr.Get("X-Request-ID") != id {
		t.Errorf("generated request id %q (header %q), want 32 hex", id, r.hdr.Get("X-Request-ID"))
	}
	if _, ok := r.env["auth_token"]; ok {
		t.Errorf("auth_token present without a token: %s", r.raw)
	}
}
