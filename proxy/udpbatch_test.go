package proxy_test

import (
	"fmt"
	"testing"

	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

// A burst from many phones at once is read in batches and answered in
// batches: every phone gets its own answer (its Call-ID, at its own
// address), none is lost or crossed, with batching on and off. A race build
// reads one datagram at a time whatever the config (race_on.go), so the
// batch reader is tested by the runs without -race (go test ./proxy/ and
// make interop's sipedge).
func TestUDPBatchBurst(t *testing.T) {
	for _, batch := range []int{0, 4, 16} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			srv, _, _, _ := fastEnv(t, nil, proxytest.WithConfig(func(c *proxy.Config) { c.UDPBatch = batch }))
			// 64 datagrams of ~600 bytes stay within a default (208 KiB)
			// socket buffer even when the server is slow (-race).
			const phones = 64
			ps := make([]*udpPhone, phones)
			for i := range ps {
				ps[i] = newUDPPhone(t, srv.UDP)
			}
			// Everyone sends before anyone reads, so the server finds many
			// datagrams waiting and reads them several at a time.
			for _, p := range ps {
				p.send(p.register(contactLine(p.port(), "")))
			}
			for i, p := range ps {
				res := readResponse(t, p.c)
				if res.StatusCode != 401 {
					t.Fatalf("phone %d: %d %s", i, res.StatusCode, res.Reason)
				}
				if got := res.CallID().Value(); got != p.callID {
					t.Fatalf("phone %d got the answer for Call-ID %q, its own is %q", i, got, p.callID)
				}
			}
			if got := counter(t, srv.Registry, "sipedge_proxy_register_raw_total", map[string]string{"outcome": "answered"}); got != phones {
				t.Errorf("raw path answered %v, want %d", got, phones)
			}
		})
	}
}
