// Command fraud is the fraud inference server: it scores transactions with
// the current model over online card features, and speaks the Open Inference
// Protocol (KServe v2) for tools.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/internal/featurestore"
	"github.com/intelliflow/platform/apps/fraud/internal/registry"
	"github.com/intelliflow/platform/apps/fraud/internal/server"
	"github.com/intelliflow/platform/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "fraud:", err)
		os.Exit(1)
	}
}

// config is read from the environment once; apps/catalog names the keys.
type config struct {
	httpAddr, metricsAddr string
	modelDir, modelName   string
	redisAddr, redisPass  string
	redisTLS              bool
	redisCAs              *x509.CertPool
	review, decline       float64
	featureTimeout        time.Duration
	reloadInterval        time.Duration
	shutdownDrain         time.Duration
	logLevel              slog.Level
}

func readConfig(getenv func(string) string) (config, error) {
	c := config{modelName: "fraud"}
	var errs []error
	str := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	port := func(key, def string) string {
		v := str(key, def)
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("%s: %q is not a port", key, v))
		}
		return net.JoinHostPort(str("BIND_ADDRESS", ""), v)
	}
	prob := func(key, def string) float64 {
		v, err := strconv.ParseFloat(str(key, def), 64)
		if err != nil || v <= 0 || v >= 1 {
			errs = append(errs, fmt.Errorf("%s: %q is not a probability between 0 and 1", key, str(key, def)))
		}
		return v
	}
	dur := func(key, def string) time.Duration {
		v, err := time.ParseDuration(str(key, def))
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration", key, str(key, def)))
		}
		return v
	}
	c.httpAddr = port("HTTP_PORT", strconv.Itoa(catalog.HTTPPort))
	c.metricsAddr = port("METRICS_PORT", strconv.Itoa(catalog.MetricsPort))
	c.modelDir = str("MODEL_DIR", "/models")
	c.redisAddr = getenv("REDIS_ADDR")
	c.redisPass = getenv("REDIS_PASSWORD")
	switch v := str("REDIS_TLS", "false"); v {
	case "true", "false":
		// ElastiCache with transit encryption accepts TLS only.
		c.redisTLS = v == "true"
	default:
		errs = append(errs, fmt.Errorf("REDIS_TLS: %q is not true or false", v))
	}
	if f := getenv("REDIS_PASSWORD_FILE"); f != "" { // Vault Agent renders it
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("REDIS_PASSWORD_FILE: %w", err))
		}
		c.redisPass = strings.TrimSpace(string(b))
	}
	if f := getenv("REDIS_CA_FILE"); f != "" {
		// A private CA (tests, self-hosted Redis); ElastiCache's certificates
		// chain to the system roots.
		b, err := os.ReadFile(f)
		c.redisCAs = x509.NewCertPool()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("REDIS_CA_FILE: %w", err))
		case !c.redisCAs.AppendCertsFromPEM(b):
			errs = append(errs, fmt.Errorf("REDIS_CA_FILE: %s holds no PEM certificate", f))
		}
		if !c.redisTLS {
			errs = append(errs, errors.New("REDIS_CA_FILE is set but REDIS_TLS is not true"))
		}
	}
	c.review = prob("REVIEW_THRESHOLD", "0.5")
	c.decline = prob("FRAUD_THRESHOLD", "0.85")
	if c.review >= c.decline {
		errs = append(errs, fmt.Errorf("REVIEW_THRESHOLD %v must be below FRAUD_THRESHOLD %v", c.review, c.decline))
	}
	c.featureTimeout = dur("FEATURE_TIMEOUT", "5ms")
	c.reloadInterval = dur("MODEL_RELOAD_INTERVAL", "30s")
	c.shutdownDrain = dur("SHUTDOWN_DRAIN", "15s")
	if err := c.logLevel.UnmarshalText([]byte(str("LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	return c, errors.Join(errs...)
}

// run is the whole server. ready, when given, receives the bound API
// address once the server accepts requests (tests use it).
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, ready chan<- string) error {
	cfg, err := readConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	log.Info("starting", "http", cfg.httpAddr, "metrics", cfg.metricsAddr, "model_dir", cfg.modelDir,
		"redis", cfg.redisAddr, "redis_tls", cfg.redisTLS, "redis_password_set", cfg.redisPass != "", "review", cfg.review, "decline", cfg.decline)

	models, err := registry.Open(cfg.modelDir, features.Count, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := server.NewMetrics(reg)

	var store server.Features
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	updatesDone := make(chan struct{})
	if cfg.redisAddr != "" {
		opts := &redis.Options{Addr: cfg.redisAddr, Password: cfg.redisPass, DialTimeout: time.Second, MaxRetries: -1}
		if cfg.redisTLS {
			host, _, _ := net.SplitHostPort(cfg.redisAddr)
			opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: cfg.redisCAs}
		}
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		fs := featurestore.New(rdb, log, featurestore.Options{ReadTimeout: cfg.featureTimeout, Dropped: metrics.Dropped.Inc})
		go func() { fs.Run(bg); close(updatesDone) }()
		store = fs
	} else {
		close(updatesDone)
		log.Warn("REDIS_ADDR not set: scoring without card history (every prediction degraded)")
	}
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go models.Watch(cfg.reloadInterval, stopWatch)

	srv := server.New(server.Config{
		ModelName: cfg.modelName, Models: models, Features: store, Metrics: metrics, Log: log,
		HTTP:       telemetry.NewHTTP(reg, "fraud").WithAccessLog(log),
		Thresholds: server.Thresholds{Review: cfg.review, Decline: cfg.decline},
	})
	api := &http.Server{
		Handler: srv.Handler(), ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
	}
	metricsMux := http.NewServeMux()
	metricsMux.Handle("GET "+catalog.MetricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	metricsSrv := &http.Server{Handler: metricsMux, ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}

	apiLn, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return err
	}
	metricsLn, err := net.Listen("tcp", cfg.metricsAddr)
	if err != nil {
		apiLn.Close()
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- api.Serve(apiLn) }()
	go func() { errc <- metricsSrv.Serve(metricsLn) }()
	log.Info("serving", "http", apiLn.Addr().String(), "metrics", metricsLn.Addr().String(), "model_version", models.Current().Version)
	if ready != nil {
		ready <- apiLn.Addr().String() + " " + metricsLn.Addr().String()
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Fail readiness first, keep serving while endpoints catch up, then drain.
	log.Info("shutting down", "drain", cfg.shutdownDrain)
	srv.SetReady(false)
	select {
	case <-time.After(cfg.shutdownDrain):
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = errors.Join(api.Shutdown(sctx), metricsSrv.Shutdown(sctx))
	stopBG()
	<-updatesDone // queued history updates are written before exit
	log.Info("stopped")
	return err
}
