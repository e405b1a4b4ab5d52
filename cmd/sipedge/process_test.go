package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sipedge-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "sipedge")
	args := []string{"build", "-o", binary}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testToken = "test-admin-token"

// proc is a running sipedge process.
type proc struct {
	cmd     *exec.Cmd
	api     string // host:port of the admin API
	sipUDP  string
	sipTCP  string
	exited  chan error
	logTail *logBuffer
}

// logBuffer keeps the first 64 KiB of the process's log; the reader
// goroutine writes while the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) add(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 64<<10 {
		l.b.Write(line)
		l.b.WriteByte('\n')
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProc runs the binary on loopback ports chosen by the kernel and
// waits for its "sipedge started" log line, which names them.
func startProc(t *testing.T, data string, extraEnv ...string) *proc {
	t.Helper()
	return startProcArgs(t, data, nil, extraEnv...)
}

// startProcArgs is startProc with more flags.
func startProcArgs(t *testing.T, data string, args []string, extraEnv ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"-data", data, "-sip", "127.0.0.1:0", "-api", "127.0.0.1:0", "-log-format", "json"}, args...)...)
	cmd.Env = append([]string{"SIPEDGE_ADMIN_TOKEN=" + testToken, "PATH=" + os.Getenv("PATH")}, extraEnv...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan error, 1), logTail: &logBuffer{}}
	started := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.logTail.add(line)
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && rec["msg"] == "sipedge started" {
				started <- rec
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	select {
	case rec := <-started:
		p.api, _ = rec["api"].(string)
		p.sipUDP, _ = rec["sip_udp"].(string)
		p.sipTCP, _ = rec["sip_tcp"].(string)
	case err := <-p.exited:
		t.Fatalf("sipedge exited before starting: %v\n%s", err, p.logTail)
	case <-time.After(30 * time.Second): // a bound, not a synchronisation: the start line ends the wait
		t.Fatalf("sipedge did not start\n%s", p.logTail)
	}
	return p
}

// stop sends sig and waits for the process to exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("sipedge did not exit on %v\n%s", sig, p.logTail)
		return nil
	}
}

func (p *proc) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.api+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env map[string]any
	b, _ := io.ReadAll(res.Body)
	if len(b) > 0 && json.Unmarshal(b, &env) != nil {
		t.Fatalf("%s %s: body is not JSON: %s", method, path, b)
	}
	return res.StatusCode, env
}

func dataID(t *testing.T, env map[string]any) string {
	t.Helper()
	d, _ := env["data"].(map[string]any)
	id, _ := d["id"].(string)
	if len(id) != 32 {
		t.Fatalf("no id in %v", env)
	}
	return id
}

func TestServesWithNoConfig(t *testing.T) {
	p := startProc(t, t.TempDir())
	for _, path := range []string{"/livez", "/readyz"} {
		res, err := http.Get("http://" + p.api + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.logTail)
	}
}

func TestGeneratedAdminTokenIsKept(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(binary, "-data", data, "-sip", "127.0.0.1:0", "-api", "127.0.0.1:0", "-check-config")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// -check-config must not create secrets; a real start does.
	if _, err := os.Stat(filepath.Join(data, "admin_token")); err == nil {
		t.Fatal("check-config wrote an admin token")
	}
	p := startProcNoToken(t, data)
	st, err := os.Stat(filepath.Join(data, "admin_token"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("admin_token mode %v", st.Mode().Perm())
	}
	tok, _ := os.ReadFile(filepath.Join(data, "admin_token"))
	if !strings.Contains(p.logTail.String(), strings.TrimSpace(string(tok))) {
		t.Error("generated token was not printed on first start")
	}
	_ = p.stop(t, syscall.SIGTERM)
	p2 := startProcNoToken(t, data)
	if strings.Contains(p2.logTail.String(), strings.TrimSpace(string(tok))) {
		t.Error("token printed again on the second start")
	}
	req, _ := http.NewRequest("GET", "http://"+p2.api+"/v2/accounts", nil)
	req.Header.Set("X-Auth-Token", strings.TrimSpace(string(tok)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("stored token refused: %d", res.StatusCode)
	}
}

func startProcNoToken(t *testing.T, data string) *proc {
	t.Helper()
	// An empty SIPEDGE_ADMIN_TOKEN means "use the stored or generated one".
	return startProc(t, data, "SIPEDGE_ADMIN_TOKEN=")
}

func TestKill9KeepsAccountsAndDevices(t *testing.T) {
	data := t.TempDir()
	p := startProc(t, data)
	code, env := p.do(t, "PUT", "/v2/accounts", `{"data":{"name":"acme","realm":"acme.example.com"}}`)
	if code != 201 {
		t.Fatalf("create account: %d %v", code, env)
	}
	acct := dataID(t, env)
	var ids []string
	for i := range 5 {
		code, env := p.do(t, "PUT", "/v2/accounts/"+acct+"/devices",
			fmt.Sprintf(`{"data":{"name":"phone %d","sip":{"username":"user%d","password":"secret%d"}}}`, i, i, i))
		if code != 201 {
			t.Fatalf("create device: %d %v", code, env)
		}
		ids = append(ids, dataID(t, env))
	}
	_ = p.stop(t, syscall.SIGKILL)

	p2 := startProc(t, data)
	for i, id := range ids {
		code, env := p2.do(t, "GET", "/v2/accounts/"+acct+"/devices/"+id, "")
		if code != 200 {
			t.Fatalf("device %s after kill -9: %d %v", id, code, env)
		}
		d := env["data"].(map[string]any)
		if d["name"] != fmt.Sprintf("phone %d", i) {
			t.Errorf("device %s name %v", id, d["name"])
		}
	}
}

// TestCorruptSnapshotIsSkipped: a damaged location snapshot costs the
// registrations it held, never the start; it is kept aside for inspection.
func TestCorruptSnapshotIsSkipped(t *testing.T) {
	data := t.TempDir()
	snap := filepath.Join(data, "location.snap")
	if err := os.WriteFile(snap, []byte("not a snapshot at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, data)
	if code, env := p.do(t, "GET", "/v2/accounts", ""); code != 200 {
		t.Fatalf("API after a corrupt snapshot: %d %v", code, env)
	}
	if _, err := os.Stat(snap + ".corrupt"); err != nil {
		t.Errorf("corrupt snapshot not kept aside: %v", err)
	}
	if !strings.Contains(p.logTail.String(), "location snapshot unreadable") {
		t.Errorf("corrupt snapshot not reported:\n%s", p.logTail)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	// The shutdown wrote a fresh, readable snapshot in its place.
	if _, err := os.Stat(snap); err != nil {
		t.Errorf("no snapshot after shutdown: %v", err)
	}
}

// TestUnfinishedSnapshotsRemoved: a process killed while saving leaves a
// temp file as large as the snapshot; the next start deletes it, and keeps
// everything else in the data directory.
func TestUnfinishedSnapshotsRemoved(t *testing.T) {
	data := t.TempDir()
	left := filepath.Join(data, "location.snap.tmp-2750165343")
	other := filepath.Join(data, "location.snap.corrupt")
	for _, f := range []string{left, other} {
		if err := os.WriteFile(f, []byte("SEDGLOC cut short"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := startProc(t, data)
	if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unfinished snapshot still there after the start: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is no temp file went too: %v", err)
	}
	if !strings.Contains(p.logTail.String(), `"msg":"unfinished location snapshots removed","removed":1`) {
		t.Errorf("removal not logged:\n%s", p.logTail)
	}
}

// TestProfilesWritten: -cpuprofile, -memprofile and -trace each leave a
// file of their format after a graceful stop, and a path that cannot be
// created fails the start with the flag's name rather than the exit.
func TestProfilesWritten(t *testing.T) {
	dir := t.TempDir()
	cpu, mem, tr := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof"), filepath.Join(dir, "run.trace")
	p := startProcArgs(t, t.TempDir(), []string{"-cpuprofile", cpu, "-memprofile", mem, "-trace", tr})
	if code, env := p.do(t, "GET", "/v2/accounts", ""); code != 200 {
		t.Fatalf("API: %d %v", code, env)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.logTail)
	}
	for _, f := range []string{cpu, mem} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b)) // pprof's encoding: gzipped protobuf
		if err != nil {
			t.Fatalf("%s is no profile: %v", f, err)
		}
		if raw, err := io.ReadAll(zr); err != nil || len(raw) == 0 {
			t.Errorf("%s: %d bytes unzipped, %v", f, len(raw), err)
		}
	}
	b, err := os.ReadFile(tr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("go 1.")) || !bytes.Contains(b[:min(len(b), 16)], []byte(" trace")) || len(b) < 1024 {
		t.Errorf("%s is no execution trace: %d bytes, starting %q", tr, len(b), b[:min(len(b), 16)])
	}

	for _, flag := range []string{"-cpuprofile", "-memprofile", "-trace"} {
		// A bound, should the flag be taken and the server start.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, "-data", t.TempDir(), "-sip", "127.0.0.1:0", "-api", "127.0.0.1:0",
			flag, filepath.Join(dir, "missing", "out"))
		cmd.Env = []string{"SIPEDGE_ADMIN_TOKEN=" + testToken, "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), strings.TrimPrefix(flag, "-")+":") {
			t.Errorf("%s to a missing directory: %v\n%s", flag, err, out)
		}
	}
}
