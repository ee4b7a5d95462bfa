package api

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the users service's own (apps/catalog lists them).
type Metrics struct {
	// Cache counts profile cache lookups by result (hit, miss, error): the
	// seed wants a hit ratio above 90 %.
	Cache *prometheus.CounterVec
	// Logins counts login attempts by result (success, failure, limited).
	Logins *prometheus.CounterVec
	// Refreshes counts refresh attempts by result (success, invalid, reused).
	Refreshes *prometheus.CounterVec
	// TokensIssued counts access tokens signed.
	TokensIssued prometheus.Counter
}

// NewMetrics registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "users_profile_cache_requests_total",
			Help: "Profile cache lookups by result: hit, miss or error (Redis unavailable, served from PostgreSQL)."}, []string{"result"}),
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "users_logins_total",
			Help: "Login attempts by result: success, failure, limited (refused by the rate limit) or busy (no core free to check the password in time)."}, []string{"result"}),
		Refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "users_token_refreshes_total",
			Help: "Refresh attempts by result: success, invalid, or reused (a spent token again: its family is revoked)."}, []string{"result"}),
		TokensIssued: prometheus.NewCounter(prometheus.CounterOpts{Name: "users_access_tokens_issued_total", Help: "Access tokens signed."}),
	}
	reg.MustRegister(m.Cache, m.Logins, m.Refreshes, m.TokensIssued)
	for _, r := range []string{"hit", "miss", "error"} {
		m.Cache.WithLabelValues(r)
	}
	for _, r := range []string{"success", "failure", "limited", "busy"} {
		m.Logins.WithLabelValues(r)
	}
	for _, r := range []string{"success", "invalid", "reused"} {
		m.Refreshes.WithLabelValues(r)
	}
	return m
}
