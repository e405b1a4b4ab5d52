package adminapi

import (
	"strconv"
	"testing"
	"time"

	"github.com/sipedge/sipedge/devices"
)

// Each token has its own bucket: past the burst the admin token gets 429
// with Kazoo's envelope and Retry-After, while an account token and the
// public probes still pass.
func TestRateLimitPerToken(t *testing.T) {
	const burst = 4
	ta := startAPI(t, nil, func(c *Config, _ *Deps, _ *devices.Store) {
		c.RateLimit, c.RateBurst = 0.01, burst // practically no refill during the test
	})
	// The account and its token come out of the admin token's burst.
	acct := ta.createAccount("Acme", "acme.example.com")
	tok := ta.token(acct)
	for i := 2; i < burst; i++ {
		ta.do("GET", "/v2/accounts", testAdminToken, "").mustCode(t, 200)
	}
	r := ta.do("GET", "/v2/accounts", testAdminToken, "")
	errorEnvelope(t, r, 429, "too_many_requests", map[string]any{"message": "too many requests"})
	after, err := strconv.Atoi(r.hdr.Get("Retry-After"))
	if err != nil || after < 1 {
		t.Errorf("Retry-After = %q, want whole seconds ≥ 1", r.hdr.Get("Retry-After"))
	}

	ta.do("GET", "/v2/accounts/"+acct, tok, "").mustCode(t, 200)
	ta.do("GET", "/livez", "", "").mustCode(t, 200)
	ta.do("GET", "/v2/accounts", testAdminToken, "").mustCode(t, 429)
}

func TestRateLimiterBucket(t *testing.T) {
	l, err := newRateLimiter(2, 2)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	l.now = func() time.Time { return now }
	steps := []struct {
		name  string
		wait  time.Duration
		ok    bool
		after int
	}{
		{"first", 0, true, 0},
		{"second", 0, true, 0},
		{"over the burst", 0, false, 1},
		{"half a token later", 250 * time.Millisecond, false, 1},
		{"one token later", 250 * time.Millisecond, true, 0},
		{"long idle refills only to the burst", time.Hour, true, 0},
		{"burst", 0, true, 0},
		{"over again", 0, false, 1},
	}
	for _, s := range steps {
		now = now.Add(s.wait)
		ok, after := l.take("admin")
		if ok != s.ok || after != s.after {
			t.Fatalf("%s: take = %v, %d; want %v, %d", s.name, ok, after, s.ok, s.after)
		}
	}
	if ok, _ := l.take("another token"); !ok {
		t.Fatal("a second token shares the first one's bucket")
	}
	slow, _ := newRateLimiter(0.1, 1)
	slow.take("x")
	if _, after := slow.take("x"); after != 10 {
		t.Errorf("Retry-After at 0.1/s = %d, want 10", after)
	}
	if off, _ := newRateLimiter(0, 0); off != nil {
		t.Error("rate 0 should turn the limiter off")
	}
}

// Guessed tokens each get a bucket, but no more than rateTracked exist.
func TestRateLimiterBounded(t *testing.T) {
	l, _ := newRateLimiter(1, 1)
	for i := range rateTracked + 500 {
		l.take("guess-" + strconv.Itoa(i))
	}
	if n := l.buckets.Len(); n != rateTracked {
		t.Fatalf("buckets = %d, want the bound %d", n, rateTracked)
	}
}

func TestRateLimitConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rate  float64
		burst int
		ok    bool
	}{
		{"defaults", 50, 100, true},
		{"off", 0, 0, true},
		{"negative", -1, 10, false},
		{"no burst", 10, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.RateLimit, c.RateBurst = tc.rate, tc.burst
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
