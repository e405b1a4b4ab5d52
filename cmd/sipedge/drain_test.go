package main

import (
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitReady503 polls /readyz until it answers 503; polling a condition,
// bounded, not a sleep standing in for synchronisation.
func waitReady503(t *testing.T, p *proc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + p.api + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 503 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("/readyz never turned 503\n%s", p.logTail)
}

// sipOptions sends one OPTIONS over UDP and returns the status line and the
// whole answer.
func sipOptions(t *testing.T, addr string) (string, string) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := "OPTIONS sip:" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-drain1;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=d1\r\nTo: <sip:" + addr + ">\r\n" +
		"Call-ID: drain-test-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer to OPTIONS: %v", err)
	}
	ans := string(buf[:n])
	line, _, _ := strings.Cut(ans, "\r\n")
	return line, ans
}

func TestDrainOnSIGTERM(t *testing.T) {
	p := startProc(t, t.TempDir(), "SIPEDGE_SHUTDOWN_LAMEDUCK=2s", "SIPEDGE_SHUTDOWN_GRACE=10s")
	if line, _ := sipOptions(t, p.sipUDP); line != "SIP/2.0 200 OK" {
		t.Fatalf("before drain: %q", line)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitReady503(t, p)
	line, ans := sipOptions(t, p.sipUDP)
	if !strings.HasPrefix(line, "SIP/2.0 503") || !strings.Contains(ans, "Retry-After:") {
		t.Fatalf("while draining: %q", ans)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("drain ended with %v\n%s", err, p.logTail)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit after the drain\n%s", p.logTail)
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	p := startProc(t, t.TempDir(), "SIPEDGE_SHUTDOWN_LAMEDUCK=50s", "SIPEDGE_SHUTDOWN_GRACE=60s")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitReady503(t, p)
	err := p.stop(t, syscall.SIGTERM) // stop's own bound (30 s) is shorter than the lameduck
	if err == nil {
		t.Fatal("a second signal should end with a non-zero exit")
	}
	if !strings.Contains(p.logTail.String(), "second signal") {
		t.Errorf("log does not say why:\n%s", p.logTail)
	}
}
