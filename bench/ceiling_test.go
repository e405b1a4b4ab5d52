package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/sipedge/sipedge/bench"
)

// BenchmarkCeiling is the generator's own ceiling: it drives the trivial
// responder in a closed loop (an offered rate far above what either side
// can do, 256 sessions in flight) and reports the sessions per second it
// completed. Generator and responder share the machine here, so this is a
// lower bound; BENCHMARKS.md has the pinned figure. A first-time
// registration is two transactions, so it moves four datagrams; a call
// (unchallenged, no hold) is INVITE, 200, ACK, BYE, 200: five.
func BenchmarkCeiling(b *testing.B) {
	for _, tc := range []struct {
		name string
		scen func() bench.Scenario
	}{
		{name: "options", scen: func() bench.Scenario { return &bench.Options{} }},
		{name: "register", scen: func() bench.Scenario {
			u, _ := bench.UserRange("user%06d", "secret%06d", 1, 10000)
			return &bench.Register{Realm: "bench.example.com", Users: u}
		}},
		{name: "call", scen: func() bench.Scenario {
			u, _ := bench.UserRange("user%06d", "secret%06d", 1, 10000)
			return &bench.Call{Realm: "bench.example.com", Users: u}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := bench.NewResponder("127.0.0.1:0", 2)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Serve(ctx) }()
			defer func() { cancel(); <-done }()
			b.ReportAllocs()
			b.ResetTimer()
			res, err := bench.Run(context.Background(), bench.Config{
				Target: r.Addr(), Scenario: tc.scen(), Rate: 1e6, Duration: time.Minute, Max: b.N, Sockets: 4, MaxInflight: 256,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.Succeeded)/res.Elapsed.Seconds(), "sessions/s")
			b.ReportMetric(float64(res.Retransmissions), "retrans")
			if res.Failed > 0 {
				b.Logf("%d failed: %v", res.Failed, res.Failures)
			}
		})
	}
}
