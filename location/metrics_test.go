package location

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	tb, c, _ := newTestTable(t)
	reg := prometheus.NewPedanticRegistry()
	if err := tb.RegisterMetrics(reg); err != nil {
		t.Fatalf("RegisterMetrics: %v", err)
	}
	if err := tb.RegisterMetrics(reg); err == nil {
		t.Error("registering twice on one registry returned nil")
	}
	set(tb, "a@x", bnd(1, UDP, c.In(time.Minute)), bnd(2, TLS, c.In(time.Hour)))
	set(tb, "b@x", bnd(3, WSS, c.In(time.Hour)))
	c.Advance(2 * time.Minute)
	tb.Expire()
	if err := tb.SaveFile(filepath.Join(t.TempDir(), "x.snap")); err != nil {
		t.Fatal(err)
	}
	if err := tb.SaveFile(filepath.Join(t.TempDir(), "missing", "x.snap")); err == nil {
		t.Fatal("SaveFile into a missing directory returned nil")
	}

	want := `
# HELP sipedge_location_aors_active Addresses of record with at least one binding (expired ones count until swept).
# TYPE sipedge_location_aors_active gauge
sipedge_location_aors_active 2
# HELP sipedge_location_bindings_active Bindings in the location table by transport (expired ones count until swept).
# TYPE sipedge_location_bindings_active gauge
sipedge_location_bindings_active{transport="tcp"} 0
sipedge_location_bindings_active{transport="tls"} 1
sipedge_location_bindings_active{transport="udp"} 0
sipedge_location_bindings_active{transport="ws"} 0
sipedge_location_bindings_active{transport="wss"} 1
# HELP sipedge_location_expired_total Bindings removed because they expired.
# TYPE sipedge_location_expired_total counter
sipedge_location_expired_total 1
# HELP sipedge_location_snapshot_failures_total Snapshot saves that failed.
# TYPE sipedge_location_snapshot_failures_total counter
sipedge_location_snapshot_failures_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"sipedge_location_aors_active", "sipedge_location_bindings_active",
		"sipedge_location_expired_total", "sipedge_location_snapshot_failures_total"); err != nil {
		t.Error(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var last float64
	for _, mf := range families {
		if mf.GetName() == "sipedge_location_snapshot_last_success_timestamp_seconds" {
			last = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if want := float64(c.Now().UnixNano()) / 1e9; last != want {
		t.Errorf("last snapshot timestamp = %v, want %v", last, want)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
}
