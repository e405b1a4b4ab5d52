package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sipedge/sipedge/bench"
)

func TestFlagsRefused(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{name: "remote target", args: []string{"-target", "192.0.2.7:5060", "-scenario", "options"}, want: "not a loopback"},
		{name: "unknown scenario", args: []string{"-scenario", "subscribe"}, want: "want register, options, call or rtp"},
		{name: "call without users", args: []string{"-scenario", "call", "-realm", "x"}, want: "-users"},
		{name: "call without realm", args: []string{"-scenario", "rtp", "-users", "u%d", "-password", "p%d", "-n", "8"}, want: "-realm"},
		{name: "call with too few users", args: []string{"-scenario", "call", "-realm", "x", "-users", "u%d", "-password", "p%d", "-n", "6"}, want: "-n"},
		{name: "register without users", args: []string{"-realm", "x"}, want: "-users"},
		{name: "range without -n", args: []string{"-realm", "x", "-users", "u%d", "-password", "p%d"}, want: "-n"},
		{name: "register without realm", args: []string{"-users", "u%d", "-password", "p%d", "-n", "4"}, want: "-realm"},
		{name: "bad pid", args: []string{"-scenario", "options", "-pid", "12,x"}, want: "-pid"},
		{name: "stray argument", args: []string{"now"}, want: "unexpected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q before failing", out.String())
			}
		})
	}
}

// sipbench against the trivial responder, end to end: JSON on stdout,
// progress on stderr, every registration through.
func TestRunAgainstResponder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := startResponder(t, ctx)

	var out, errOut bytes.Buffer
	err := run(ctx, []string{"-target", r.Addr().String(), "-realm", "bench.test", "-users", "user%06d", "-password", "secret%06d",
		"-n", "20", "-rate", "200", "-max", "50", "-duration", "5s", "-json", "-refresh"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var res bench.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not a JSON result: %v\n%s", err, out.String())
	}
	if res.Scenario != "register-refresh" || res.Started != 50 || res.Succeeded != 50 || res.Failed != 0 {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(errOut.String(), "warm-up: 20 of 20 users registered") {
		t.Errorf("stderr lacks the warm-up line:\n%s", errOut.String())
	}
}

// -scenario call end to end against the responder: the callees register
// first (not measured), then every call completes; the JSON keeps the
// field names scripts read.
func TestCallAgainstResponder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := startResponder(t, ctx)

	var out, errOut bytes.Buffer
	err := run(ctx, []string{"-scenario", "call", "-target", r.Addr().String(), "-realm", "bench.test", "-users", "user%06d", "-password", "secret%06d",
		"-n", "20", "-rate", "200", "-max", "40", "-duration", "5s", "-json", "-quiet", "-sockets", "2"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not a JSON result: %v\n%s", err, out.String())
	}
	if res["scenario"] != "call" || res["succeeded"] != 40.0 || res["failed"] != 0.0 {
		t.Fatalf("result %s", out.String())
	}
	for _, path := range [][]string{{"achieved_per_s"}, {"retransmissions"}, {"latency", "p50_us"}, {"latency", "p999_us"}, {"call_duration", "p99_us"}, {"calls", "uas_invites"}} {
		var v any = res
		for _, k := range path {
			v = v.(map[string]any)[k]
		}
		if _, ok := v.(float64); !ok {
			t.Errorf("JSON lacks %v:\n%s", path, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "warm-up: 10 of 10 callees registered") {
		t.Errorf("stderr lacks the warm-up line:\n%s", errOut.String())
	}
}

// startResponder runs the trivial responder until the test ends.
func startResponder(t *testing.T, ctx context.Context) *bench.Responder {
	t.Helper()
	r, err := bench.NewResponder("127.0.0.1:0", 2)
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Serve(srvCtx) }()
	t.Cleanup(func() { stop(); <-done })
	return r
}
