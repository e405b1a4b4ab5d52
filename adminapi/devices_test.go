package adminapi

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/sipedge/sipedge/devices"
)

// TestSeedCreateDevice sends the seed's minimal create and expects exactly
// the seed's answer plus the generated id.
func TestSeedCreateDevice(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Seed", "seed.sip.example.com")
	r := ta.do("PUT", "/v2/accounts/"+acct+"/devices", testAdminToken, `{"data":{"name":"New Device"}}`).mustCode(t, 201)
	got := r.dataMap(t)
	id, _ := got["id"].(string)
	if id == "" {
		t.Fatalf("no id in %s", r.raw)
	}
	want := readJSONFile(t, "seed_new_device.json").(map[string]any)
	want["id"] = id
	if canon(t, got) != canon(t, want) {
		t.Errorf("create answer data:\n%s\nwant:\n%s", canon(t, got), canon(t, want))
	}
	if r.env["status"] != "success" || r.env["auth_token"] != testAdminToken {
		t.Errorf("envelope: %s", r.raw)
	}
	rev, _ := r.env["revision"].(string)
	if rev == "" || r.hdr.Get("ETag") != `"`+rev+`"` {
		t.Errorf("revision %q, ETag %q: want the quoted revision", rev, r.hdr.Get("ETag"))
	}

	// The stored document reads back the same.
	g := ta.do("GET", "/v2/accounts/"+acct+"/devices/"+id, testAdminToken, "").mustCode(t, 200)
	if canon(t, g.data()) != canon(t, want) {
		t.Errorf("GET data:\n%s\nwant:\n%s", canon(t, g.data()), canon(t, want))
	}
	d, err := ta.store.Device(acct, id)
	if err != nil || d.Doc()["name"] != "New Device" {
		t.Errorf("store: %v, %v", d, err)
	}
}

func TestSeedAuthnByIPDevice(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Seed", "seed.sip.example.com")
	body := `{"data":{"enabled":true,"name":"authn_by_ip","sip":{"invite_format":"e164", "ip":"198.51.100.7","method":"ip"}}}`
	r := ta.do("PUT", "/v2/accounts/"+acct+"/devices", testAdminToken, body).mustCode(t, 201)
	got := r.dataMap(t)
	want := readJSONFile(t, "seed_authn_by_ip.json", "{IP_ADDRESS}", "198.51.100.7").(map[string]any)
	want["id"] = got["id"]
	if canon(t, got) != canon(t, want) {
		t.Errorf("data:\n%s\nwant:\n%s", canon(t, got), canon(t, want))
	}
}

// TestSeedPostThenPatch replays the seed's POST (full replace, renamed) and
// PATCH (presence_id) and expects the seed's PATCH answer.
func TestSeedPostThenPatch(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Seed", "seed.sip.example.com")
	id := ta.createDevice(acct, `{"name":"New Device"}`)
	path := "/v2/accounts/" + acct + "/devices/" + id

	post := readJSONFile(t, "seed_post_device.json")
	r := ta.do("POST", path, testAdminToken, canon(t, post)).mustCode(t, 200)
	if n := r.dataMap(t)["name"]; n != "new device" {
		t.Errorf("POST name %v", n)
	}
	if got := r.dataMap(t)["id"]; got != id {
		t.Errorf("POST changed the id to %v", got)
	}

	// curl's default content type, as in the seed's PATCH example.
	r = ta.do("PATCH", path, testAdminToken, `{"data":{"presence_id":"dis_my_device"}}`,
		hdr{"Content-Type", "application/x-www-form-urlencoded"}).mustCode(t, 200)
	want := readJSONFile(t, "seed_patched_device.json").(map[string]any)
	want["id"] = id
	if canon(t, r.data()) != canon(t, want) {
		t.Errorf("PATCH data:\n%s\nwant:\n%s", canon(t, r.data()), canon(t, want))
	}
	d, err := ta.store.Device(acct, id)
	if err != nil || d.Doc()["presence_id"] != "dis_my_device" {
		t.Errorf("stored presence_id: %v %v", d, err)
	}
}

func TestSeedUserDevicesHotdesk(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Seed", "seed.sip.example.com")
	user := strings.Repeat("a", 32)
	owner := strings.Repeat("b", 32)
	d1 := ta.createDevice(acct, `{"name":"USER_ID_DEVICE","owner_id":"`+user+`"}`)
	d2 := ta.createDevice(acct, `{"name":"OWNER_ID_DEVICE","owner_id":"`+owner+`","hotdesk":{"users":{"`+user+`":{}}}}`)
	ta.createDevice(acct, `{"name":"UNRELATED","owner_id":"`+owner+`"}`)

	r := ta.do("GET", "/v2/accounts/"+acct+"/users/"+user+"/devices", testAdminToken, "").mustCode(t, 200)
	want := []any{
		map[string]any{"device_type": "sip_device", "enabled": true, "hotdesked": false, "id": d1,
			"mac_address": "", "name": "USER_ID_DEVICE", "owner_id": user},
		map[string]any{"device_type": "sip_device", "enabled": true, "hotdesked": true, "id": d2,
			"mac_address": "", "name": "OWNER_ID_DEVICE", "owner_id": owner},
	}
	got := r.dataList(t)
	// Order is by name; compare as a set keyed by id.
	byID := map[any]any{}
	for _, g := range got {
		byID[g.(map[string]any)["id"]] = g
	}
	if len(got) != 2 {
		t.Fatalf("got %d devices, want 2: %s", len(got), r.raw)
	}
	for _, w := range want {
		if canon(t, byID[w.(map[string]any)["id"]]) != canon(t, w) {
			t.Errorf("row:\n%s\nwant:\n%s", canon(t, byID[w.(map[string]any)["id"]]), canon(t, w))
		}
	}
	if _, ok := r.env["page_size"]; ok {
		t.Errorf("user devices carry paging keys: %s", r.raw)
	}
}

func TestDeviceListingSummary(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Seed", "seed.sip.example.com")
	id := ta.createDevice(acct, `{"name":"MyPolycom","enabled":false,"mac_address":"00:04:f2:ab:7e:fd"}`)
	id2 := ta.createDevice(acct, `{"name":"Yealink","sip":{"username":"user_abc","password":"s3cretpass"},"owner_id":"`+strings.Repeat("c", 32)+`","flags":["vip"],"device_type":"softphone"}`)
	r := ta.do("GET", "/v2/accounts/"+acct+"/devices", testAdminToken, "").mustCode(t, 200)
	want := []any{
		map[string]any{"device_type": "sip_device", "enabled": false, "id": id, "mac_address": "00:04:f2:ab:7e:fd",
			"name": "MyPolycom", "flags": []any{}},
		map[string]any{"device_type": "softphone", "enabled": true, "id": id2, "mac_address": "",
			"name": "Yealink", "flags": []any{"vip"}, "username": "user_abc", "owner_id": strings.Repeat("c", 32)},
	}
	if canon(t, r.data()) != canon(t, want) {
		t.Errorf("listing:\n%s\nwant:\n%s", canon(t, r.data()), canon(t, want))
	}
	if r.env["page_size"] != float64(2) {
		t.Errorf("page_size = %v, want 2", r.env["page_size"])
	}
	if _, ok := r.env["next_start_key"]; ok {
		t.Errorf("next_start_key on the last page: %s", r.raw)
	}
	if rev, _ := r.env["revision"].(string); len(rev) != 32 {
		t.Errorf("list revision %q, want an MD5 hex", rev)
	}
}

// TestPagination walks 7 devices 3 at a time through next_start_key.
func TestPagination(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Paging", "paging.sip.example.com")
	var names []string
	for i := range 7 {
		n := fmt.Sprintf("dev-%d", i)
		ta.createDevice(acct, `{"name":"`+n+`"}`)
		names = append(names, n)
	}
	var seen []string
	var sizes []any
	key := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("pagination does not terminate")
		}
		q := "?page_size=3"
		if key != "" {
			q += "&start_key=" + key
		}
		r := ta.do("GET", "/v2/accounts/"+acct+"/devices"+q, testAdminToken, "").mustCode(t, 200)
		for _, row := range r.dataList(t) {
			seen = append(seen, row.(map[string]any)["name"].(string))
		}
		sizes = append(sizes, r.env["page_size"])
		if key != "" && r.env["start_key"] != key {
			t.Errorf("start_key %v, want %q", r.env["start_key"], key)
		}
		next, ok := r.env["next_start_key"].(string)
		if !ok {
			break
		}
		key = next
	}
	if strings.Join(seen, ",") != strings.Join(names, ",") {
		t.Errorf("walked %v, want %v", seen, names)
	}
	if canon(t, sizes) != canon(t, []any{3, 3, 1}) {
		t.Errorf("page sizes %v, want [3 3 1]", sizes)
	}

	r := ta.do("GET", "/v2/accounts/"+acct+"/devices?paginate=false&page_size=2", testAdminToken, "").mustCode(t, 200)
	if n := len(r.dataList(t)); n != 7 {
		t.Errorf("paginate=false returned %d rows, want 7", n)
	}
	for _, k := range []string{"page_size", "next_start_key", "start_key"} {
		if _, ok := r.env[k]; ok {
			t.Errorf("paginate=false answer has %s", k)
		}
	}
}

func TestFilters(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Filters", "filters.sip.example.com")
	ta.createDevice(acct, `{"name":"alpha","sip":{"username":"alpha","password":"passw0rd1","invite_format":"e164"},"presence_id":"1001"}`)
	ta.createDevice(acct, `{"name":"bravo","sip":{"username":"bravo","password":"passw0rd2"},"enabled":false}`)
	ta.createDevice(acct, `{"name":"charlie","mac_address":"00:11:22:33:44:55","presence_id":""}`)
	cases := []struct {
		name, query string
		want        string
	}{
		{name: "filter on nested path", query: "filter_sip.invite_format=e164", want: "alpha"},
		{name: "filter on boolean", query: "filter_enabled=false", want: "bravo"},
		{name: "filter not", query: "filter_not_enabled=false", want: "alpha,charlie"},
		{name: "filter JSON array is membership", query: `filter_sip.username=["alpha","bravo"]`, want: "alpha,bravo"},
		{name: "missing key compares as empty", query: "filter_mac_address=", want: "alpha,bravo"},
		{name: "has_key", query: "has_key=presence_id", want: "alpha,charlie"},
		{name: "key_missing", query: "key_missing=presence_id", want: "bravo"},
		{name: "has_value", query: "has_value=presence_id", want: "alpha"},
		{name: "value_missing", query: "value_missing=presence_id", want: "bravo,charlie"},
		{name: "filters are ANDed", query: "has_key=sip.username&filter_enabled=true", want: "alpha"},
		{name: "unknown params ignored", query: "foo=bar", want: "alpha,bravo,charlie"},
		{name: "created_from in the future", query: "created_from=99999999999", want: ""},
		{name: "created_to in the future", query: "created_to=99999999999", want: "alpha,bravo,charlie"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ta.do("GET", "/v2/accounts/"+acct+"/devices?"+urlQuery(tc.query), testAdminToken, "").mustCode(t, 200)
			var got []string
			for _, row := range r.dataList(t) {
				got = append(got, row.(map[string]any)["name"].(string))
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("%s: got %q, want %q", tc.query, strings.Join(got, ","), tc.want)
			}
		})
	}
}

// urlQuery escapes the values of a readable query string.
func urlQuery(q string) string {
	var parts []string
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		parts = append(parts, k+"="+strings.NewReplacer(`"`, "%22", "[", "%5B", "]", "%5D", ",", "%2C").Replace(v))
	}
	return strings.Join(parts, "&")
}

func TestDeviceLifecycle(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Life", "life.sip.example.com")
	id := ta.createDevice(acct, `{"name":"phone","sip":{"username":"u100","password":"secret1"}}`)
	path := "/v2/accounts/" + acct + "/devices/" + id

	g := ta.do("GET", path, testAdminToken, "").mustCode(t, 200)
	rev1, _ := g.env["revision"].(string)

	// "sync" is an action flag and never stored.
	p := ta.do("PATCH", path, testAdminToken, `{"data":{"name":"phone2","sync":true}}`).mustCode(t, 200)
	if _, ok := p.dataMap(t)["sync"]; ok {
		t.Errorf("sync stored: %s", p.raw)
	}
	rev2, _ := p.env["revision"].(string)
	if rev2 == rev1 || rev2 == "" {
		t.Errorf("revision did not change on PATCH: %q -> %q", rev1, rev2)
	}

	// If-Match with the old revision is refused and nothing changes.
	stale := ta.do("POST", path, testAdminToken, `{"data":{"name":"stale"}}`, hdr{"If-Match", `"` + rev1 + `"`})
	stale.mustCode(t, 412)
	if stale.env["status"] != "error" || stale.env["error"] != "412" {
		t.Errorf("412 envelope: %s", stale.raw)
	}
	if d, _ := ta.store.Device(acct, id); d.Doc()["name"] != "phone2" {
		t.Errorf("stale write applied: name %v", d.Doc()["name"])
	}
	// The current revision is accepted.
	ok := ta.do("POST", path, testAdminToken, `{"data":{"name":"fresh","sync":true}}`, hdr{"If-Match", `"` + rev2 + `"`}).mustCode(t, 200)
	if ok.dataMap(t)["name"] != "fresh" {
		t.Errorf("POST: %s", ok.raw)
	}
	sip, _ := ok.dataMap(t)["sip"].(map[string]any)
	if _, has := sip["username"]; has {
		t.Errorf("POST is a full replacement, sip.username survived: %s", ok.raw)
	}

	del := ta.do("DELETE", path, testAdminToken, "").mustCode(t, 200)
	if del.dataMap(t)["id"] != id {
		t.Errorf("DELETE data: %s", del.raw)
	}
	if _, err := ta.store.Device(acct, id); err == nil {
		t.Error("device still stored after DELETE")
	}
	errorEnvelope(t, ta.do("GET", path, testAdminToken, ""), 404, "bad_identifier",
		map[string]any{"cause": id, "message": "bad identifier"})
}

func TestDeviceActionsNotImplemented(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Act", "act.sip.example.com")
	id := ta.createDevice(acct, `{"name":"phone"}`)
	for _, tc := range []struct{ name, method, path, body string }{
		{name: "device sync", method: "POST", path: "/devices/" + id + "/sync"},
		{name: "device notify", method: "PUT", path: "/devices/" + id + "/notify", body: `{"action":"notify","data":{"event":"check-sync"}}`},
		{name: "account sync", method: "POST", path: "/devices/sync"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errorEnvelope(t, ta.do(tc.method, "/v2/accounts/"+acct+tc.path, testAdminToken, tc.body),
				501, "not_implemented", map[string]any{"message": "not implemented"})
		})
	}
}

// syncSpy is the real store with the device writes' input recorded, to see
// what the store is handed.
type syncSpy struct {
	*devices.Store
	mu   sync.Mutex
	seen []map[string]any
}

func (s *syncSpy) record(doc map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, maps.Clone(doc))
}

func (s *syncSpy) CreateDevice(a string, doc map[string]any) (*devices.Device, error) {
	s.record(doc)
	return s.Store.CreateDevice(a, doc)
}

func (s *syncSpy) ReplaceDevice(a, id string, doc map[string]any, ifMatch string) (*devices.Device, error) {
	s.record(doc)
	return s.Store.ReplaceDevice(a, id, doc, ifMatch)
}

func (s *syncSpy) PatchDevice(a, id string, doc map[string]any, ifMatch string) (*devices.Device, error) {
	s.record(doc)
	return s.Store.PatchDevice(a, id, doc, ifMatch)
}

func TestSyncStrippedBeforeStore(t *testing.T) {
	spy := &syncSpy{}
	ta := startAPI(t, nil, func(_ *Config, d *Deps, st *devices.Store) {
		spy.Store = st
		d.Directory = spy
	})
	acct := ta.createAccount("Sync", "sync.sip.example.com")
	id := ta.createDevice(acct, `{"name":"phone","sync":true}`)
	path := "/v2/accounts/" + acct + "/devices/" + id
	ta.do("POST", path, testAdminToken, `{"data":{"name":"phone","sync":true}}`).mustCode(t, 200)
	ta.do("PATCH", path, testAdminToken, `{"data":{"sync":true,"presence_id":"p"}}`).mustCode(t, 200)
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.seen) != 3 {
		t.Fatalf("store saw %d writes, want 3", len(spy.seen))
	}
	for i, doc := range spy.seen {
		if _, ok := doc["sync"]; ok {
			t.Errorf("write %d handed the store sync: %v", i, doc)
		}
	}
}
