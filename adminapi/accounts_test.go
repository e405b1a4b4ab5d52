package adminapi

import (
	"testing"
)

func TestAccountLifecycle(t *testing.T) {
	ta := startAPI(t, nil)
	r := ta.do("PUT", "/v2/accounts", testAdminToken, `{"data":{"name":"Acme","realm":"ACME.sip.example.com"}}`).mustCode(t, 201)
	acct := r.dataMap(t)["id"].(string)
	if rev, _ := r.env["revision"].(string); rev == "" || r.hdr.Get("ETag") != `"`+rev+`"` {
		t.Errorf("create revision/ETag: %q %q", rev, r.hdr.Get("ETag"))
	}
	other := ta.createAccount("Other", "other.sip.example.com")
	path := "/v2/accounts/" + acct

	g := ta.do("GET", path, testAdminToken, "").mustCode(t, 200)
	if g.dataMap(t)["name"] != "Acme" {
		t.Errorf("GET account: %s", g.raw)
	}
	if a, err := ta.store.Account(acct); err != nil || a.Realm != "acme.sip.example.com" {
		t.Errorf("stored account realm: %v %v", a, err)
	}

	// The admin lists every account; an account token only its own.
	list := ta.do("GET", "/v2/accounts", testAdminToken, "").mustCode(t, 200)
	if n := len(list.dataList(t)); n != 2 {
		t.Errorf("admin sees %d accounts, want 2", n)
	}
	tok := ta.token(acct)
	own := ta.do("GET", "/v2/accounts", tok, "").mustCode(t, 200)
	if l := own.dataList(t); len(l) != 1 || l[0].(map[string]any)["id"] != acct {
		t.Errorf("account token sees %s", own.raw)
	}

	p := ta.do("PATCH", path, tok, `{"data":{"name":"Acme Corp"}}`).mustCode(t, 200)
	if p.dataMap(t)["name"] != "Acme Corp" {
		t.Errorf("PATCH: %s", p.raw)
	}
	stale := g.env["revision"].(string)
	ta.do("POST", path, testAdminToken, `{"data":{"name":"X","realm":"acme.sip.example.com"}}`, hdr{"If-Match", `"` + stale + `"`}).mustCode(t, 412)
	post := ta.do("POST", path, testAdminToken, `{"data":{"name":"Acme Inc","realm":"acme.sip.example.com"}}`).mustCode(t, 200)
	if post.dataMap(t)["name"] != "Acme Inc" {
		t.Errorf("POST: %s", post.raw)
	}
	// A duplicate realm is the store's business; it must come back as 4xx.
	dup := ta.do("POST", "/v2/accounts/"+other, testAdminToken, `{"data":{"name":"Other","realm":"acme.sip.example.com"}}`)
	if dup.code != 400 && dup.code != 409 {
		t.Errorf("duplicate realm: %d %s", dup.code, dup.raw)
	}

	ta.createDevice(acct, `{"name":"phone"}`)
	del := ta.do("DELETE", path, testAdminToken, "").mustCode(t, 200)
	if del.dataMap(t)["id"] != acct {
		t.Errorf("DELETE: %s", del.raw)
	}
	if _, err := ta.store.Account(acct); err == nil {
		t.Error("account still stored")
	}
	// Its token died with it.
	errorEnvelope(t, ta.do("GET", "/v2/accounts/"+acct+"/devices", tok, ""), 401, "invalid_credentials",
		map[string]any{"message": "invalid credentials"})
	errorEnvelope(t, ta.do("GET", path, testAdminToken, ""), 404, "bad_identifier",
		map[string]any{"cause": acct, "message": "bad identifier"})
}

func TestTokens(t *testing.T) {
	ta := startAPI(t, nil)
	acct := ta.createAccount("Tok", "tok.sip.example.com")
	r := ta.do("PUT", "/v2/accounts/"+acct+"/tokens", testAdminToken, "").mustCode(t, 201)
	data := r.dataMap(t)
	secret, _ := data["token"].(string)
	id, _ := data["id"].(string)
	if secret == "" || id == "" || data["account_id"] != acct || len(data) != 3 {
		t.Fatalf("token answer %s, want exactly id, account_id, token", r.raw)
	}
	if got, ok := ta.store.TokenAccount(secret); !ok || got != acct {
		t.Errorf("store does not know the secret: %q %v", got, ok)
	}

	l := ta.do("GET", "/v2/accounts/"+acct+"/tokens", secret, "").mustCode(t, 200)
	rows := l.dataList(t)
	if len(rows) != 1 || rows[0].(map[string]any)["id"] != id {
		t.Fatalf("token list %s", l.raw)
	}
	if _, leaked := rows[0].(map[string]any)["token"]; leaked {
		t.Errorf("token list shows the secret: %s", l.raw)
	}

	ta.do("DELETE", "/v2/accounts/"+acct+"/tokens/"+id, testAdminToken, "").mustCode(t, 200)
	if _, ok := ta.store.TokenAccount(secret); ok {
		t.Error("token still valid after DELETE")
	}
	errorEnvelope(t, ta.do("GET", "/v2/accounts/"+acct+"/tokens", secret, ""), 401, "invalid_credentials",
		map[string]any{"message": "invalid credentials"})
	errorEnvelope(t, ta.do("DELETE", "/v2/accounts/"+acct+"/tokens/"+id, testAdminToken, ""), 404, "bad_identifier",
		map[string]any{"cause": id, "message": "bad identifier"})
}
