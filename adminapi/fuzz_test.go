package adminapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sipedge/sipedge/devices"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// FuzzAdminJSON throws bodies at the device PUT/POST/PATCH routes through
// the real server over an in-memory listener and a real store. Whatever
// the bytes, the answer is a JSON envelope below 500.
func FuzzAdminJSON(f *testing.F) {
	for _, s := range []string{
		`{"data":{"name":"New Device"}}`,
		`{"data":{"name":"d","sip":{"username":"u1","password":"secret1","invite_format":"e164"}}}`,
		`{"data":{"enabled":true,"name":"authn_by_ip","sip":{"invite_format":"e164","ip":"10.0.0.1","method":"ip"}}}`,
		`{"data":{"presence_id":"dis_my_device","sync":true}}`,
		`{"data":{"name":null,"sip":null}}`,
		`{"data":{"name":"x","call_forward":{"number":12,"enabled":"yes"},"media":{"audio":{"codecs":["PCMU",1]}}}}`,
		`{"data":[]}`, `{"data":"x"}`, `[]`, `null`, `{`, ``, `{"data":{"name":"\u0000"}}`,
		`{"data":{"name":"a","hotdesk":{"users":{"x":{}}},"flags":[{}],"sip":{"expire_seconds":1e309}}}`,
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(1), []byte(s))
		f.Add(uint8(2), []byte(s))
	}

	store, err := devices.Open(devices.Options{Path: filepath.Join(f.TempDir(), "fuzz.db")})
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	acct, err := store.CreateAccount(map[string]any{"name": "Fuzz", "realm": "fuzz.sip.example.com"})
	if err != nil {
		f.Fatal(err)
	}
	dev, err := store.CreateDevice(acct.ID, map[string]any{"name": "target"})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(Default(), Deps{Directory: store, AdminToken: testAdminToken,
		Registerer: prometheus.NewRegistry(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			f.Errorf("Serve: %v", err)
		}
	}()
	client := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}

	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(res)
		switch op % 3 {
		case 0:
			req.Header.SetMethod("PUT")
			req.SetRequestURI("http://api/v2/accounts/" + acct.ID + "/devices")
		case 1:
			req.Header.SetMethod("POST")
			req.SetRequestURI("http://api/v2/accounts/" + acct.ID + "/devices/" + dev.ID)
		default:
			req.Header.SetMethod("PATCH")
			req.SetRequestURI("http://api/v2/accounts/" + acct.ID + "/devices/" + dev.ID)
		}
		req.Header.Set("X-Auth-Token", testAdminToken)
		req.Header.SetContentType("application/json")
		req.SetBody(body)
		if err := client.Do(req, res); err != nil {
			t.Fatalf("request failed: %v", err)
		}
		if code := res.StatusCode(); code >= 500 {
			t.Fatalf("status %d for %q: %s", code, body, res.Body())
		}
		if ct := string(res.Header.ContentType()); ct != "application/json" {
			t.Fatalf("content type %q", ct)
		}
	})
}
