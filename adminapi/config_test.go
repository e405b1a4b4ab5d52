package adminapi

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		mod   func(*Config)
		field string // "" = valid
	}{
		{name: "defaults", mod: func(*Config) {}},
		{name: "bad listen", mod: func(c *Config) { c.Listen = "nope" }, field: "listen"},
		{name: "zero body", mod: func(c *Config) { c.MaxBodyBytes = 0 }, field: "max_body_bytes"},
		{name: "negative read timeout", mod: func(c *Config) { c.ReadTimeout = -time.Second }, field: "read_timeout"},
		{name: "zero write timeout", mod: func(c *Config) { c.WriteTimeout = 0 }, field: "write_timeout"},
		{name: "zero idle timeout", mod: func(c *Config) { c.IdleTimeout = 0 }, field: "idle_timeout"},
		{name: "zero page size", mod: func(c *Config) { c.PageSize = 0 }, field: "page_size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.field+":")):
				t.Errorf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
	d := Default()
	if d.Listen != "127.0.0.1:8000" || d.MaxBodyBytes != 1<<20 || d.PageSize != 50 ||
		d.ReadTimeout != 10*time.Second || d.WriteTimeout != 10*time.Second || d.IdleTimeout != 60*time.Second {
		t.Errorf("defaults %+v", d)
	}
}

func TestNewRejectsMissingDeps(t *testing.T) {
	if _, err := New(Default(), Deps{AdminToken: "x"}); err == nil {
		t.Error("New accepted a nil Directory")
	}
	bad := Default()
	bad.PageSize = -1
	if _, err := New(bad, Deps{AdminToken: "x"}); err == nil || !strings.Contains(err.Error(), "page_size") {
		t.Errorf("New with a bad config: %v", err)
	}
}
