package proxy

import (
	"log/slog"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The verdict follows the shortest wait of each 100 ms: on at the first
// interval over the limit, off after five under it.
func TestOverloadObserve(t *testing.T) {
	var changes []bool
	o := overload{limit: 50 * time.Millisecond, onChange: func(on bool) { changes = append(changes, on) }}
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	step := func(ms int, waited time.Duration, want bool) {
		t.Helper()
		o.observe(at(ms), waited)
		if o.active() != want {
			t.Fatalf("at %d ms (waited %v): overloaded %v, want %v", ms, waited, o.active(), want)
		}
	}
	// A burst: one long wait among short ones is not a standing queue.
	step(0, time.Millisecond, false)
	step(50, 300*time.Millisecond, false)
	step(100, time.Millisecond, false)
	// A standing queue: every head waited.
	step(200, 80*time.Millisecond, false)
	step(250, 90*time.Millisecond, false)
	step(300, 70*time.Millisecond, true)
	// Short again: four calm intervals are not enough.
	for i := range 4 {
		step(400+200*i, time.Millisecond, true)
		step(500+200*i, time.Millisecond, true)
	}
	step(1200, time.Millisecond, true)
	step(1300, time.Millisecond, false)
	if !slices.Equal(changes, []bool{true, false}) {
		t.Errorf("changes %v", changes)
	}

	off := overload{}
	off.observe(at(0), time.Hour)
	off.observe(at(200), time.Hour)
	if off.active() {
		t.Error("overloaded with max_queue_delay 0")
	}
}

// The batch reader reads the kernel's arrival stamp of each batch's head:
// with the clock a second ahead, every datagram looks a second old.
func TestBatchConnMeasuresSocketWait(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("arrival stamps are read on Linux")
	}
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	over := &overload{limit: 50 * time.Millisecond}
	b := newBatchConn(uc, 4, slog.New(slog.DiscardHandler), over)
	if b.over == nil {
		t.Fatal("arrival stamps not enabled")
	}
	var reads int
	b.now = func() time.Time {
		reads++
		return time.Now().Add(time.Second + time.Duration(reads)*60*time.Millisecond)
	}
	client, err := net.DialUDP("udp", nil, uc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	buf := make([]byte, 1500)
	for i := range 3 {
		if _, err := client.Write([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if n, _, err := b.ReadFrom(buf); err != nil || n == 0 {
			t.Fatalf("read %d: %d bytes, %v", i, n, err)
		}
	}
	if reads != 3 || !over.active() {
		t.Fatalf("after 3 batches a second old (%d stamps read): overloaded %v", reads, over.active())
	}
}

// While overloaded, a new registration gets 503 with Retry-After from the
// UDP fast path, as from the chain; once it passes, the challenge.
func TestOverloadRefusesNewWork(t *testing.T) {
	s, c := fastServer(t, true)
	s.admit.overload.on.Store(true)
	if out, err := s.fastReadFilter(s.props("UDP", c), fastRegisterBytes("u1", 1, "")); err != nil || len(out) != 0 {
		t.Fatalf("filter: %d bytes, %v", len(out), err)
	}
	res := readAnswer(t, c, make([]byte, 65535))
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("overloaded answer %d, Retry-After %v", res.StatusCode, res.GetHeader("Retry-After"))
	}
	// Refused where it was read: in a storm, refusing costs less than a
	// transaction.
	if got := testutil.ToFloat64(s.m.raw[rawAnswered]); got != 1 {
		t.Errorf("raw path answered %v, want the 503", got)
	}
	if got := testutil.ToFloat64(s.m.rejected); got != 1 {
		t.Errorf("rejected_total %v, want 1", got)
	}
	s.admit.overload.on.Store(false)
	if _, err := s.fastReadFilter(s.props("UDP", c), fastRegisterBytes("u1", 2, "")); err != nil {
		t.Fatal(err)
	}
	if res := readAnswer(t, c, make([]byte, 65535)); res.StatusCode != 401 {
		t.Fatalf("answer %d after the overload, want the 401 challenge", res.StatusCode)
	}
}
