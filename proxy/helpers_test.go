package proxy_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// rawUDP sends one datagram from a fresh socket and returns the socket so
// the caller can read the answer.
func rawUDP(t *testing.T, to netip.AddrPort, msg string) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	return c
}

// readResponse reads one SIP response from c, failing after a deadline.
func readResponse(t *testing.T, c net.Conn) *sip.Response {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	msg, err := sip.ParseMessage(buf[:n])
	if err != nil {
		t.Fatalf("unparseable answer %q: %v", buf[:n], err)
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		t.Fatalf("answer is not a response: %q", buf[:n])
	}
	return res
}

// request builds a raw request; hdrs are "Name: value" lines, the minimal
// valid set unless the caller leaves some out.
func request(startLine string, hdrs ...string) string {
	var b bytes.Buffer
	b.WriteString(startLine + "\r\n")
	for _, h := range hdrs {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func branch() string { return sip.GenerateBranch() }

// counter reads one series of a counter or gauge from a registry.
func counter(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			n := 0
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v == lp.GetValue() {
					n++
				}
			}
			if n == len(labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
	}
	return 0
}

func header(res *sip.Response, name string) string {
	h := res.GetHeader(name)
	if h == nil {
		return "<absent>"
	}
	return h.Value()
}

func hasToken(list, tok string) bool {
	for _, p := range strings.Split(list, ",") {
		if strings.TrimSpace(p) == tok {
			return true
		}
	}
	return false
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
