package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sipedge.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigLayers(t *testing.T) {
	file := writeFile(t, "data: /from/file\nsip:\n  listen: 127.0.0.1:5999\napi:\n  listen: 127.0.0.1:8999\nlocation:\n  snapshot_interval: 7s\n")
	tests := []struct {
		name    string
		args    []string
		env     []string
		wantSIP string
		wantAPI string
		data    string
		snap    time.Duration
	}{
		{name: "defaults", wantSIP: ":5060", wantAPI: "127.0.0.1:8000", data: "./data", snap: 30 * time.Second},
		{name: "file", args: []string{"-config", file}, wantSIP: "127.0.0.1:5999", wantAPI: "127.0.0.1:8999", data: "/from/file", snap: 7 * time.Second},
		{name: "env over file", args: []string{"-config", file}, env: []string{"SIPEDGE_SIP_LISTEN=127.0.0.1:6000", "SIPEDGE_LOCATION_SNAPSHOT_INTERVAL=1m", "HOME=/x"},
			wantSIP: "127.0.0.1:6000", wantAPI: "127.0.0.1:8999", data: "/from/file", snap: time.Minute},
		{name: "flags over env", args: []string{"-config", file, "-sip", "127.0.0.1:6001", "-data", "/flag"}, env: []string{"SIPEDGE_SIP_LISTEN=127.0.0.1:6000", "SIPEDGE_DATA=/env"},
			wantSIP: "127.0.0.1:6001", wantAPI: "127.0.0.1:8999", data: "/flag", snap: 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig(o, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.SIP.Listen != tc.wantSIP || cfg.API.Listen != tc.wantAPI || cfg.Data != tc.data || cfg.Location.SnapshotInterval != tc.snap {
				t.Errorf("got sip=%q api=%q data=%q snap=%s", cfg.SIP.Listen, cfg.API.Listen, cfg.Data, cfg.Location.SnapshotInterval)
			}
		})
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		want string
	}{
		{name: "unknown top-level key", file: "dta: ./x\n", want: "dta"},
		{name: "unknown nested key", file: "sip:\n  lisen: :5060\n", want: "lisen"},
		{name: "unknown env var", env: []string{"SIPEDGE_SIP_LISEN=:5060"}, want: "SIPEDGE_SIP_LISEN"},
		{name: "bad duration in env", env: []string{"SIPEDGE_SHUTDOWN_GRACE=soon"}, want: "SIPEDGE_SHUTDOWN_GRACE"},
		{name: "bad float in env", env: []string{"SIPEDGE_API_RATE_LIMIT=fast"}, want: "SIPEDGE_API_RATE_LIMIT"},
		{name: "bad log level", file: "log:\n  level: loud\n", want: "log.level"},
		{name: "bad value", file: "location:\n  expire_interval: -1s\n", want: "location.expire_interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.file != "" {
				args = []string{"-config", writeFile(t, tc.file)}
			}
			o, err := parseFlags(args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = loadConfig(o, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not name %q", err, tc.want)
			}
		})
	}
}

func TestEnvSetsEveryKind(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(o, []string{
		"SIPEDGE_API_RATE_LIMIT=12.5", "SIPEDGE_REGISTRAR_ALGORITHMS=MD5, SHA-256",
		"SIPEDGE_SIP_MAX_INFLIGHT=42", "SIPEDGE_NOTIFY_DETAIL=true", "SIPEDGE_SHUTDOWN_LAMEDUCK=1s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.RateLimit != 12.5 || strings.Join(cfg.Registrar.Algorithms, ",") != "MD5,SHA-256" ||
		cfg.SIP.MaxInflight != 42 || !cfg.Notify.Detail || cfg.Shutdown.Lameduck != time.Second {
		t.Fatalf("env not applied: %+v %+v %+v %+v %+v", cfg.API, cfg.Registrar.Algorithms, cfg.SIP.MaxInflight, cfg.Notify, cfg.Shutdown)
	}
}

func TestCheckConfig(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-check-config", "-config", writeFile(t, "")}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "configuration ok") {
		t.Fatalf("output %q", out.String())
	}
	out.Reset()
	err := run(t.Context(), []string{"-check-config", "-config", writeFile(t, "bogus: 1\n")}, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("want an error naming bogus, got %v", err)
	}
}

func TestEnvNamesCoverFlags(t *testing.T) {
	names := strings.Join(envNames(), " ")
	for _, want := range []string{"SIPEDGE_DATA", "SIPEDGE_SIP_LISTEN", "SIPEDGE_API_LISTEN", "SIPEDGE_ADMIN_TOKEN", "SIPEDGE_LOG_LEVEL"} {
		if !strings.Contains(names, want) {
			t.Errorf("%s missing from %s", want, names)
		}
	}
}
