package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sipedge/sipedge/devices"
)

const testAdminToken = "admin-secret-token-for-tests"

// testAPI is a running API on 127.0.0.1:0 over a real store in a temp dir.
type testAPI struct {
	t     *testing.T
	base  string
	store *devices.Store
	srv   *Server
	prom  *prometheus.Registry
	ready atomic.Bool
}

type apiOption func(*Config, *Deps, *devices.Store)

func startAPI(t *testing.T, reg Registrar, opts ...apiOption) *testAPI {
	t.Helper()
	store, err := devices.Open(devices.Options{Path: filepath.Join(t.TempDir(), "sipedge.db")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ta := &testAPI{t: t, store: store, prom: prometheus.NewRegistry()}
	ta.ready.Store(true)
	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	d := Deps{
		Directory:  store,
		Registrar:  reg,
		AdminToken: testAdminToken,
		Gatherer:   ta.prom,
		Registerer: ta.prom,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready:      ta.ready.Load,
	}
	for _, o := range opts {
		o(&cfg, &d, store)
	}
	srv, err := New(cfg, d)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ta.srv = srv
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ta.base = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after cancel, want nil", err)
		}
	})
	return ta
}

// resp is a decoded answer.
type resp struct {
	code int
	hdr  http.Header
	raw  []byte
	env  map[string]any
}

func (r resp) data() any { return r.env["data"] }

func (r resp) dataMap(t *testing.T) map[string]any {
	t.Helper()
	m, ok := r.env["data"].(map[string]any)
	if !ok {
		t.Fatalf("data is %T, want object; body %s", r.env["data"], r.raw)
	}
	return m
}

func (r resp) dataList(t *testing.T) []any {
	t.Helper()
	l, ok := r.env["data"].([]any)
	if !ok {
		t.Fatalf("data is %T, want array; body %s", r.env["data"], r.raw)
	}
	return l
}

type hdr struct{ k, v string }

func (ta *testAPI) do(method, path, token, body string, hs ...hdr) resp {
	ta.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ta.base+path, rd)
	if err != nil {
		ta.t.Fatalf("request: %v", err)
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range hs {
		req.Header.Set(h.k, h.v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		ta.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		ta.t.Fatalf("read body: %v", err)
	}
	out := resp{code: res.StatusCode, hdr: res.Header, raw: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.env); err != nil {
			ta.t.Fatalf("%s %s: body is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return out
}

// mustCode fails unless the answer has the code.
func (r resp) mustCode(t *testing.T, code int) resp {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %s", r.code, code, r.raw)
	}
	return r
}

// createAccount makes an account through the API and returns its id.
func (ta *testAPI) createAccount(name, realm string) string {
	ta.t.Helper()
	r := ta.do("PUT", "/v2/accounts", testAdminToken, `{"data":{"name":"`+name+`","realm":"`+realm+`"}}`).mustCode(ta.t, 201)
	id, _ := r.dataMap(ta.t)["id"].(string)
	if id == "" {
		ta.t.Fatalf("account without id: %s", r.raw)
	}
	return id
}

// createDevice makes a device and returns its id.
func (ta *testAPI) createDevice(acct, doc string) string {
	ta.t.Helper()
	r := ta.do("PUT", "/v2/accounts/"+acct+"/devices", testAdminToken, `{"data":`+doc+`}`).mustCode(ta.t, 201)
	id, _ := r.dataMap(ta.t)["id"].(string)
	if id == "" {
		ta.t.Fatalf("device without id: %s", r.raw)
	}
	return id
}

// token makes an account token through the API and returns its secret.
func (ta *testAPI) token(acct string) string {
	ta.t.Helper()
	r := ta.do("PUT", "/v2/accounts/"+acct+"/tokens", testAdminToken, "").mustCode(ta.t, 201)
	sec, _ := r.dataMap(ta.t)["token"].(string)
	if sec == "" {
		ta.t.Fatalf("token answer without secret: %s", r.raw)
	}
	return sec
}

func readJSONFile(t *testing.T, name string, repl ...string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if len(repl) > 0 {
		b = []byte(strings.NewReplacer(repl...).Replace(string(b)))
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// canon re-encodes v so maps compare independent of key order.
func canon(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// errorEnvelope checks the exact shape of a Crossbar error answer.
func errorEnvelope(t *testing.T, r resp, code int, message string, data any) {
	t.Helper()
	r.mustCode(t, code)
	want := map[string]any{"error": itoa(code), "message": message, "status": "error", "data": data}
	for k, v := range want {
		if canon(t, r.env[k]) != canon(t, v) {
			t.Errorf("%s = %s, want %s (body %s)", k, canon(t, r.env[k]), canon(t, v), r.raw)
		}
	}
	if id, _ := r.env["request_id"].(string); id == "" {
		t.Errorf("no request_id in %s", r.raw)
	}
	if _, ok := r.env["revision"]; ok {
		t.Errorf("error envelope carries a revision: %s", r.raw)
	}
	for k := range r.env {
		switch k {
		case "auth_token", "data", "error", "message", "request_id", "status":
		default:
			t.Errorf("unexpected key %q in error envelope %s", k, r.raw)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
