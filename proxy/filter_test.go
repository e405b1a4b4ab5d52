package proxy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sipedge/sipedge/proxy/proxytest"
)

// A read filter drops a refused datagram on UDP (and the listener lives on)
// and closes a TCP connection it refuses.
func TestReadFilterHook(t *testing.T) {
	srv := proxytest.NewServer(t, nil, proxytest.WithReadFilter(func(transport string, remote net.Addr, data []byte) bool {
		return !bytes.Contains(data, []byte("X-Refuse: yes"))
	}))
	uri := fmt.Sprintf("sip:%s", srv.UDP)
	msg := func(callID string, extra ...string) string {
		h := append([]string{"Via: SIP/2.0/UDP 127.0.0.1:1;rport;branch=" + branch(), "From: <sip:a@example.com>;tag=1", "To: <sip:a@example.com>", "Call-ID: " + callID, "CSeq: 1 OPTIONS", "Max-Forwards: 70"}, extra...)
		return request("OPTIONS "+uri+" SIP/2.0", h...)
	}

	t.Run("UDP", func(t *testing.T) {
		c := rawUDP(t, srv.UDP, msg("refused", "X-Refuse: yes"))
		if _, err := c.Write([]byte(msg("accepted"))); err != nil {
			t.Fatal(err)
		}
		// Datagrams from one socket are read in order: the first answer is
		// for the second request only if the first was dropped.
		res := readResponse(t, c)
		if res.StatusCode != 200 || res.CallID().Value() != "accepted" {
			t.Fatalf("got %d for %q, want 200 for the accepted request", res.StatusCode, res.CallID().Value())
		}
		if got := counter(t, srv.Registry, "sipedge_proxy_dropped_datagrams_total", map[string]string{"reason": "filter"}); got != 1 {
			t.Errorf("dropped{filter} = %v, want 1", got)
		}
	})

	t.Run("TCP", func(t *testing.T) {
		c, err := net.Dial("tcp", srv.TCP.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(msg("tcp-ok"))); err != nil {
			t.Fatal(err)
		}
		if res := readResponse(t, c); res.StatusCode != 200 {
			t.Fatalf("accepted request: %d", res.StatusCode)
		}
		if _, err := c.Write([]byte(msg("tcp-refused", "X-Refuse: yes"))); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(make([]byte, 1024))
		if !errors.Is(err, io.EOF) {
			t.Fatalf("read %d bytes, err %v: want the connection closed", n, err)
		}
	})
}
