package httpserver

import (
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/envconfig"
)

// Standard is what every service reads the same way: envconfig.Standard's
// keys, with the catalog's ports as defaults.
type Standard struct {
	// API and Metrics are the listen addresses.
	API, Metrics string
	// Drain is how long the server keeps serving with readiness failed
	// before it stops accepting: endpoints must notice first.
	Drain    time.Duration
	LogLevel slog.Level
	// Profiling serves net/http/pprof on the metrics listener (off unless
	// DEBUG_PPROF=true: a profile costs CPU while it runs).
	Profiling bool
}

// ReadStandard reads the standard keys; errors collect in r.
func ReadStandard(r *envconfig.Reader) Standard {
	return Standard{
		API:       r.Addr("HTTP_PORT", catalog.HTTPPort),
		Metrics:   r.Addr("METRICS_PORT", catalog.MetricsPort),
		Drain:     r.Duration("SHUTDOWN_DRAIN", 15*time.Second),
		LogLevel:  r.Level("LOG_LEVEL", slog.LevelInfo),
		Profiling: r.Bool("DEBUG_PPROF", false),
	}
}

// Logger writes JSON lines to w at the configured level, the format the
// logging pipeline parses (components/logging).
func (s Standard) Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: s.LogLevel}))
}

// NewRegistry is a service's registry, with the Go runtime and process
// collectors every dashboard's resource panels read.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Announce is a Config.Listening that sends "API-ADDR METRICS-ADDR" to
// ch, as the services' run functions tell their tests; a nil ch is told
// nothing.
func Announce(ch chan<- string) func(api, metrics net.Addr) {
	return func(api, metrics net.Addr) {
		if ch != nil {
			ch <- api.String() + " " + metrics.String()
		}
	}
}
