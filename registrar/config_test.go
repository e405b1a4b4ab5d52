package registrar

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"md5 only", func(c *Config) { c.Algorithms = []string{"MD5"} }, ""},
		{"no algorithms", func(c *Config) { c.Algorithms = nil }, "registrar.algorithms"},
		{"bad algorithm", func(c *Config) { c.Algorithms = []string{"SHA-512"} }, "registrar.algorithms[0]"},
		{"duplicate algorithm", func(c *Config) { c.Algorithms = []string{"MD5", "MD5"} }, "registrar.algorithms[1]"},
		{"nonce ttl", func(c *Config) { c.NonceTTL = 0 }, "registrar.nonce_ttl"},
		{"min above max", func(c *Config) { c.MinExpires = 4000 }, "registrar.min_expires: must be ≤ max_expires"},
		{"min zero", func(c *Config) { c.MinExpires = 0 }, "registrar.min_expires"},
		{"default out of range", func(c *Config) { c.DefaultExpires = 30 }, "registrar.default_expires"},
		{"max contacts", func(c *Config) { c.MaxContacts = 0 }, "registrar.max_contacts"},
		{"deviation", func(c *Config) { c.ExpiresDeviation = -1 }, "registrar.expires_deviation"},
		{"limit", func(c *Config) { c.FailedAuth.Limit = 0 }, "registrar.failed_auth.limit"},
		{"window", func(c *Config) { c.FailedAuth.Window = 0 }, "registrar.failed_auth.window"},
		{"ban", func(c *Config) { c.FailedAuth.Ban = 0 }, "registrar.failed_auth.ban"},
		{"action", func(c *Config) { c.FailedAuth.Action = "tarpit" }, "registrar.failed_auth.action"},
		{"drop action", func(c *Config) { c.FailedAuth.Action = "drop" }, ""},
		{"max tracked", func(c *Config) { c.FailedAuth.MaxTracked = 0 }, "registrar.failed_auth.max_tracked"},
		{"short secret", func(c *Config) { c.Secret = []byte("short") }, "registrar.secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.field) {
				t.Fatalf("error %v, want one starting with %q", err, tt.field)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	c := Default()
	in := "algorithms: [MD5]\nnonce_ttl: 2m\nmin_expires: 120\nmax_contacts: 3\nfailed_auth:\n  limit: 4\n  window: 30s\n  action: drop\n"
	dec := yaml.NewDecoder(strings.NewReader(in))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.NonceTTL != 2*time.Minute || c.MinExpires != 120 || c.MaxContacts != 3 || c.FailedAuth.Limit != 4 ||
		c.FailedAuth.Window != 30*time.Second || c.FailedAuth.Action != "drop" || c.FailedAuth.Ban != 10*time.Minute ||
		len(c.Algorithms) != 1 || c.MaxExpires != 3600 {
		t.Fatalf("decoded %+v", c)
	}
}
