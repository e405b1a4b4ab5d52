package adminapi

import (
	"crypto/sha256"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/valyala/fasthttp"
)

// rateTracked bounds the buckets kept: tokens are few, but anything sent as
// X-Auth-Token gets a bucket before it is checked, so guessed tokens must
// not grow memory.
const rateTracked = 10000

// rateLimiter is a token bucket per X-Auth-Token (the admin token too),
// keyed by the token's hash so no credential sits in the map.
type rateLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets *simplelru.LRU[[sha256.Size]byte, *tokenBucket]
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

// newRateLimiter returns nil when the limit is off (rate 0).
func newRateLimiter(rate float64, burst int) (*rateLimiter, error) {
	if rate <= 0 {
		return nil, nil
	}
	b, err := simplelru.NewLRU[[sha256.Size]byte, *tokenBucket](rateTracked, nil)
	if err != nil {
		return nil, fmt.Errorf("adminapi: rate limiter: %w", err)
	}
	return &rateLimiter{rate: rate, burst: float64(burst), now: time.Now, buckets: b}, nil
}

// take spends one request of token's bucket; when there is none it says
// how many whole seconds until there is.
func (l *rateLimiter) take(token string) (ok bool, retryAfter int) {
	key := sha256.Sum256([]byte(token))
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets.Get(key)
	if !found {
		b = &tokenBucket{tokens: l.burst, last: now}
		l.buckets.Add(key, b)
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, max(1, int(math.Ceil((1-b.tokens)/l.rate)))
}

// limit is the check dispatch runs on every non-public route: 429 with
// Kazoo's too_many_requests envelope and Retry-After.
func (s *Server) limit(r *request) *apiError {
	if s.rate == nil {
		return nil
	}
	ok, after := s.rate.take(r.token)
	if ok {
		return nil
	}
	r.ctx.Response.Header.Set("Retry-After", strconv.Itoa(after))
	return &apiError{code: fasthttp.StatusTooManyRequests, message: "too_many_requests", data: msgData("too many requests")}
}
