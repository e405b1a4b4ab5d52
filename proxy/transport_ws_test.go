package proxy_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

// The WebSocket listener lets in the Origins on its list and clients that
// send none (phones); a page from anywhere else gets 403.
func TestWebSocketOrigin(t *testing.T) {
	srv := proxytest.NewServer(t, nil, proxytest.WithConfig(func(c *proxy.Config) {
		c.Listen = "127.0.0.1:0"
		c.WS = proxy.WSConfig{Listen: "127.0.0.1:0", Origins: []string{"https://phone.example.com"}}
	}))
	tests := []struct {
		name, origin string
		status       string
	}{
		{name: "allowed", origin: "https://phone.example.com", status: "101"},
		{name: "allowed any case", origin: "HTTPS://Phone.Example.com", status: "101"},
		{name: "no origin", status: "101"},
		{name: "other site", origin: "https://evil.example.net", status: "403"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.WS.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := "GET / HTTP/1.1\r\nHost: " + srv.WS.String() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n"
			if tc.origin != "" {
				req += "Origin: " + tc.origin + "\r\n"
			}
			if _, err := c.Write([]byte(req + "\r\n")); err != nil {
				t.Fatal(err)
			}
			if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if f := strings.Fields(line); len(f) < 2 || f[1] != tc.status {
				t.Fatalf("got %q, want status %s", line, tc.status)
			}
		})
	}
}
