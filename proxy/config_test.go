package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // "" = valid
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "loopback port 0", edit: func(c *Config) { c.Listen = "127.0.0.1:0" }},
		{name: "ipv6", edit: func(c *Config) { c.Listen = "[::1]:5060" }},
		{name: "advertise ip", edit: func(c *Config) { c.Advertise = "203.0.113.7" }},
		{name: "advertise ip port", edit: func(c *Config) { c.Advertise = "203.0.113.7:5080" }},
		{name: "advertise name", edit: func(c *Config) { c.Advertise = "sip.example.com" }},
		{name: "advertise v6", edit: func(c *Config) { c.Advertise = "2001:db8::1" }},
		{name: "advertise bracketed v6 port", edit: func(c *Config) { c.Advertise = "[2001:db8::1]:5060" }},
		{name: "no port", edit: func(c *Config) { c.Listen = "127.0.0.1" }, field: "sip.listen"},
		{name: "host name listen", edit: func(c *Config) { c.Listen = "localhost:5060" }, field: "sip.listen"},
		{name: "port too big", edit: func(c *Config) { c.Listen = ":70000" }, field: "sip.listen"},
		{name: "advertise junk", edit: func(c *Config) { c.Advertise = "a b" }, field: "sip.advertise"},
		{name: "advertise crlf", edit: func(c *Config) { c.Advertise = "x\r\nVia: evil" }, field: "sip.advertise"},
		{name: "advertise port 0", edit: func(c *Config) { c.Advertise = "203.0.113.7:0" }, field: "sip.advertise"},
		{name: "user agent crlf", edit: func(c *Config) { c.UserAgent = "x\r\nX: y" }, field: "sip.user_agent"},
		{name: "negative buffer", edit: func(c *Config) { c.UDPReadBuffer = -1 }, field: "sip.udp_read_buffer"},
		{name: "zero inflight", edit: func(c *Config) { c.MaxInflight = 0 }, field: "sip.max_inflight"},
		{name: "negative retry", edit: func(c *Config) { c.RetryAfter = -1 }, field: "sip.retry_after"},
		{name: "negative ring timeout", edit: func(c *Config) { c.RingTimeout = -1 }, field: "sip.ring_timeout"},
		{name: "sipgo's linger", edit: func(c *Config) { c.TransactionLinger = 0 }},
		{name: "negative linger", edit: func(c *Config) { c.TransactionLinger = -1 }, field: "sip.transaction_linger"},
		{name: "linger over 64·T1", edit: func(c *Config) { c.TransactionLinger = time.Minute }, field: "sip.transaction_linger"},
		{name: "gateway pool", edit: func(c *Config) { c.Gateways = []GatewayPool{pool1()} }},
		{name: "gateway tcp ipv6", edit: func(c *Config) {
			p := pool1()
			p.Targets[0] = GatewayTarget{Addr: "[2001:db8::1]:5060", Transport: "TCP", Weight: 3}
			c.Gateways = []GatewayPool{p}
		}},
		{name: "gateway unnamed", edit: func(c *Config) { p := pool1(); p.Name = ""; c.Gateways = []GatewayPool{p} }, field: "sip.gateways[0].name"},
		{name: "gateway name twice", edit: func(c *Config) { c.Gateways = []GatewayPool{pool1(), pool1()} }, field: "sip.gateways[1].name"},
		{name: "gateway no targets", edit: func(c *Config) { p := pool1(); p.Targets = nil; c.Gateways = []GatewayPool{p} }, field: "sip.gateways[0].targets"},
		{name: "gateway host name", edit: func(c *Config) {
			p := pool1()
			p.Targets[0].Addr = "sip.carrier.example:5060"
			c.Gateways = []GatewayPool{p}
		}, field: "sip.gateways[0].targets[0].addr"},
		{name: "gateway port 0", edit: func(c *Config) { p := pool1(); p.Targets[0].Addr = "192.0.2.1:0"; c.Gateways = []GatewayPool{p} }, field: "sip.gateways[0].targets[0].addr"},
		{name: "gateway tls", edit: func(c *Config) { p := pool1(); p.Targets[0].Transport = "tls"; c.Gateways = []GatewayPool{p} }, field: "sip.gateways[0].targets[0].transport"},
		{name: "gateway negative weight", edit: func(c *Config) { p := pool1(); p.Targets[0].Weight = -1; c.Gateways = []GatewayPool{p} }, field: "sip.gateways[0].targets[0].weight"},
		{name: "gateway bad realm", edit: func(c *Config) { p := pool1(); p.Realm = "a b"; c.Gateways = []GatewayPool{p} }, field: "sip.gateways[0].realm"},
		{name: "gateway negative interval", edit: func(c *Config) { p := pool1(); p.CheckInterval = -1; c.Gateways = []GatewayPool{p} }, field: "sip.gateways[0].check_interval"},
		{name: "tls without cert", edit: func(c *Config) { c.TLS.Listen = ":5061" }, field: "sip.tls.cert"},
		{name: "tls files", edit: func(c *Config) { c.TLS = TLSConfig{Listen: ":5061", Cert: "c.pem", Key: "k.pem"} }},
		{name: "tls bad listen", edit: func(c *Config) { c.TLS = TLSConfig{Listen: "5061", Cert: "c", Key: "k"} }, field: "sip.tls.listen"},
		{name: "ws", edit: func(c *Config) { c.WS = WSConfig{Listen: ":8080", Origins: []string{"https://app.example.com:8443"}} }},
		{name: "ws bad listen", edit: func(c *Config) { c.WS.Listen = "localhost:8080" }, field: "sip.ws.listen"},
		{name: "wss without cert", edit: func(c *Config) { c.WS.TLSListen = ":8443" }, field: "sip.ws.tls_listen"},
		{name: "ws bad origin", edit: func(c *Config) { c.WS = WSConfig{Listen: ":8080", Origins: []string{"app.example.com"}} }, field: "sip.ws.origins[0]"},
		{name: "ws origin with path", edit: func(c *Config) { c.WS = WSConfig{Listen: ":8080", Origins: []string{"https://a.example/x"}} }, field: "sip.ws.origins[0]"},
		{name: "two default pools", edit: func(c *Config) {
			a, b := pool1(), pool1()
			b.Name = "other"
			a.Default, b.Default = true, true
			c.Gateways = []GatewayPool{a, b}
		}, field: "sip.gateways"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.field != "" && err == nil:
				t.Fatalf("no error, want one naming %s", tc.field)
			case tc.field != "" && !strings.HasPrefix(err.Error(), tc.field+":"):
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	if c.Listen != ":5060" || c.UserAgent != "sipedge" || c.UDPReadBuffer != 4<<20 || c.MaxInflight != 10000 {
		t.Fatalf("defaults = %+v", c)
	}
}

func pool1() GatewayPool {
	return GatewayPool{Name: "carrier", Targets: []GatewayTarget{{Addr: "192.0.2.1:5060"}}}
}

// ApplyTimers sets the four retention timers and nothing else; 0 leaves
// sipgo's.
func TestApplyTimers(t *testing.T) {
	saved := [...]time.Duration{sip.Timer_B, sip.Timer_D, sip.Timer_F, sip.Timer_H, sip.Timer_J, sip.Timer_L, sip.Timer_M}
	t.Cleanup(func() {
		sip.Timer_B, sip.Timer_D, sip.Timer_F, sip.Timer_H, sip.Timer_J, sip.Timer_L, sip.Timer_M =
			saved[0], saved[1], saved[2], saved[3], saved[4], saved[5], saved[6]
	})
	c := Default()
	c.TransactionLinger = 0
	c.ApplyTimers()
	if sip.Timer_J != saved[4] || sip.Timer_L != saved[5] {
		t.Fatalf("linger 0 changed sipgo's timers: J %v L %v", sip.Timer_J, sip.Timer_L)
	}
	Default().ApplyTimers()
	for name, got := range map[string]time.Duration{"D": sip.Timer_D, "J": sip.Timer_J, "L": sip.Timer_L, "M": sip.Timer_M} {
		if got != 5*time.Second {
			t.Errorf("Timer %s = %v, want the 5 s default linger", name, got)
		}
	}
	// Timeouts of unanswered transactions are not retention: unchanged.
	if sip.Timer_B != saved[0] || sip.Timer_F != saved[2] || sip.Timer_H != saved[3] {
		t.Errorf("B/F/H changed: %v %v %v", sip.Timer_B, sip.Timer_F, sip.Timer_H)
	}
}
