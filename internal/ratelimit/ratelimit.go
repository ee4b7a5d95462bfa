// Package ratelimit limits requests per key (a client address, a subject, an
// account) across every replica of a service, in Redis, with the generic
// cell rate algorithm of go-redis/redis_rate: a key may spend its burst at
// once and then earns requests back at its rate. A refusal carries how long
// to wait, for the Retry-After header.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/intelliflow/platform/internal/jsonapi"
)

// Limit is a rate: Count requests per Per, all of which may come at once.
type Limit struct {
	Count int
	Per   time.Duration
}

// Rule is one key and its limit.
type Rule struct {
	Key   string
	Limit Limit
}

// Limiter checks rules in Redis.
type Limiter struct{ l *redis_rate.Limiter }

// New limits with rdb; every replica sharing it shares the counts.
func New(rdb *redis.Client) *Limiter { return &Limiter{l: redis_rate.NewLimiter(rdb)} }

// Allow spends one request of every rule. It refuses as soon as one rule
// refuses, saying how long until that rule allows again. When Redis cannot
// answer it allows and returns the error: the caller decides to log it (a
// Redis outage must not take logins or the API down with it).
func (l *Limiter) Allow(ctx context.Context, rules ...Rule) (ok bool, retryAfter time.Duration, err error) {
	for _, r := range rules {
		res, err := l.l.Allow(ctx, r.Key, redis_rate.Limit{Rate: r.Limit.Count, Burst: r.Limit.Count, Period: r.Limit.Per})
		if err != nil {
			return true, 0, fmt.Errorf("rate limit %s: %w", r.Key, err)
		}
		if res.Allowed == 0 {
			return false, res.RetryAfter, nil
		}
	}
	return true, 0, nil
}

// TooMany answers 429 with Retry-After in whole seconds, at least one.
func TooMany(w http.ResponseWriter, retryAfter time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retryAfter.Seconds())))))
	jsonapi.Write(w, http.StatusTooManyRequests, map[string]string{"error": "too many requests; retry after the Retry-After seconds"})
}
