package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// keySet is the users service's access-token keys once a first fetch got
// them. keyfunc refetches only every JWKS_REFRESH_INTERVAL after a failed
// first fetch, so a gateway started before users answers (a deploy's
// first minutes, or a new pod whose network policy the node has not
// applied yet, refused until it has) stayed unready for minutes; here the
// first fetch is tried again after 0.5 s, doubling to 30 s, until it
// succeeds.
type keySet struct {
	kf atomic.Pointer[keyfunc.Keyfunc]
}

// Pauses between first fetches.
const (
	firstFetchPause    = 500 * time.Millisecond
	firstFetchMaxPause = 30 * time.Second
)

// fetchKeys starts fetching the key set (until ctx ends).
func fetchKeys(ctx context.Context, cfg config, log *slog.Logger) *keySet {
	k := &keySet{}
	go func() {
		for pause := firstFetchPause; ; pause = min(2*pause, firstFetchMaxPause) {
			// The key set is fetched now and every JWKS_REFRESH_INTERVAL;
			// a token with a kid it lacks (a rotation) fetches it again
			// at most once per JWKS_UNKNOWN_KID_INTERVAL. Past that rate
			// an unknown kid is refused at once (the limiter never waits
			// beyond its deadline, which also bounds the fetch).
			// A failed try's refresh loop ends with its context.
			try, cancel := context.WithCancel(ctx)
			fail := false
			kf, err := keyfunc.NewDefaultOverrideCtx(try, []string{cfg.jwksURL}, keyfunc.Override{
				HTTPTimeout: 5 * time.Second, RefreshInterval: cfg.jwksRefresh, NoErrorReturnFirstHTTPReq: &fail,
				RefreshUnknownKID: rate.NewLimiter(rate.Every(cfg.unknownKID), 1), RateLimitWaitMax: 3 * time.Second,
				RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
					return func(_ context.Context, err error) { log.Warn("key set refresh failed", "url", u, "error", err.Error()) }
				},
			})
			if err == nil {
				var all []jwkset.JWK
				if all, err = kf.Storage().KeyReadAll(try); err == nil && len(all) == 0 {
					err = errors.New("the key set is empty")
				}
			}
			if err == nil {
				// The key set's refresh loop lives as long as ctx.
				context.AfterFunc(ctx, cancel)
				k.kf.Store(&kf)
				log.Info("key set fetched", "url", cfg.jwksURL)
				return
			}
			cancel()
			log.Warn("key set not fetched; trying again", "url", cfg.jwksURL, "in", pause.String(), "error", err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
		}
	}()
	return k
}

// get is the key set, or nil before the first fetch.
func (k *keySet) get() keyfunc.Keyfunc {
	if p := k.kf.Load(); p != nil {
		return *p
	}
	return nil
}

// errNoKeys refuses tokens before the first fetch.
var errNoKeys = errors.New("no access-token keys yet")

// Keyfunc verifies a token's signature with the key set.
func (k *keySet) Keyfunc(t *jwt.Token) (any, error) {
	kf := k.get()
	if kf == nil {
		return nil, errNoKeys
	}
	return kf.Keyfunc(t)
}
