package bench_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipedge/sipedge/bench"
)

// lossyServer answers OPTIONS 200 through the generator's own responder
// logic, but drops the first copy of every transaction it sees, so each
// one succeeds only through a retransmission.
func lossyServer(t *testing.T, drop bool) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		seen := map[string]bool{}
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			msg := buf[:n]
			i := bytes.Index(msg, []byte("branch="))
			if i < 0 {
				continue
			}
			br := string(msg[i : i+bytes.IndexByte(msg[i:], ';')])
			if drop && !seen[br] {
				seen[br] = true
				continue
			}
			var res bytes.Buffer
			res.WriteString("SIP/2.0 200 OK\r\n")
			for _, line := range strings.Split(string(msg), "\r\n")[1:] {
				if strings.HasPrefix(line, "Via:") || strings.HasPrefix(line, "Call-ID:") || strings.HasPrefix(line, "CSeq:") ||
					strings.HasPrefix(line, "From:") || strings.HasPrefix(line, "To:") {
					res.WriteString(line + "\r\n")
				}
			}
			res.WriteString("Content-Length: 0\r\n\r\n")
			_, _ = conn.WriteToUDPAddrPort(res.Bytes(), from)
		}
	}()
	return conn
}

// A lost request is retransmitted on Timer E and counted; a server that
// never answers fails every session with "timeout" after 64·T1.
func TestRetransmissionsAndTimeouts(t *testing.T) {
	cases := []struct {
		name        string
		silent      bool
		t1          time.Duration
		wantOK      int64
		wantRetrans int64
		wantCause   string
	}{
		// T1 long enough that the answer to the one retransmission is in first.
		{name: "first copy lost", t1: 200 * time.Millisecond, wantOK: 10, wantRetrans: 10},
		// T1 = 5 ms, T2 = 40 ms: retransmissions at 5, 15, 35, 75, 115,
		// 155, 195, 235, 275 and 315 ms, given up at 320 ms (64·T1).
		{name: "no answer", silent: true, t1: 5 * time.Millisecond, wantRetrans: 10 * 10, wantCause: "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var target *net.UDPConn
			if tc.silent {
				c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				target = c
			} else {
				target = lossyServer(t, true)
			}
			res, err := bench.Run(ctxT(t), bench.Config{
				Target: target.LocalAddr().(*net.UDPAddr).AddrPort(), Scenario: &bench.Options{},
				Rate: 1000, Duration: 5 * time.Second, Max: 10, Sockets: 2,
				T1: tc.t1, T2: 8 * tc.t1, Drain: 10 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Succeeded != tc.wantOK || res.Started != 10 || res.Succeeded+res.Failed != 10 {
				t.Fatalf("started %d ok %d failed %d %v", res.Started, res.Succeeded, res.Failed, res.Failures)
			}
			if res.Retransmissions != tc.wantRetrans || res.Sent != res.Started+res.Retransmissions {
				t.Errorf("retransmissions %d, sent %d; want %d retransmissions", res.Retransmissions, res.Sent, tc.wantRetrans)
			}
			if tc.wantCause != "" && res.Failures[tc.wantCause] != 10 {
				t.Errorf("failures %v, want 10 × %s", res.Failures, tc.wantCause)
			}
		})
	}
}

// Step-up stops at the first step that is not clean and reports the last
// clean rate.
func TestStepUp(t *testing.T) {
	r, err := bench.NewResponder("127.0.0.1:0", 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })

	cases := []struct {
		name      string
		target    *net.UDPAddr
		wantSteps int
		wantClean float64
	}{
		{name: "responder holds every step", target: net.UDPAddrFromAddrPort(r.Addr()), wantSteps: 3, wantClean: 300},
		{name: "silent server fails the first", target: silent.LocalAddr().(*net.UDPAddr), wantSteps: 1, wantClean: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bench.Config{
				Target: tc.target.AddrPort(), Scenario: &bench.Options{}, Sockets: 2,
				T1: 5 * time.Millisecond, T2: 40 * time.Millisecond, Drain: time.Second,
			}
			sr, err := bench.StepUp(ctxT(t), cfg, bench.Step{From: 100, By: 100, To: 300, Each: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if len(sr.Steps) != tc.wantSteps || sr.MaxClean != tc.wantClean {
				t.Fatalf("%d steps, max clean %v; want %d, %v", len(sr.Steps), sr.MaxClean, tc.wantSteps, tc.wantClean)
			}
			if tc.wantClean > 0 && (sr.Best == nil || sr.Best.Offered != tc.wantClean || sr.Best.Failed != 0) {
				t.Fatalf("best step %+v", sr.Best)
			}
		})
	}
}
