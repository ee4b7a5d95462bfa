// Package httpserver runs a service's API and metrics listeners the way every
// IntelliFlow service must: timeouts and header and body limits on every
// request, a request id on every request (passed on to the services it
// calls), a handler panic answered with a 500 instead of a dead process,
// liveness that never looks past the process and readiness that does (the
// service's own dependency check), and a shutdown that fails readiness
// first, keeps serving while endpoints catch up, then drains.
package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/telemetry"
)

// Limits every request is held to.
const (
	// MaxHeaderBytes bounds request headers (a JWT and a few cookies fit).
	MaxHeaderBytes = 16 << 10
	// DefaultMaxBody bounds request bodies unless Config.MaxBody says more.
	DefaultMaxBody = 1 << 20
	// shutdownLimit is how long in-flight requests get once draining ends.
	shutdownLimit = 10 * time.Second
)

// Config is one service's servers.
type Config struct {
	// Standard holds the listen addresses (":8080", "127.0.0.1:0"), the
	// drain and whether profiles are served.
	Standard
	// Handler serves the API; liveness and readiness are added at the
	// catalog's paths.
	Handler http.Handler
	// Registry is served on the metrics listener.
	Registry *prometheus.Registry
	// Health is the service's liveness and readiness.
	Health *Health
	// HTTP instruments the health routes like the API's; may be nil.
	HTTP *telemetry.HTTP
	Log  *slog.Logger
	// MaxBody bounds request bodies; 0 means DefaultMaxBody.
	MaxBody int64
	// WriteTimeout bounds a whole response; 0 means 30 s.
	WriteTimeout time.Duration
	// Listening, when set, is told the bound addresses (tests listen on :0).
	Listening func(api, metrics net.Addr)
}

// Health answers the probes. Readiness fails while the service drains or
// when its dependency check fails; liveness only says the process serves.
type Health struct {
	check    func(ctx context.Context) error
	draining atomic.Bool
}

// NewHealth makes a service's health from its dependency check (nil: ready
// whenever it serves). The check gets a context bounded to 2 s.
func NewHealth(check func(ctx context.Context) error) *Health {
	return &Health{check: check}
}

// Live is the liveness handler: 200 while the process serves. It never
// checks a dependency, so an outage downstream restarts nothing.
func (h *Health) Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"live": true})
	})
}

// Ready is the readiness handler: 503 with the reason while draining or
// while a dependency is unavailable.
func (h *Health) Ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.Err(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ready": true})
	})
}

// Err says why the service is not ready, or nil.
func (h *Health) Err(ctx context.Context) error {
	if h.draining.Load() {
		return errors.New("shutting down")
	}
	if h.check == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return h.check(ctx)
}

// Run serves until ctx is done, then fails readiness, keeps serving for
// Drain, and shuts both listeners down, letting in-flight requests finish.
// It returns the first listener error, or nil after a clean shutdown.
func Run(ctx context.Context, c Config) error {
	if c.Handler == nil || c.Registry == nil || c.Health == nil || c.Log == nil {
		return errors.New("httpserver: Handler, Registry, Health and Log are required")
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	mux := http.NewServeMux()
	route := func(path string, h http.Handler) { c.HTTP.Handle(mux, "GET "+path, h) }
	route(catalog.LivenessPath, c.Health.Live())
	route(catalog.ReadinessPath, c.Health.Ready())
	mux.Handle("/", c.Handler)
	api := &http.Server{
		Handler:           telemetry.RequestIDs(recoverPanics(c.Log, limitBody(c.MaxBody, mux))),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: c.WriteTimeout,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(c.Log.Handler(), slog.LevelWarn),
	}
	metricsMux := http.NewServeMux()
	metricsMux.Handle("GET "+catalog.MetricsPath, promhttp.HandlerFor(c.Registry, promhttp.HandlerOpts{}))
	if c.Profiling {
		// On the metrics listener only: its NetworkPolicy admits Prometheus
		// alone, so profiles are read by port-forward, never by clients.
		metricsMux.HandleFunc("GET /debug/pprof/", pprof.Index)
		metricsMux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		metricsMux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		c.Log.Warn("profiling on: /debug/pprof/ on the metrics listener (DEBUG_PPROF)")
	}
	metrics := &http.Server{Handler: metricsMux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: MaxHeaderBytes}

	apiLn, err := net.Listen("tcp", c.API)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.API, err)
	}
	metricsLn, err := net.Listen("tcp", c.Metrics)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("listen %s: %w", c.Metrics, err)
	}
	errc := make(chan error, 2)
	go func() { errc <- api.Serve(apiLn) }()
	go func() { errc <- metrics.Serve(metricsLn) }()
	c.Log.Info("serving", "http", apiLn.Addr().String(), "metrics", metricsLn.Addr().String())
	if c.Listening != nil {
		c.Listening(apiLn.Addr(), metricsLn.Addr())
	}

	select {
	case err := <-errc:
		_ = api.Close()
		_ = metrics.Close()
		return err
	case <-ctx.Done():
	}
	c.Log.Info("shutting down", "drain", c.Drain)
	c.Health.draining.Store(true)
	select {
	case <-time.After(c.Drain):
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownLimit)
	defer cancel()
	return errors.Join(api.Shutdown(sctx), metrics.Shutdown(sctx))
}

// limitBody refuses bodies over n: a declared length at once (413), a
// longer stream when the handler reads past n.
func limitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("body larger than %d bytes", n)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler panic into a 500 and a log line: one bad
// request must not take the server down. http.ErrAbortHandler keeps its
// meaning (abort the response quietly).
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("handler panic", "path", r.URL.Path, "panic", fmt.Sprint(p), "request_id", telemetry.RequestID(r.Context()))
				writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
