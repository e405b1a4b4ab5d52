package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// importCmd runs "sipedge import args..." with stdin and returns its exit
// stdout, stderr and exit error.
func importCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"import"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

var createdAccount = regexp.MustCompile(`created account ([0-9a-f]{32}) with realm ` + regexp.QuoteMeta(testRealm))

// TestImportThenServe: devices imported into a stopped sipedge's data dir
// are there for the API and for REGISTER once it starts, and an import
// into the data dir of a running sipedge is refused.
func TestImportThenServe(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "devices.jsonl")
	const keptID = "00112233445566778899aabbccddeeff"
	lines := []string{
		`{"data":{"name":"alice phone","sip":{"username":"alice","password":"alice-secret"}},"auth_token":"x","status":"success"}`,
		``,
		`{"id":"` + keptID + `","name":"bob phone","sip":{"username":"bob","password":"bob-secret"},"mac_address":"00:04:f2:ab:7e:fd"}`,
		`{"name":"trunk","sip":{"method":"ip","ip":"192.0.2.10"}}`,
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := importCmd(t, "", "-data", data, "-realm", testRealm, file)
	if err != nil {
		t.Fatalf("import: %v\n%s%s", err, stdout, stderr)
	}
	m := createdAccount.FindStringSubmatch(stdout)
	if m == nil || !strings.Contains(stdout, "imported 3 devices into account "+m[1]) {
		t.Fatalf("import output:\n%s", stdout)
	}
	acct := m[1]

	p := startProc(t, data)
	code, env := p.do(t, "GET", "/v2/accounts/"+acct+"/devices", "")
	if list, _ := env["data"].([]any); code != 200 || len(list) != 3 {
		t.Fatalf("device list: %d %v", code, env)
	}
	code, env = p.do(t, "GET", "/v2/accounts/"+acct+"/devices/"+keptID, "")
	if code != 200 {
		t.Fatalf("imported device by its own id: %d %v", code, env)
	}
	d := env["data"].(map[string]any)
	sip, _ := d["sip"].(map[string]any)
	// Schema defaults were filled as on PUT.
	if d["name"] != "bob phone" || sip["username"] != "bob" || sip["invite_format"] != "username" || d["enabled"] != true {
		t.Errorf("imported device: %v", d)
	}
	registerPhone(t, p, "UDP", "alice", "alice-secret")
	code, env = p.do(t, "GET", "/v2/accounts/"+acct+"/registrations/count", "")
	if n, _ := env["data"].(map[string]any)["count"].(float64); code != 200 || n != 1 {
		t.Errorf("registrations after an imported phone registered: %d %v", code, env)
	}

	_, stderr, err = importCmd(t, lines[3]+"\n", "-data", data, "-account", acct, "-")
	if err == nil || !strings.Contains(stderr, "data directory in use") {
		t.Errorf("import into a running sipedge's data dir: %v\n%s", err, stderr)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.logTail)
	}
}

// TestImportRefusesBadDocument: a refused document names its line and
// Kazoo's validation error, and the import leaves nothing behind, not even
// the account it created.
func TestImportRefusesBadDocument(t *testing.T) {
	data := t.TempDir()
	bad := `{"name":"a","sip":{"username":"alice","password":"xsecret"}}` + "\n" +
		"\n" +
		`{"data":{"name":"b","sip":{"username":"ALICE","password":"ysecret"}}}` + "\n"
	stdout, stderr, err := importCmd(t, bad, "-data", data, "-realm", testRealm, "-")
	if err == nil {
		t.Fatalf("duplicate username imported:\n%s", stdout)
	}
	for _, want := range []string{"stdin line 3", `"sip.username":{"unique":`, "SIP credentials already in use"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error output lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stdout, "created account") {
		t.Errorf("a refused import reports an account:\n%s", stdout)
	}

	// The realm is free again and alice was not stored: the same first
	// document now goes in.
	good := `{"name":"a","sip":{"username":"alice","password":"xsecret"}}` + "\n"
	stdout, stderr, err = importCmd(t, good, "-data", data, "-realm", testRealm, "-")
	if err != nil || !createdAccount.MatchString(stdout) || !strings.Contains(stdout, "imported 1 devices") {
		t.Fatalf("import after a refused one: %v\n%s%s", err, stdout, stderr)
	}

	_, stderr, err = importCmd(t, "{not json\n", "-data", data, "-realm", "other.example.com", "-")
	if err == nil || !strings.Contains(stderr, "stdin line 1: not a JSON object") {
		t.Errorf("malformed line: %v\n%s", err, stderr)
	}
}
