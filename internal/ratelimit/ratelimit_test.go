package ratelimit

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/redistest"
)

func TestLimitsPerKeyAcrossReplicas(t *testing.T) {
	addr, stop := redistest.Start(t)
	a, b := redis.NewClient(&redis.Options{Addr: addr}), redis.NewClient(&redis.Options{Addr: addr})
	defer a.Close()
	defer b.Close()
	one, two := New(a), New(b) // two replicas
	ctx := context.Background()
	limit := Limit{Count: 5, Per: time.Minute}
	for i := range 5 {
		l := one
		if i%2 == 1 {
			l = two
		}
		ok, _, err := l.Allow(ctx, Rule{"ip:203.0.113.9", limit})
		require.NoError(t, err)
		require.True(t, ok, "request %d is within the burst", i)
	}
	ok, wait, err := two.Allow(ctx, Rule{"ip:203.0.113.9", limit})
	require.NoError(t, err)
	require.False(t, ok, "the sixth, on either replica, is refused")
	require.InDelta(t, 12*time.Second, wait, float64(time.Second), "one request back every 12 s")
	ok, _, _ = one.Allow(ctx, Rule{"ip:198.51.100.7", limit})
	require.True(t, ok, "another key has its own count")
	ok, _, _ = one.Allow(ctx, Rule{"ip:198.51.100.7", limit}, Rule{"ip:203.0.113.9", limit})
	require.False(t, ok, "every rule must allow")

	rec := httptest.NewRecorder()
	TooMany(rec, 11200*time.Millisecond)
	require.Equal(t, 429, rec.Code)
	require.Equal(t, "12", rec.Header().Get("Retry-After"))

	stop()
	ok, _, err = one.Allow(ctx, Rule{"ip:203.0.113.9", limit})
	require.True(t, ok, "Redis down: allowed")
	require.Error(t, err, "and said so")
}
