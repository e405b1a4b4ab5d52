package proxy_test

import (
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sipedge/sipedge/proxy/proxytest"
)

func TestMetricsLint(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	if _, err := srv.Do(ctxT(t), "UDP", sip.NewRequest(sip.OPTIONS, srv.URI(""))); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(srv.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	// Children are created up front, so every method×transport series exists
	// from the start and the set stays bounded whatever arrives.
	n, err := testutil.GatherAndCount(srv.Registry, "sipedge_proxy_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	if n != 15*6 {
		t.Errorf("%d request series, want 15 methods × 6 transports", n)
	}
}
