package bench_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sipedge/sipedge/bench"
)

// Calls through the real proxy, answered by the generator's own UAS side:
// every call is challenged once, set up, ACKed and hung up, and the UAS
// saw every INVITE, ACK and BYE.
func TestCallAgainstSipedge(t *testing.T) {
	const n, calls = 20, 50
	se := newSipedgeWith(t, n, true)
	scen := &bench.Call{Realm: testRealm, Users: users(t, n, "secret%06d")}
	cfg := bench.Config{Target: se.srv.UDP, Scenario: scen, Rate: 50, Duration: time.Second, Max: calls, Sockets: 2}
	warm, err := scen.WarmUp(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if warm.Succeeded != n/2 || scen.Registered() != n/2 || warm.Calls != nil {
		t.Fatalf("warm-up: %d ok, %d callees registered, calls %+v; want %d", warm.Succeeded, scen.Registered(), warm.Calls, n/2)
	}
	b := se.loc.Lookup("user000003@"+testRealm, nil)
	if len(b) != 1 || !strings.HasPrefix(b[0].Contact, "sip:user000003@127.0.0.1:") {
		t.Fatalf("callee binding %+v", b)
	}
	if b := se.loc.Lookup("user000013@"+testRealm, nil); len(b) != 0 {
		t.Fatalf("a caller registered: %+v", b)
	}

	res, err := bench.Run(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	logResult(t, res)
	if res.Scenario != "call" || res.Started != calls || res.Succeeded != calls || res.Failed != 0 || len(res.Failures) != 0 {
		t.Fatalf("%s: started %d, ok %d, failed %d %v; want %d calls all ok", res.Scenario, res.Started, res.Succeeded, res.Failed, res.Failures, calls)
	}
	c := res.Calls
	if c == nil {
		t.Fatal("no call counters")
	}
	if c.Challenged != calls || c.UASInvites != calls || c.UASByes != calls || c.UASAcks < calls || c.UASAckTimeouts != 0 {
		t.Fatalf("call counters %+v: want %d challenged, answered, ACKed and hung up", *c, calls)
	}
	checkLatency(t, res.Latency)
	if res.CallDuration == nil {
		t.Fatal("no call duration")
	}
	checkLatency(t, *res.CallDuration)
	// Setup is part of the call, so no setup percentile exceeds the call's.
	if res.Latency.Max > res.CallDuration.Max || res.Latency.P50 > res.CallDuration.P50 {
		t.Errorf("setup %+v longer than the whole call %+v", res.Latency, *res.CallDuration)
	}
	if res.RTP != nil {
		t.Errorf("RTP stats without RTP: %+v", *res.RTP)
	}
}

// Callees that never registered: the proxy answers 480 and every call
// fails by that cause, ACKed, with the UAS never reached.
func TestCallUnregisteredCallee(t *testing.T) {
	const n, calls = 10, 5
	se := newSipedgeWith(t, n, true)
	scen := &bench.Call{Realm: testRealm, Users: users(t, n, "secret%06d")}
	res, err := bench.Run(ctxT(t), bench.Config{Target: se.srv.UDP, Scenario: scen, Rate: 50, Duration: time.Second, Max: calls, Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded != 0 || res.Failed != calls || res.Failures["status 480"] != calls {
		t.Fatalf("ok %d, failed %d %v; want %d × status 480", res.Succeeded, res.Failed, res.Failures, calls)
	}
	if res.Calls == nil || res.Calls.UASInvites != 0 || res.Calls.Challenged != calls {
		t.Fatalf("call counters %+v: want every call challenged, none answered", res.Calls)
	}
}

// With RTP both ends stream during the hold, directly between the
// generator's media sockets, and on loopback nothing is lost.
func TestRTPAgainstSipedge(t *testing.T) {
	const n, calls = 8, 2
	se := newSipedgeWith(t, n, true)
	scen := &bench.Call{Realm: testRealm, Users: users(t, n, "secret%06d"), RTP: true, Hold: 300 * time.Millisecond}
	cfg := bench.Config{Target: se.srv.UDP, Scenario: scen, Rate: 20, Duration: time.Second, Max: calls, Sockets: 2}
	if _, err := scen.WarmUp(ctxT(t), cfg); err != nil {
		t.Fatal(err)
	}
	res, err := bench.Run(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	logResult(t, res)
	if res.Scenario != "rtp" || res.Succeeded != calls || res.Failed != 0 {
		t.Fatalf("%s: ok %d, failed %d %v; want %d calls", res.Scenario, res.Succeeded, res.Failed, res.Failures, calls)
	}
	m := res.RTP
	if m == nil {
		t.Fatal("no RTP stats")
	}
	if m.Streams != 2*calls || m.FromCallers == 0 || m.FromCallees == 0 {
		t.Fatalf("RTP %+v: want %d streams, packets both ways", *m, 2*calls)
	}
	if m.Sent != m.Received || m.Lost != 0 || m.Garbage != 0 {
		t.Fatalf("RTP %+v: want every packet received", *m)
	}
}

func logResult(t *testing.T, res *bench.Result) {
	t.Helper()
	var b strings.Builder
	_ = bench.WriteTable(&b, res)
	t.Log("\n" + b.String())
}
