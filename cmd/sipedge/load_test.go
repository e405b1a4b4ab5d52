package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Load and crash tests against the real binary, bounded in time and count,
// on loopback only. Phones here speak raw UDP from a loopback address of the
// test's choosing (all of 127/8 is local on Linux), so that each goroutine
// owns its socket and the server sees distinct sources.

// udpPhone is one phone on its own socket.
type udpPhone struct {
	c          *net.UDPConn
	user, pass string
	callID     string
	seq        int
	buf        []byte
}

func newUDPPhone(src, dst, user, pass string) (*udpPhone, error) {
	raddr, err := net.ResolveUDPAddr("udp", dst)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, raddr)
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", src, err)
	}
	return &udpPhone{c: c, user: user, pass: pass, callID: "load-" + sip.GenerateTagN(12), buf: make([]byte, 65535)}, nil
}

func (ph *udpPhone) close() { _ = ph.c.Close() }

func (ph *udpPhone) request(method, auth string) (msg []byte, seq int) {
	ph.seq++
	la := ph.c.LocalAddr().(*net.UDPAddr)
	var b strings.Builder
	target := "sip:" + testRealm
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, target)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;rport;branch=%s\r\n", la, sip.GenerateBranch())
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=t-%s\r\n", ph.user, testRealm, ph.callID)
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", ph.user, testRealm)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\n", ph.callID, ph.seq, method)
	if method == "REGISTER" {
		fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\nExpires: 3600\r\n", ph.user, la)
	}
	if auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
	}
	b.WriteString("User-Agent: LoadPhone/1.0\r\nContent-Length: 0\r\n\r\n")
	return []byte(b.String()), ph.seq
}

// roundTrip sends msg and returns the final response to it, resending on
// RFC 3261 Timer A's schedule until ctx ends (UDP may be lost under load).
func (ph *udpPhone) roundTrip(ctx context.Context, msg []byte, seq int) (*sip.Response, error) {
	wait := 500 * time.Millisecond
	for {
		if _, err := ph.c.Write(msg); err != nil {
			return nil, err
		}
		resend := time.Now().Add(wait)
		if d, ok := ctx.Deadline(); ok && d.Before(resend) {
			resend = d
		}
		for {
			_ = ph.c.SetReadDeadline(resend)
			n, err := ph.c.Read(ph.buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return nil, err
			}
			m, err := sip.ParseMessage(ph.buf[:n])
			if err != nil {
				continue
			}
			res, ok := m.(*sip.Response)
			if !ok || res.CSeq() == nil || int(res.CSeq().SeqNo) != seq || res.StatusCode < 200 {
				continue
			}
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: no answer: %w", ph.user, ctx.Err())
		}
		wait = min(2*wait, 4*time.Second)
	}
}

// register runs REGISTER, 401, REGISTER with credentials and returns the
// final status code.
func (ph *udpPhone) register(ctx context.Context) (int, error) {
	msg, seq := ph.request("REGISTER", "")
	res, err := ph.roundTrip(ctx, msg, seq)
	if err != nil {
		return 0, err
	}
	if res.StatusCode != 401 {
		return res.StatusCode, nil
	}
	chal, err := pickChallenge(res)
	if err != nil {
		return 0, err
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + testRealm,
		Username: ph.user, Password: ph.pass, Count: 1})
	if err != nil {
		return 0, fmt.Errorf("digest: %w", err)
	}
	msg, seq = ph.request("REGISTER", cred.String())
	res, err = ph.roundTrip(ctx, msg, seq)
	if err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}

// options sends an OPTIONS to the server and returns its status code.
func (ph *udpPhone) options(ctx context.Context) (int, error) {
	msg, seq := ph.request("OPTIONS", "")
	res, err := ph.roundTrip(ctx, msg, seq)
	if err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}

// pickChallenge prefers MD5, which every phone speaks.
func pickChallenge(res *sip.Response) (*digest.Challenge, error) {
	var first *digest.Challenge
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			continue
		}
		if first == nil {
			first = c
		}
		if strings.EqualFold(c.Algorithm, "MD5") || c.Algorithm == "" {
			return c, nil
		}
	}
	if first == nil {
		return nil, errors.New("401 without a usable challenge")
	}
	return first, nil
}

// apiDo is proc.do for goroutines: an error instead of t.Fatal.
func apiDo(p *proc, method, path, body string) (int, map[string]any, error) {
	req, err := http.NewRequest(method, "http://"+p.api+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Auth-Token", testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var env map[string]any
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &env)
	return res.StatusCode, env, nil
}

// metricsOf reads the named unlabelled (or first-labelled) samples from
// /metrics, summing the series of a name.
func metricsOf(p *proc, names ...string) (map[string]float64, error) {
	res, err := http.Get("http://" + p.api + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// A label value may hold a space: take the value after the '}'.
			if j := strings.LastIndexByte(line, '}'); j >= 0 {
				name, rest = line[:i], strings.TrimSpace(line[j+1:])
			}
		}
		if !want[name] {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		out[name] += v
	}
	return out, sc.Err()
}

// (a) kill -9 in the middle of a registration storm and device writes:
// after restart every acknowledged device write is there, and every
// binding acknowledged a snapshot period before the kill.
func TestLoadKill9DuringStorm(t *testing.T) {
	const (
		snapshot = 200 * time.Millisecond
		phones   = 80
		writers  = 3
		// slack lets the snapshot begun a period after an ack reach the disk.
		slack = 300 * time.Millisecond
	)
	data := t.TempDir()
	env := []string{"SIPEDGE_LOCATION_SNAPSHOT_INTERVAL=" + snapshot.String(), "SIPEDGE_API_RATE_LIMIT=0"}
	p := startProc(t, data, env...)
	users := make([]string, phones)
	for i := range users {
		users[i] = fmt.Sprintf("storm%03d", i)
	}
	acct := provision(t, p, users...)

	type ack struct {
		user string
		at   time.Time
	}
	var (
		mu         sync.Mutex
		registered []ack
		created    []string // device ids acknowledged with 201
		wg         sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// Kill once enough of both kinds of writes are acknowledged: an event,
	// not a timer.
	enough := make(chan struct{})
	var once sync.Once
	check := func() {
		mu.Lock()
		defer mu.Unlock()
		if len(registered) >= 4*phones && len(created) >= 50 {
			once.Do(func() { close(enough) })
		}
	}
	// Registration workers go round the phones until the kill, so the
	// storm is still on when it lands.
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += 4 {
				u := users[i%phones]
				ph, err := newUDPPhone("127.0.0.1", p.sipUDP, u, "pw-"+u)
				if err != nil {
					t.Error(err)
					return
				}
				code, err := ph.register(ctx)
				at := time.Now()
				ph.close()
				if err != nil || ctx.Err() != nil {
					return // the kill cuts requests short; only acks count
				}
				if code == 200 {
					mu.Lock()
					registered = append(registered, ack{u, at})
					mu.Unlock()
					check()
				}
			}
		}()
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 500; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				code, env, err := apiDo(p, "PUT", "/v2/accounts/"+acct+"/devices",
					fmt.Sprintf(`{"data":{"name":"%s","sip":{"username":"%s","password":"pw-%s"}}}`, name, name, name))
				if err != nil {
					return
				}
				if code == 201 {
					d, _ := env["data"].(map[string]any)
					id, _ := d["id"].(string)
					mu.Lock()
					created = append(created, id)
					mu.Unlock()
					check()
				}
			}
		}()
	}
	select {
	case <-enough:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("storm never got enough acknowledgements: %d registrations, %d devices", len(registered), len(created))
	}
	// And once the storm has run long enough that some acks are a snapshot
	// period (and the slack below) old; bounded polling of that condition.
	for {
		mu.Lock()
		old := 0
		for _, a := range registered {
			if time.Since(a.at) > snapshot+slack+100*time.Millisecond {
				old++
			}
		}
		mu.Unlock()
		if old >= phones {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("storm too slow")
		}
		time.Sleep(20 * time.Millisecond)
	}
	killAt := time.Now()
	_ = p.stop(t, syscall.SIGKILL)
	cancel()
	wg.Wait()

	p = startProc(t, data, env...)
	mu.Lock()
	defer mu.Unlock()
	for _, id := range created {
		if code, _ := p.do(t, "GET", "/v2/accounts/"+acct+"/devices/"+id, ""); code != 200 {
			t.Errorf("acknowledged device %s lost after kill -9: %d", id, code)
		}
	}
	regs := registrations(t, p, acct)
	cutoff := killAt.Add(-snapshot - slack)
	old := 0
	for _, a := range registered {
		if a.at.Before(cutoff) {
			old++
			if _, ok := regs[a.user]; !ok {
				t.Errorf("binding of %s acknowledged %s before the kill is lost", a.user, killAt.Sub(a.at))
			}
		}
	}
	if old == 0 {
		t.Fatal("the kill came before any binding was a snapshot period old: nothing was checked")
	}
	t.Logf("kill -9 after %d device writes and %d registrations (%d older than the snapshot period); %d bindings after restart",
		len(created), len(registered), old, len(regs))
}

// (b) a flood from one source does not stop 100 honest phones, each on its
// own loopback address, from registering.
func TestLoadFloodDoesNotStopPhones(t *testing.T) {
	const honest = 100
	// Loopback is allow-listed by default; only ::1 stays exempt here.
	p := startProc(t, t.TempDir(), "SIPEDGE_SIP_FLOOD_ALLOW=::1/128", "SIPEDGE_API_RATE_LIMIT=0")
	users := make([]string, honest)
	for i := range users {
		users[i] = fmt.Sprintf("phone%03d", i)
	}
	provision(t, p, users...)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	flooder, err := newUDPPhone("127.0.0.3", p.sipUDP, "nobody", "x")
	if err != nil {
		t.Skip(err)
	}
	defer flooder.close()
	stop := make(chan struct{})
	floodDone := make(chan int)
	flooding := make(chan struct{}) // the phones start once the flood is on
	go func() {
		sent := 0
		defer func() { floodDone <- sent }()
		for sent < 5000000 {
			if sent == 5000 {
				close(flooding)
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			msg, _ := flooder.request("OPTIONS", "")
			if _, err := flooder.c.Write(msg); err != nil {
				continue // ECONNREFUSED from an earlier ICMP; keep flooding
			}
			sent++
		}
	}()

	select {
	case <-flooding:
	case <-ctx.Done():
		t.Fatal("flood did not start")
	}
	var wg sync.WaitGroup
	var ok atomic.Int32
	errs := make(chan error, 2*honest)
	phones := make([]*udpPhone, honest)
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ph, err := newUDPPhone(fmt.Sprintf("127.0.1.%d", i+1), p.sipUDP, u, "pw-"+u)
			if err != nil {
				errs <- err
				return
			}
			code, err := ph.register(ctx)
			if err != nil || code != 200 {
				ph.close()
				errs <- fmt.Errorf("%s: %d %v", u, code, err)
				return
			}
			phones[i] = ph
			ok.Add(1)
		}()
	}
	wg.Wait()
	defer func() {
		for _, ph := range phones {
			if ph != nil {
				ph.close()
			}
		}
	}()

	// Still under the flood, every even phone calls the next one: INVITE
	// with digest, 200, ACK, BYE through the proxy.
	answering, stopAnswering := context.WithCancel(ctx)
	var answerers sync.WaitGroup
	seen := make([]callee, honest)
	var calls atomic.Int32
	for i := 0; i+1 < honest; i += 2 {
		caller, callee := phones[i], phones[i+1]
		if caller == nil || callee == nil {
			continue // its registration failure is already reported
		}
		answerers.Add(1)
		go func() { defer answerers.Done(); callee.answer(answering, &seen[i+1]) }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := caller.call(ctx, callee.user); err != nil {
				errs <- fmt.Errorf("call %s → %s: %w", caller.user, callee.user, err)
				return
			}
			calls.Add(1)
		}()
	}
	wg.Wait()
	stopAnswering()
	answerers.Wait()
	close(stop)
	sent := <-floodDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := 1; i < honest; i += 2 {
		if s := &seen[i]; s.invites.Load() < 1 || s.acks.Load() < 1 || s.byes.Load() < 1 {
			t.Errorf("%s saw %d INVITEs, %d ACKs, %d BYEs; want each at least once",
				users[i], s.invites.Load(), s.acks.Load(), s.byes.Load())
		}
	}
	m, err := metricsOf(p, "sipedge_proxy_flood_dropped_total", "sipedge_proxy_flood_bans_active")
	if err != nil {
		t.Fatal(err)
	}
	if m["sipedge_proxy_flood_dropped_total"] == 0 {
		t.Errorf("flood of %d datagrams: none dropped by the limiter", sent)
	}
	if m["sipedge_proxy_flood_bans_active"] < 1 {
		t.Errorf("flooder not banned: %v", m)
	}
	t.Logf("%d/%d phones registered and %d/%d calls completed during a flood of %d datagrams; %v",
		ok.Load(), honest, calls.Load(), honest/2, sent, m)
}

// (c) a password-guessing source is banned after the limit while the same
// user from elsewhere, and other users, go on registering.
func TestLoadPasswordGuessingBanned(t *testing.T) {
	const limit = 5
	p := startProc(t, t.TempDir(), "SIPEDGE_REGISTRAR_FAILED_AUTH_LIMIT="+strconv.Itoa(limit), "SIPEDGE_API_RATE_LIMIT=0")
	provision(t, p, "alice", "bob")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	guesser, err := newUDPPhone("127.0.0.4", p.sipUDP, "alice", "")
	if err != nil {
		t.Skip(err)
	}
	defer guesser.close()
	var codes []int
	for i := range limit + 3 {
		guesser.pass = fmt.Sprintf("guess-%d", i)
		code, err := guesser.register(ctx)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, code)
	}
	for i, c := range codes {
		// The limit-th failure is the one that bans.
		want := 401
		if i >= limit-1 {
			want = 403
		}
		if c != want {
			t.Fatalf("guess %d answered %d, want %d (all: %v)", i+1, c, want, codes)
		}
	}
	// Even the right password is refused from the banned source.
	guesser.pass = "pw-alice"
	if code, err := guesser.register(ctx); err != nil || code != 403 {
		t.Fatalf("right password from the banned source: %d %v, want 403", code, err)
	}
	code, env := p.do(t, "GET", "/v2/bans", "")
	if code != 200 {
		t.Fatalf("bans: %d %v", code, env)
	}
	bans, _ := env["data"].([]any)
	found := false
	for _, b := range bans {
		rec, _ := b.(map[string]any)
		if rec["user"] == "alice" && rec["ip"] == "127.0.0.4" {
			found = true
		}
		if rec["ip"] != "127.0.0.4" {
			t.Errorf("unexpected ban %v", rec)
		}
	}
	if !found {
		t.Fatalf("bans do not list alice from 127.0.0.4: %v", bans)
	}
	for _, tc := range []struct{ src, user string }{{"127.0.0.5", "alice"}, {"127.0.0.6", "bob"}, {"127.0.0.4", "bob"}} {
		ph, err := newUDPPhone(tc.src, p.sipUDP, tc.user, "pw-"+tc.user)
		if err != nil {
			t.Fatal(err)
		}
		code, err := ph.register(ctx)
		ph.close()
		if err != nil || code != 200 {
			t.Errorf("%s from %s: %d %v, want 200", tc.user, tc.src, code, err)
		}
	}
}

// soakDuration is SIPEDGE_SOAK (default 30s).
func soakDuration(t *testing.T) time.Duration {
	s := os.Getenv("SIPEDGE_SOAK")
	if s == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("SIPEDGE_SOAK=%q: want a positive duration", s)
	}
	return d
}

// (d) a bounded soak of mixed REGISTER and OPTIONS traffic, sampling heap
// and goroutines from /metrics; fails if goroutines do not come back down
// once the traffic stops (a leak grows without bound, live work does not).
// SIPEDGE_SOAK sets the duration, SIPEDGE_SOAK_RATE the requests per
// second (default 400), SIPEDGE_SOAK_REPORT a file for the Markdown table.
func TestLoadSoak(t *testing.T) {
	dur := soakDuration(t)
	rate := 400
	if s := os.Getenv("SIPEDGE_SOAK_RATE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("SIPEDGE_SOAK_RATE=%q", s)
		}
		rate = n
	}
	const workers = 20
	p := startProc(t, t.TempDir(), "SIPEDGE_API_RATE_LIMIT=0")
	users := make([]string, workers)
	for i := range users {
		users[i] = fmt.Sprintf("soak%02d", i)
	}
	provision(t, p, users...)

	type sample struct {
		at         time.Duration
		heap, gors float64
		requests   int64
	}
	var samples []sample
	var sent, failed atomic.Int64
	start := time.Now()
	take := func() sample {
		m, err := metricsOf(p, "go_memstats_heap_inuse_bytes", "go_goroutines")
		if err != nil {
			t.Fatal(err)
		}
		return sample{time.Since(start).Truncate(time.Second), m["go_memstats_heap_inuse_bytes"], m["go_goroutines"], sent.Load()}
	}
	samples = append(samples, take())

	ctx, cancel := context.WithTimeout(t.Context(), dur)
	defer cancel()
	var wg sync.WaitGroup
	per := time.Second * time.Duration(workers) / time.Duration(rate)
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ph, err := newUDPPhone(fmt.Sprintf("127.0.2.%d", i+1), p.sipUDP, u, "pw-"+u)
			if err != nil {
				t.Error(err)
				return
			}
			defer ph.close()
			tick := time.NewTicker(per)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				var code int
				var err error
				if n%2 == 0 {
					code, err = ph.register(rctx)
					sent.Add(2)
				} else {
					code, err = ph.options(rctx)
					sent.Add(1)
				}
				rcancel()
				if ctx.Err() != nil {
					return
				}
				if err != nil || code != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	every := max(dur/10, time.Second)
	tick := time.NewTicker(every)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			samples = append(samples, take())
		}
	}
	tick.Stop()
	wg.Wait()
	under := samples[len(samples)-1]

	// Once the traffic stops, transactions time out (Timer J, 32 s) and
	// what they held goes; wait for that, bounded.
	base := samples[0].gors
	deadline := time.Now().Add(90 * time.Second)
	var after sample
	for {
		after = take()
		if after.gors <= base+20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond) // polling /metrics, bounded by the deadline
	}
	samples = append(samples, after)

	var tbl strings.Builder
	fmt.Fprintf(&tbl, "| t | requests sent | heap in use (MiB) | goroutines |\n|---|---|---|---|\n")
	for _, s := range samples {
		fmt.Fprintf(&tbl, "| %s | %d | %.1f | %.0f |\n", s.at, s.requests, s.heap/(1<<20), s.gors)
	}
	t.Logf("soak %s at %d req/s target, %d requests, %d failed:\n%s", dur, rate, sent.Load(), failed.Load(), tbl.String())
	if f := os.Getenv("SIPEDGE_SOAK_REPORT"); f != "" {
		if err := os.WriteFile(f, []byte(tbl.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	if after.gors > base+20 {
		t.Errorf("goroutines %v after the traffic stopped (%v under load), started at %v: a leak", after.gors, under.gors, base)
	}
	if sent.Load() == 0 || failed.Load()*100 > sent.Load() {
		t.Errorf("%d of %d requests failed", failed.Load(), sent.Load())
	}
}
