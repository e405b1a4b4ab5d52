package registrar

import (
	"errors"
	"fmt"
	"time"
)

// Digest algorithms the registrar can challenge with (RFC 8760 names).
const (
	AlgSHA256 = "SHA-256"
	AlgMD5    = "MD5"
)

// Ban actions.
const (
	BanActionForbidden = "403"
	BanActionDrop      = "drop"
)

// Config is the registrar section of the configuration file.
type Config struct {
	// Algorithms is the challenge order: one WWW-Authenticate per entry.
	Algorithms []string `yaml:"algorithms"`
	// NonceTTL bounds a nonce's age; an older nonce with otherwise valid
	// credentials is answered 401 with stale=true so the phone retries at once.
	NonceTTL time.Duration `yaml:"nonce_ttl"`
	// Secret keys the nonce and opaque HMACs. cmd passes a key persisted in the
	// data directory so nonces survive restarts; nil means a random one.
	Secret []byte `yaml:"-"`
	// DefaultExpires applies when neither the REGISTER nor the device says.
	DefaultExpires int `yaml:"default_expires"`
	// MinExpires: a non-zero request below it gets 423 Interval Too Brief.
	MinExpires int `yaml:"min_expires"`
	// MaxExpires: longer requests are clamped to it.
	MaxExpires int `yaml:"max_expires"`
	// MaxContacts per AOR; 1 makes a new contact replace the old (Kazoo),
	// more evicts the least recently refreshed one.
	MaxContacts int `yaml:"max_contacts"`
	// ExpiresDeviation is added to "expires" in API records, as Kazoo's ecallmgr does.
	ExpiresDeviation int `yaml:"expires_deviation"`
	// FailedAuth is the brute-force limiter.
	FailedAuth FailedAuthConfig `yaml:"failed_auth"`
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time `yaml:"-"`
}

// FailedAuthConfig limits failed digest authentications per (user@realm, source IP).
type FailedAuthConfig struct {
	// Limit failures within Window ban the pair for Ban.
	Limit  int           `yaml:"limit"`
	Window time.Duration `yaml:"window"`
	Ban    time.Duration `yaml:"ban"`
	// Action for a banned pair: "403" answers 403 Forbidden, "drop" stays silent.
	Action string `yaml:"action"`
	// MaxTracked bounds the failure counters and the bans (each), so a
	// spoofed-source flood cannot grow memory.
	MaxTracked int `yaml:"max_tracked"`
}

// Default returns the defaults a newcomer gets.
func Default() Config {
	return Config{
		Algorithms:       []string{AlgSHA256, AlgMD5},
		NonceTTL:         5 * time.Minute,
		DefaultExpires:   300,
		MinExpires:       60,
		MaxExpires:       3600,
		MaxContacts:      1,
		ExpiresDeviation: 180,
		FailedAuth: FailedAuthConfig{
			Limit:      10,
			Window:     time.Minute,
			Ban:        10 * time.Minute,
			Action:     BanActionForbidden,
			MaxTracked: 100000,
		},
	}
}

// Validate checks every field and names the first bad one.
func (c Config) Validate() error {
	if len(c.Algorithms) == 0 {
		return errors.New("registrar.algorithms: must not be empty")
	}
	seen := map[string]bool{}
	for i, a := range c.Algorithms {
		if a != AlgSHA256 && a != AlgMD5 {
			return fmt.Errorf("registrar.algorithms[%d]: %q is not one of SHA-256, MD5", i, a)
		}
		if seen[a] {
			return fmt.Errorf("registrar.algorithms[%d]: %q listed twice", i, a)
		}
		seen[a] = true
	}
	switch {
	case c.NonceTTL <= 0:
		return errors.New("registrar.nonce_ttl: must be > 0")
	case c.MinExpires < 1:
		return errors.New("registrar.min_expires: must be ≥ 1")
	case c.MaxExpires < c.MinExpires:
		return errors.New("registrar.min_expires: must be ≤ max_expires")
	case c.DefaultExpires < c.MinExpires || c.DefaultExpires > c.MaxExpires:
		return errors.New("registrar.default_expires: must be between min_expires and max_expires")
	case c.MaxContacts < 1:
		return errors.New("registrar.max_contacts: must be ≥ 1")
	case c.ExpiresDeviation < 0:
		return errors.New("registrar.expires_deviation: must be ≥ 0")
	case c.FailedAuth.Limit < 1:
		return errors.New("registrar.failed_auth.limit: must be ≥ 1")
	case c.FailedAuth.Window <= 0:
		return errors.New("registrar.failed_auth.window: must be > 0")
	case c.FailedAuth.Ban <= 0:
		return errors.New("registrar.failed_auth.ban: must be > 0")
	case c.FailedAuth.Action != BanActionForbidden && c.FailedAuth.Action != BanActionDrop:
		return fmt.Errorf("registrar.failed_auth.action: %q is not one of \"403\", \"drop\"", c.FailedAuth.Action)
	case c.FailedAuth.MaxTracked < 1:
		return errors.New("registrar.failed_auth.max_tracked: must be ≥ 1")
	case c.Secret != nil && len(c.Secret) < 16:
		return errors.New("registrar.secret: must be at least 16 bytes")
	}
	return nil
}
