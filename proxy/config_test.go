package proxy

import (
	"strings"
	"testing"
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
