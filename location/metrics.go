package location

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetrics registers the table's gauges and counters on reg. They are
// read from the table's own counters at scrape time (O(shards)), so they
// cannot drift from what the table holds.
func (t *Table) RegisterMetrics(reg prometheus.Registerer) error {
	if err := reg.Register(collector{t}); err != nil {
		return fmt.Errorf("location: register metrics: %w", err)
	}
	return nil
}

var (
	descAORs = prometheus.NewDesc("sipedge_location_aors_active",
		"Addresses of record with at least one binding (expired ones count until swept).", nil, nil)
	descBindings = prometheus.NewDesc("sipedge_location_bindings_active",
		"Bindings in the location table by transport (expired ones count until swept).", []string{"transport"}, nil)
	descExpired = prometheus.NewDesc("sipedge_location_expired_total",
		"Bindings removed because they expired.", nil, nil)
	descSnapFail = prometheus.NewDesc("sipedge_location_snapshot_failures_total",
		"Snapshot saves that failed.", nil, nil)
	descSnapLast = prometheus.NewDesc("sipedge_location_snapshot_last_success_timestamp_seconds",
		"Unix time of the last successful snapshot save (0 if none).", nil, nil)
)

type collector struct{ t *Table }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAORs
	ch <- descBindings
	ch <- descExpired
	ch <- descSnapFail
	ch <- descSnapLast
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	aors, contacts := c.t.Stats()
	ch <- prometheus.MustNewConstMetric(descAORs, prometheus.GaugeValue, float64(aors))
	for tr, n := range contacts {
		ch <- prometheus.MustNewConstMetric(descBindings, prometheus.GaugeValue, float64(n), Transport(tr).String())
	}
	ch <- prometheus.MustNewConstMetric(descExpired, prometheus.CounterValue, float64(c.t.expiredTotal.Load()))
	ch <- prometheus.MustNewConstMetric(descSnapFail, prometheus.CounterValue, float64(c.t.snapFailures.Load()))
	ch <- prometheus.MustNewConstMetric(descSnapLast, prometheus.GaugeValue, float64(c.t.snapLast.Load())/1e9)
}
