package registrar

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sipedge/sipedge/location"
)

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	p := e.phone("alice", alicePass, "UDP")
	if res := p.register(p.contact()); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	c := e.phone("carol", "carol-secret", "TCP")
	if res := c.register(c.contact("expires", "10")); res.StatusCode != 423 {
		t.Fatal(res.Short())
	}
	want := `
# HELP sipedge_registrar_registrations_total REGISTER requests answered, by result.
# TYPE sipedge_registrar_registrations_total counter
sipedge_registrar_registrations_total{result="bad_request"} 0
sipedge_registrar_registrations_total{result="banned"} 0
sipedge_registrar_registrations_total{result="challenged"} 2
sipedge_registrar_registrations_total{result="failed"} 0
sipedge_registrar_registrations_total{result="ok"} 1
sipedge_registrar_registrations_total{result="removed"} 0
sipedge_registrar_registrations_total{result="too_brief"} 1
# HELP sipedge_registrar_bans_active Bans in force now.
# TYPE sipedge_registrar_bans_active gauge
sipedge_registrar_bans_active 0
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want),
		"sipedge_registrar_registrations_total", "sipedge_registrar_bans_active"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e.svc.m.duration); n != 1 {
		t.Fatalf("histogram series %d", n)
	}
	if lint, err := testutil.GatherAndLint(e.reg); err != nil || len(lint) != 0 {
		t.Fatalf("lint: %v %v", lint, err)
	}
}

// The location table exports its own gauges on the same registry as the
// registrar's; the two sets must not collide.
func TestMetricsCoexistWithLocation(t *testing.T) {
	e := newCore(t, nil)
	reg := prometheus.NewRegistry()
	loc := location.New(location.Options{Now: e.clock.Now})
	if err := loc.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	if _, err := New(cfg, e.store, loc, reg, nil); err != nil {
		t.Fatalf("New with location metrics registered: %v", err)
	}
	if _, err := New(cfg, e.store, loc, reg, nil); err == nil {
		t.Fatal("registering the registrar's metrics twice succeeded")
	}
}
