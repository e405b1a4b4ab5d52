package adminapi

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config is the "api" section of the sipedge configuration.
type Config struct {
	// Listen is the TCP address of the API; loopback by default because
	// the API can rewrite every credential.
	Listen string `yaml:"listen"`
	// MaxBodyBytes caps a request body; larger bodies get 413 before they
	// are read.
	MaxBodyBytes int           `yaml:"max_body_bytes"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
	// PageSize is the default number of rows of a paginated listing.
	PageSize int `yaml:"page_size"`
	// RateLimit is the requests per second allowed per X-Auth-Token (the
	// admin token included), RateBurst how many at once; 0 turns it off.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
}

// Default returns the configuration a fresh install runs with.
func Default() Config {
	return Config{
		Listen:       "127.0.0.1:8000",
		MaxBodyBytes: 1 << 20,
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		IdleTimeout:  60 * time.Second,
		PageSize:     50,
		RateLimit:    50,
		RateBurst:    100,
	}
}

// Validate names the first bad field of c.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q: %w", c.Listen, err))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_body_bytes: must be positive, got %d", c.MaxBodyBytes))
	}
	if c.ReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("read_timeout: must be positive, got %s", c.ReadTimeout))
	}
	if c.WriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("write_timeout: must be positive, got %s", c.WriteTimeout))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("idle_timeout: must be positive, got %s", c.IdleTimeout))
	}
	if c.PageSize <= 0 {
		errs = append(errs, fmt.Errorf("page_size: must be positive, got %d", c.PageSize))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("rate_limit: must not be negative, got %v", c.RateLimit))
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("rate_burst: must be at least 1, got %d", c.RateBurst))
	}
	return errors.Join(errs...)
}
