package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

const testRealm = "acme.example.com"

// registerPhone registers user over transport with digest auth, the way a
// phone does: REGISTER, 401, REGISTER with credentials. The phone stays up
// until the test ends: closing a TCP phone's connection removes its binding.
func registerPhone(t *testing.T, p *proc, transport, user, pass string) {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("RestartPhone/1.0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	cl, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	dst := p.sipUDP
	if transport == "TCP" {
		dst = p.sipTCP
	}
	aor := sip.Uri{Scheme: "sip", User: user, Host: testRealm}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: testRealm})
	fromParams := sip.NewParams()
	fromParams.Add("tag", "t-"+user)
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: fromParams})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "192.0.2.7", Port: 5062}})
	req.AppendHeader(sip.NewHeader("Expires", "3600"))
	req.AppendHeader(sip.NewHeader("User-Agent", "RestartPhone/1.0"))
	req.SetTransport(transport)
	req.SetDestination(dst)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cl.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 401 {
		t.Fatalf("first REGISTER: %s", res.Short())
	}
	res, err = cl.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER with credentials: %s", res.Short())
	}
}

func registrations(t *testing.T, p *proc, acct string) map[string]map[string]any {
	t.Helper()
	code, env := p.do(t, "GET", "/v2/accounts/"+acct+"/registrations", "")
	if code != 200 {
		t.Fatalf("registrations: %d %v", code, env)
	}
	out := map[string]map[string]any{}
	for _, r := range env["data"].([]any) {
		rec := r.(map[string]any)
		out[rec["username"].(string)] = rec
	}
	return out
}

func provision(t *testing.T, p *proc, users ...string) string {
	t.Helper()
	code, env := p.do(t, "PUT", "/v2/accounts", `{"data":{"name":"acme","realm":"`+testRealm+`"}}`)
	if code != 201 {
		t.Fatalf("create account: %d %v", code, env)
	}
	acct := dataID(t, env)
	for _, u := range users {
		code, env := p.do(t, "PUT", "/v2/accounts/"+acct+"/devices",
			fmt.Sprintf(`{"data":{"name":"%s","sip":{"username":"%s","password":"pw-%s"}}}`, u, u, u))
		if code != 201 {
			t.Fatalf("create device %s: %d %v", u, code, env)
		}
	}
	return acct
}

// TestRestartKeepsRegistrations: bindings survive a graceful restart (the
// snapshot written on shutdown) and a kill -9 (the periodic snapshot).
func TestRestartKeepsRegistrations(t *testing.T) {
	data := t.TempDir()
	snapEnv := "SIPEDGE_LOCATION_SNAPSHOT_INTERVAL=100ms"
	p := startProc(t, data, snapEnv)
	acct := provision(t, p, "alice", "bob", "carol")
	registerPhone(t, p, "UDP", "alice", "pw-alice")
	registerPhone(t, p, "TCP", "bob", "pw-bob")
	before := registrations(t, p, acct)
	if len(before) != 2 {
		t.Fatalf("before restart: %d registrations", len(before))
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.logTail)
	}

	p = startProc(t, data, snapEnv)
	after := registrations(t, p, acct)
	if len(after) != 2 {
		t.Fatalf("after graceful restart: %d registrations\n%s", len(after), p.logTail)
	}
	for user, rec := range before {
		for _, k := range []string{"contact", "call_id", "user_agent", "source_ip", "source_port", "proxy_protocol", "initial_registration"} {
			if fmt.Sprint(after[user][k]) != fmt.Sprint(rec[k]) {
				t.Errorf("%s %s: %v after restart, %v before", user, k, after[user][k], rec[k])
			}
		}
	}

	// A binding made after the restart is on disk once a periodic snapshot
	// ran; wait for that event (the file changing), then kill -9.
	snap := filepath.Join(data, "location.snap")
	st0, err := os.Stat(snap)
	if err != nil {
		t.Fatal(err)
	}
	registerPhone(t, p, "UDP", "carol", "pw-carol")
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := os.Stat(snap)
		if err == nil && st.ModTime().After(st0.ModTime()) && st.Size() > st0.Size() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no snapshot with carol's binding")
		}
		time.Sleep(20 * time.Millisecond) // polling the file, bounded by the deadline
	}
	_ = p.stop(t, syscall.SIGKILL)

	p = startProc(t, data, snapEnv)
	if got := registrations(t, p, acct); len(got) != 3 {
		t.Fatalf("after kill -9: %d registrations, want 3", len(got))
	}
}

// TestCredentialChangeFlushes: a new password through the API removes the
// device's bindings at once, so the phone must authenticate again.
func TestCredentialChangeFlushes(t *testing.T) {
	p := startProc(t, t.TempDir())
	acct := provision(t, p, "dave", "erin")
	registerPhone(t, p, "UDP", "dave", "pw-dave")
	registerPhone(t, p, "TCP", "erin", "pw-erin")
	regs := registrations(t, p, acct)
	dave, _ := regs["dave"]["authorizing_id"].(string)
	if len(regs) != 2 || dave == "" {
		t.Fatalf("registrations before: %v", regs)
	}
	code, env := p.do(t, "PATCH", "/v2/accounts/"+acct+"/devices/"+dave, `{"data":{"sip":{"password":"a-new-secret"}}}`)
	if code != 200 {
		t.Fatalf("patch: %d %v", code, env)
	}
	regs = registrations(t, p, acct)
	if _, still := regs["dave"]; still || len(regs) != 1 {
		t.Fatalf("after password change: %v", regs)
	}
	registerPhone(t, p, "UDP", "dave", "a-new-secret")
	if regs = registrations(t, p, acct); len(regs) != 2 {
		t.Fatalf("after re-registering: %v", regs)
	}
}
