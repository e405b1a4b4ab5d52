package registrar

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sipedge/sipedge/location"
)

// result is the outcome of one REGISTER, the label of registrations_total.
type result uint8

const (
	resOK result = iota
	resChallenged
	resFailed
	resBanned
	resTooBrief
	resRemoved
	resBadRequest
	numResults
)

var resultNames = [numResults]string{"ok", "challenged", "failed", "banned", "too_brief", "removed", "bad_request"}

// failReason labels auth_failures_total; a closed set, never user input.
type failReason uint8

const (
	failBadPassword failReason = iota
	failUnknown
	failDisabled
	failStale
	failReplay
	failBadNonce
	failUnsupported
	failUserMismatch
	numFailReasons
)

var failReasonNames = [numFailReasons]string{
	"bad_password", "unknown", "disabled", "stale", "replay", "bad_nonce", "unsupported", "user_mismatch",
}

var transportNames = [5]string{"udp", "tcp", "tls", "ws", "wss"}

func transportName(t location.Transport) string {
	if int(t) < len(transportNames) {
		return transportNames[t]
	}
	return "other"
}

type metrics struct {
	results  [numResults]prometheus.Counter
	failures [numFailReasons]prometheus.Counter
	bans     prometheus.Counter
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, s *Service) (*metrics, error) {
	m := &metrics{}
	results := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_registrar_registrations_total",
		Help: "REGISTER requests answered, by result.",
	}, []string{"result"})
	for i := range m.results {
		m.results[i] = results.WithLabelValues(resultNames[i])
	}
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_registrar_auth_failures_total",
		Help: "Failed digest authentications, by reason.",
	}, []string{"reason"})
	for i := range m.failures {
		m.failures[i] = failures.WithLabelValues(failReasonNames[i])
	}
	m.bans = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sipedge_registrar_bans_total",
		Help: "(user, source IP) pairs banned after too many failed authentications.",
	})
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sipedge_registrar_register_duration_seconds",
		Help:    "Time to handle one REGISTER, from parse to response built.",
		Buckets: prometheus.ExponentialBuckets(10e-6, 3, 10), // 10µs … ~200ms
	})
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sipedge_registrar_bans_active",
		Help: "Bans in force now.",
	}, func() float64 { return float64(s.limiter.active()) })
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{results, failures, m.bans, m.duration, active} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registrar: registering metrics: %w", err)
		}
	}
	return m, nil
}
