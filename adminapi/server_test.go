package adminapi

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"

	"github.com/sipedge/sipedge/devices"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// TestHandlerEmbedded serves Handler() from a caller-owned fasthttp server
// over an in-memory listener.
func TestHandlerEmbedded(t *testing.T) {
	store, err := devices.Open(devices.Options{Path: filepath.Join(t.TempDir(), "h.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	api, err := New(Default(), Deps{Directory: store, AdminToken: testAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: api.Handler()}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		if err := srv.Shutdown(); err != nil {
			t.Error(err)
		}
		<-done
	}()
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	cases := []struct {
		name, method, path, token string
		code                      int
	}{
		{name: "liveness", method: "GET", path: "/livez", code: 200},
		{name: "accounts need a token", method: "GET", path: "/v2/accounts", code: 401},
		{name: "accounts with the admin token", method: "GET", path: "/v2/accounts", token: testAdminToken, code: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(res)
			req.Header.SetMethod(tc.method)
			req.SetRequestURI("http://api" + tc.path)
			if tc.token != "" {
				req.Header.Set("X-Auth-Token", tc.token)
			}
			if err := c.Do(req, res); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != tc.code {
				t.Errorf("status %d, want %d: %s", res.StatusCode(), tc.code, res.Body())
			}
		})
	}
}

// TestServeListenerFailure: a listener that fails is Serve's error, not a
// hang and not a nil.
func TestServeListenerFailure(t *testing.T) {
	store, err := devices.Open(devices.Options{Path: filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	api, err := New(Default(), Deps{Directory: store, AdminToken: testAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := api.Serve(context.Background(), ln); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Serve on a closed listener returned %v", err)
	}
}
