package adminapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHealth(t *testing.T) {
	ta := startAPI(t, nil)
	r := ta.do("GET", "/livez", "", "").mustCode(t, 200)
	if r.env["status"] != "success" {
		t.Errorf("livez: %s", r.raw)
	}
	ta.do("GET", "/readyz", "", "").mustCode(t, 200)
	ta.ready.Store(false)
	errorEnvelope(t, ta.do("GET", "/readyz", "", ""), 503, "not_ready", map[string]any{"message": "not ready", "ready": false})
	ta.do("GET", "/livez", "", "").mustCode(t, 200)
}

func TestMetrics(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("M", "m.sip.example.com")
	ta.do("GET", "/v2/accounts/"+acct+"/devices/whatever", testAdminToken, "")
	ta.do("GET", "/no/such/path", "", "")
	r := ta.do("GET", "/metrics", "", "").mustCode(t, 200)
	body := string(r.raw)
	for _, want := range []string{
		`sipedge_adminapi_requests_total{code="201",route="/v2/accounts"} 1`,
		`sipedge_adminapi_requests_total{code="404",route="/v2/accounts/{ACCOUNT_ID}/devices/{DEVICE_ID}"} 1`,
		`sipedge_adminapi_requests_total{code="404",route="unmatched"} 1`,
		`sipedge_adminapi_request_duration_seconds_bucket{route="/v2/accounts",le=`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "/devices/whatever") {
		t.Error("a raw path leaked into a label")
	}
	problems, err := testutil.GatherAndLint(ta.prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "sipedge_adminapi_") {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
}

// TestOpenAPIMatchesRoutes fails when a route is missing from the document
// or the document describes an operation the router lacks.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	inRouter := map[string]bool{}
	for _, rt := range routes() {
		key := strings.ToLower(rt.method) + " " + rt.pattern
		inRouter[key] = true
		if _, ok := doc.Paths[rt.pattern][strings.ToLower(rt.method)]; !ok {
			t.Errorf("route %s %s missing from openapi.json", rt.method, rt.pattern)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			if !inRouter[method+" "+path] {
				t.Errorf("openapi.json has %s %s, the router does not", strings.ToUpper(method), path)
			}
		}
	}

	ta := startAPI(t, nil)
	r := ta.do("GET", "/v2/openapi.json", "", "").mustCode(t, 200)
	if string(r.raw) != string(openapiDoc) {
		t.Error("served document differs from the embedded one")
	}
}

// TestRouteTable checks properties of the table itself.
func TestRouteTable(t *testing.T) {
	seen := map[string]bool{}
	for _, rt := range routes() {
		key := rt.method + " " + rt.pattern
		if seen[key] {
			t.Errorf("duplicate route %s", key)
		}
		seen[key] = true
		if rt.handle == nil {
			t.Errorf("%s has no handler", key)
		}
		if strings.Contains(rt.pattern, "{ACCOUNT_ID}") && rt.scope < scopeAccount {
			t.Errorf("%s is account-scoped data but has scope %s", key, rt.scope)
		}
		if rt.body && !slices.Contains([]string{"PUT", "POST", "PATCH"}, rt.method) {
			t.Errorf("%s takes a body on %s", key, rt.method)
		}
	}
}

func TestRouterMatch(t *testing.T) {
	rt := newRouter(routes())
	cases := []struct {
		name, method, path string
		pattern            string
		params             map[string]string
		allow              []string
	}{
		{name: "literal status beats device id", method: "GET", path: "/v2/accounts/A/devices/status",
			pattern: "/v2/accounts/{ACCOUNT_ID}/devices/status", params: map[string]string{"ACCOUNT_ID": "A"}},
		{name: "device id", method: "GET", path: "/v2/accounts/A/devices/D1",
			pattern: "/v2/accounts/{ACCOUNT_ID}/devices/{DEVICE_ID}", params: map[string]string{"ACCOUNT_ID": "A", "DEVICE_ID": "D1"}},
		{name: "DELETE count is a username", method: "DELETE", path: "/v2/accounts/A/registrations/count",
			pattern: "/v2/accounts/{ACCOUNT_ID}/registrations/{USERNAME}", params: map[string]string{"ACCOUNT_ID": "A", "USERNAME": "count"}},
		{name: "trailing slash", method: "GET", path: "/v2/accounts/A/devices/",
			pattern: "/v2/accounts/{ACCOUNT_ID}/devices", params: map[string]string{"ACCOUNT_ID": "A"}},
		{name: "empty segment is no id", method: "GET", path: "/v2/accounts//devices"},
		{name: "wrong verb", method: "PATCH", path: "/v2/accounts", allow: []string{"PUT", "GET"}},
		{name: "unknown", method: "GET", path: "/v3/accounts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, params, allow := rt.match(tc.method, tc.path)
			got := ""
			if r != nil {
				got = r.pattern
			}
			if got != tc.pattern {
				t.Errorf("pattern %q, want %q", got, tc.pattern)
			}
			if canon(t, params) != canon(t, tc.params) && (len(params) != 0 || len(tc.params) != 0) {
				t.Errorf("params %v, want %v", params, tc.params)
			}
			if !slices.Equal(allow, tc.allow) {
				t.Errorf("allow %v, want %v", allow, tc.allow)
			}
		})
	}
}
