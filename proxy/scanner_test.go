package proxy_test

import (
	"testing"

	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

// With silent_scanners a request whose User-Agent names a scanner gets no
// answer at all; without it, it is answered like any other.
func TestScannerSilence(t *testing.T) {
	for _, tc := range []struct {
		name    string
		silent  bool
		allow   []string
		ua      string
		dropped float64
	}{
		{name: "sipvicious silenced", silent: true, ua: "User-Agent: friendly-scanner", dropped: 1},
		{name: "case and spacing", silent: true, ua: "user-agent :  SIPVicious/0.3.4", dropped: 1},
		{name: "phone answered", silent: true, ua: "User-Agent: Yealink SIP-T46S 66.86.0.15"},
		{name: "allow-listed source answered", silent: true, allow: []string{"127.0.0.0/8"}, ua: "User-Agent: sipcli/v1.8"},
		{name: "off by default", ua: "User-Agent: friendly-scanner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := proxytest.NewServer(t, nil, proxytest.WithConfig(func(c *proxy.Config) {
				c.SilentScanners = tc.silent
				c.Flood.Allow = tc.allow
			}))
			c := udpFrom(t, "127.0.0.1", srv.UDP)
			if _, err := c.Write(options(srv, "maybe-scanner", tc.ua)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(options(srv, "honest")); err != nil {
				t.Fatal(err)
			}
			// Read filters run in arrival order: the first answer is the
			// honest one exactly when the scanner's request was dropped.
			res := readResponse(t, c)
			wantFirst := "maybe-scanner"
			if tc.dropped > 0 {
				wantFirst = "honest"
			}
			if res.StatusCode != 200 || res.CallID().Value() != wantFirst {
				// The two are handled concurrently once admitted; read the
				// second answer before judging the order.
				if tc.dropped == 0 {
					second := readResponse(t, c)
					if second.CallID().Value() != wantFirst {
						t.Fatalf("answers %q then %q: the scanner-like request went unanswered", res.CallID().Value(), second.CallID().Value())
					}
				} else {
					t.Fatalf("first answer %d for %q, want 200 for %q", res.StatusCode, res.CallID().Value(), wantFirst)
				}
			}
			if got := counter(t, srv.Registry, "sipedge_proxy_scanner_dropped_total", nil); got != tc.dropped {
				t.Errorf("scanner_dropped_total = %v, want %v", got, tc.dropped)
			}
		})
	}
}
