package proxy

import (
	"errors"
	"fmt"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// Label values are resolved once into arrays so the hot path never builds a
// label map; the method comes off the wire, so anything unknown is "other".
var (
	methodNames    = [...]string{"INVITE", "ACK", "CANCEL", "BYE", "REGISTER", "OPTIONS", "SUBSCRIBE", "NOTIFY", "REFER", "INFO", "MESSAGE", "PRACK", "UPDATE", "PUBLISH", "other"}
	transportNames = [...]string{"UDP", "TCP", "TLS", "WS", "WSS", "other"}
	classNames     = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"}
	dropReasons    = [...]string{"short", "keepalive", "not_sip", "filter"}
)

const (
	methodOther = len(methodNames) - 1
)

// methodIndex maps a method to its label slot; it doubles as the "is this a
// method we know" test (RFC 3261 and its extensions we will route).
func methodIndex(m sip.RequestMethod) int {
	switch m {
	case sip.INVITE:
		return 0
	case sip.ACK:
		return 1
	case sip.CANCEL:
		return 2
	case sip.BYE:
		return 3
	case sip.REGISTER:
		return 4
	case sip.OPTIONS:
		return 5
	case sip.SUBSCRIBE:
		return 6
	case sip.NOTIFY:
		return 7
	case sip.REFER:
		return 8
	case sip.INFO:
		return 9
	case sip.MESSAGE:
		return 10
	case sip.PRACK:
		return 11
	case sip.UPDATE:
		return 12
	case sip.PUBLISH:
		return 13
	}
	return methodOther
}

func transportIndex(t string) int {
	switch t {
	case "UDP", "udp":
		return 0
	case "TCP", "tcp":
		return 1
	case "TLS", "tls":
		return 2
	case "WS", "ws":
		return 3
	case "WSS", "wss":
		return 4
	}
	return len(transportNames) - 1
}

type dropReason int

const (
	dropShort dropReason = iota
	dropKeepalive
	dropNotSIP
	dropFilter
)

type metrics struct {
	requests  [len(methodNames)][len(transportNames)]prometheus.Counter
	responses [len(methodNames)][len(classNames)]prometheus.Counter
	duration  [len(methodNames)]prometheus.Observer
	panics    prometheus.Counter
	rejected  prometheus.Counter
	dropped   [len(dropReasons)]prometheus.Counter

	// The proxy core's (forward.go and friends).
	callsActive prometheus.Gauge
	callsSetup  prometheus.Counter
	setupTime   prometheus.Observer
	branches    [len(branchOutcomes)]prometheus.Counter
	failovers   prometheus.Counter
	gatewayUp   *prometheus.GaugeVec
	timerC      prometheus.Counter
	stray       [len(strayActions)]prometheus.Counter
	bigTCP      [len(bigOutcomes)]prometheus.Counter
	txActive    [len(txSides)]prometheus.Gauge
	raw         [len(rawOutcomes)]prometheus.Counter
	stateless   [len(statelessOutcomes)]prometheus.Counter
	dialogFast  [len(dialogFastKinds)]prometheus.Counter
}

// dialogFastKinds: what the dialog fast path forwarded.
var dialogFastKinds = [...]string{"ack", "bye", "answer"}

const (
	dialogFastAck = iota
	dialogFastBye
	dialogFastAnswer
)

// statelessOutcomes: an INVITE answered by the stateless challenge, and
// an ACK for such an answer dropped in the reader.
var statelessOutcomes = [...]string{"answered", "ack_dropped"}

const (
	statelessAnswered = iota
	statelessAckDropped
)

// rawOutcomes are what became of a UDP REGISTER on the raw path
// (rawreg.go): answered there, or left to the full path because the reader
// or the registrar did not take it.
var rawOutcomes = [...]string{"answered", "declined_reader", "declined_registrar"}

const (
	rawAnswered = iota
	rawDeclinedReader
	rawDeclinedRegistrar
)

// txSides are the two kinds of SIP transaction the proxy keeps: the ones it
// answers (server) and the ones it forwards or sends (client).
var txSides = [...]string{"server", "client"}

const (
	txServer = iota
	txClient
)

// terminator is a transaction that can report its end (sipgo's server and
// client transactions).
type terminator interface {
	OnTerminate(sip.FnTxTerminate) bool
}

// trackTx counts tx in sipedge_proxy_transactions_active until it ends,
// lingering included (sip.transaction_linger): what Kamailio's tm reports
// as current transactions. A transaction that has already ended (or never
// existed, as on the REGISTER fast path) is not counted.
func (m *metrics) trackTx(side int, tx terminator) {
	g := m.txActive[side]
	g.Inc()
	if !tx.OnTerminate(func(string, error) { g.Dec() }) {
		g.Dec()
	}
}

// strayActions are what became of a response no client transaction
// matched (a 2xx retransmitted after its transaction ended).
var strayActions = [...]string{"relayed", "dropped"}

const (
	strayRelayed = iota
	strayDropped
)

// bigOutcomes are how a request too large for UDP reached a device
// registered over UDP (RFC 3261 §18.1.1).
var bigOutcomes = [...]string{"tcp", "udp_fallback"}

const (
	bigTCP = iota
	bigUDPFallback
)

// branchOutcomes are how a forwarded INVITE branch ended.
var branchOutcomes = [...]string{"answered", "rejected", "cancelled", "timeout", "error"}

type branchOutcome int

const (
	outcomeAnswered branchOutcome = iota
	outcomeRejected
	outcomeCancelled
	outcomeTimeout
	outcomeError
)

func newMetrics(reg prometheus.Registerer, inflight func() float64) (*metrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_requests_total",
		Help: "SIP requests received, by method and transport.",
	}, []string{"method", "transport"})
	responses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_responses_total",
		Help: "SIP responses sent to requests received, by request method and status class.",
	}, []string{"method", "class"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sipedge_proxy_request_duration_seconds",
		Help:    "Time from receiving a request to the end of its handling.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms … 32 s (Timer B)
	}, []string{"method"})
	panics := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sipedge_proxy_panics_total",
		Help: "Panics recovered in SIP request handlers (each answered 500).",
	})
	rejected := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sipedge_proxy_rejected_total",
		Help: "Requests refused with 503: max_inflight requests already being handled, a queueing delay past max_queue_delay, or draining.",
	})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_dropped_datagrams_total",
		Help: "UDP datagrams dropped before parsing, by reason.",
	}, []string{"reason"})
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sipedge_proxy_inflight_requests",
		Help: "SIP requests being handled now.",
	}, inflight)

	callsActive := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sipedge_proxy_calls_active",
		Help: "INVITEs being forwarded or answered and not yet ended by BYE (dialogs this proxy set up).",
	})
	callsSetup := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sipedge_proxy_calls_setup_total",
		Help: "Forwarded INVITEs answered 2xx.",
	})
	setupTime := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sipedge_proxy_call_setup_seconds",
		Help:    "Time from receiving an initial INVITE to sending its first final response.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms … 41 s
	})
	branches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_branches_total",
		Help: "Forwarded INVITE branches, by how they ended.",
	}, []string{"outcome"})
	failovers := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sipedge_proxy_branch_failovers_total",
		Help: "Upstream gateway attempts that failed over to the next target (408, 5xx, transport error).",
	})
	gatewayUp := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sipedge_proxy_gateway_up",
		Help: "1 while an upstream gateway target is considered up by its OPTIONS health check.",
	}, []string{"pool", "target"})

	timerC := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sipedge_proxy_timer_c_expired_total",
		Help: "Forwarded INVITE branches whose Timer C (RFC 3261 §16.6) expired: cancelled, or given up as 408.",
	})
	stray := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_stray_responses_total",
		Help: "Responses matching no client transaction, outside the socket reader: 2xx to INVITE and answers to stateless BYEs relayed upstream by their Via, or dropped.",
	}, []string{"action"})
	bigTCP := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_large_requests_total",
		Help: "Requests near the UDP MTU to devices registered over UDP, by the transport that carried them.",
	}, []string{"transport"})

	txActive := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sipedge_proxy_transactions_active",
		Help: "SIP transactions alive, finished ones still lingering for retransmissions included, by side (server: answered here; client: sent or forwarded).",
	}, []string{"side"})

	raw := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_register_raw_total",
		Help: "UDP REGISTERs on the raw path: answered there, or declined to the full path by the reader or the registrar.",
	}, []string{"outcome"})

	stateless := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_invite_stateless_total",
		Help: "Initial UDP INVITEs without credentials answered without a transaction (407, 403 or 400: challenge_fast_path), and the ACKs for those answers dropped.",
	}, []string{"outcome"})

	dialogFast := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_proxy_dialog_stateless_total",
		Help: "In-dialog messages forwarded without a transaction (dialog_fast_path): UDP ACKs and BYEs, and the answers to those BYEs, taken in the socket reader.",
	}, []string{"kind"})

	var errs []error
	for _, c := range []prometheus.Collector{requests, responses, duration, panics, rejected, dropped, gauge,
		callsActive, callsSetup, setupTime, branches, failovers, gatewayUp, timerC, stray, bigTCP, txActive, raw, stateless, dialogFast} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("proxy: register metrics: %w", err)
	}

	m := &metrics{panics: panics, rejected: rejected, callsActive: callsActive, callsSetup: callsSetup,
		setupTime: setupTime, failovers: failovers, gatewayUp: gatewayUp, timerC: timerC}
	for i, a := range strayActions {
		m.stray[i] = stray.WithLabelValues(a)
	}
	for i, o := range bigOutcomes {
		m.bigTCP[i] = bigTCP.WithLabelValues(o)
	}
	for i, side := range txSides {
		m.txActive[i] = txActive.WithLabelValues(side)
	}
	for i, o := range rawOutcomes {
		m.raw[i] = raw.WithLabelValues(o)
	}
	for i, k := range dialogFastKinds {
		m.dialogFast[i] = dialogFast.WithLabelValues(k)
	}
	for i, o := range statelessOutcomes {
		m.stateless[i] = stateless.WithLabelValues(o)
	}
	for i, o := range branchOutcomes {
		m.branches[i] = branches.WithLabelValues(o)
	}
	for i, meth := range methodNames {
		for j, tr := range transportNames {
			m.requests[i][j] = requests.WithLabelValues(meth, tr)
		}
		for j, cl := range classNames {
			m.responses[i][j] = responses.WithLabelValues(meth, cl)
		}
		m.duration[i] = duration.WithLabelValues(meth)
	}
	for i, r := range dropReasons {
		m.dropped[i] = dropped.WithLabelValues(r)
	}
	return m, nil
}

func (m *metrics) response(method int, code int) {
	c := code/100 - 1
	if c < 0 || c >= len(classNames) {
		return
	}
	m.responses[method][c].Inc()
}
