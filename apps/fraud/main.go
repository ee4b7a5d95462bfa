// Command fraud is the fraud inference server: it scores transactions with
// the current model over online card features, and speaks the Open Inference
// Protocol (KServe v2) for tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intelliflow/platform/apps/fraud/alerts"
	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/internal/featurestore"
	"github.com/intelliflow/platform/apps/fraud/internal/registry"
	"github.com/intelliflow/platform/apps/fraud/internal/server"
	"github.com/intelliflow/platform/apps/fraud/modelversion"
	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/httpserver"
	"github.com/intelliflow/platform/internal/kafkaclient"
	"github.com/intelliflow/platform/internal/kubeauth"
	"github.com/intelliflow/platform/internal/redisclient"
	"github.com/intelliflow/platform/internal/telemetry"
	"k8s.io/client-go/kubernetes"
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
	env                 *envconfig.Reader // what was read, for the start-up line
	std                 httpserver.Standard
	modelDir, modelName string
	redis               redisclient.Config
	review, decline     float64
	featureTimeout      time.Duration
	reloadInterval      time.Duration
	// kafka is nil when KAFKA_BROKERS is unset: decisions are then not
	// published (every stack sets it; tests and benchmarks may not).
	kafka        *kafkaclient.Config
	alertsTopic  string
	alertsBuffer int
	// reloadCallers may call /admin/reload (ServiceAccount usernames,
	// checked with TokenReview for reloadAudience); none: nobody may.
	reloadCallers  []string
	reloadAudience string
	kubeconfig     string
	// source is the serving path a reload fetches named versions from;
	// nil when MODEL_SOURCE is unset.
	source     *modelversion.Location
	s3Endpoint string
	maxBytes   int64
}

func readConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	c := config{env: r, modelName: "fraud"}
	c.std = httpserver.ReadStandard(r)
	c.modelDir = r.String("MODEL_DIR", "/models")
	c.redis = redisclient.Read(r, false)
	c.review = r.Float("REVIEW_THRESHOLD", 0.5, 0, 1)
	c.decline = r.Float("FRAUD_THRESHOLD", 0.85, 0, 1)
	if c.review >= c.decline {
		r.Fail(fmt.Errorf("REVIEW_THRESHOLD %v must be below FRAUD_THRESHOLD %v", c.review, c.decline))
	}
	c.featureTimeout = r.Duration("FEATURE_TIMEOUT", 5*time.Millisecond)
	c.reloadInterval = r.Duration("MODEL_RELOAD_INTERVAL", 30*time.Second)
	if k, ok := kafkaclient.ReadOptional(r); ok {
		c.kafka = &k
	}
	c.alertsTopic = r.String("KAFKA_TOPIC_ALERTS", "fraud-alerts")
	c.alertsBuffer = r.Int("ALERTS_BUFFER", 10000, 1, 1000000)
	c.reloadCallers = r.List("RELOAD_CALLERS", "")
	for _, id := range c.reloadCallers {
		if !strings.HasPrefix(id, "system:serviceaccount:") || strings.Count(id, ":") != 3 {
			r.Fail(fmt.Errorf("RELOAD_CALLERS: %q is not system:serviceaccount:NAMESPACE:NAME", id))
		}
	}
	c.reloadAudience = r.String("RELOAD_TOKEN_AUDIENCE", "intelliflow-fraud")
	c.kubeconfig = r.String("KUBECONFIG", "")
	if src := r.String("MODEL_SOURCE", ""); src != "" {
		l, err := modelversion.ParseFolder(src)
		if err != nil {
			r.Fail(fmt.Errorf("MODEL_SOURCE: %w", err))
		}
		c.source = &l
	}
	c.s3Endpoint = r.String("S3_ENDPOINT", "")
	c.maxBytes = int64(r.Int("MODEL_MAX_BYTES", 512<<20, 1<<10, 4<<30))
	return c, r.Err()
}

// run is the whole server. ready, when given, receives the bound API and
// metrics addresses once the server accepts requests (tests use it).
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, ready chan<- string) error {
	cfg, err := readConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := cfg.std.Logger(stdout)
	log.Info("starting", "config", cfg.env)

	models, err := registry.Open(cfg.modelDir, features.Count, log)
	if err != nil {
		return err
	}
	reg := httpserver.NewRegistry()
	metrics := server.NewMetrics(reg)

	var store server.Features
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	updatesDone := make(chan struct{})
	if cfg.redis.Addr != "" {
		// The feature store ends a read's wait for a connection at the
		// request's deadline but lets a round trip on the wire finish
		// (featurestore.Read says why); the socket timeouts still bound a
		// stalled Redis.
		opts := cfg.redis.Options()
		opts.ContextTimeoutEnabled = false
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		fs := featurestore.New(rdb, log, featurestore.Options{ReadTimeout: cfg.featureTimeout, Dropped: metrics.Dropped.Inc,
			Failed: func(n int) { metrics.UpdatesFailed.Add(float64(n)) }})
		go func() { fs.Run(bg); close(updatesDone) }()
		store = fs
	} else {
		close(updatesDone)
		log.Warn("REDIS_ADDR not set: scoring without card history (every prediction degraded)")
	}
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go models.Watch(cfg.reloadInterval, stopWatch)

	// Ready once a model serves; Redis is not a condition: without it
	// requests are scored degraded, never refused.
	health := httpserver.NewHealth(func(context.Context) error {
		if models.Current() == nil {
			return errors.New("no model loaded")
		}
		return nil
	})
	var publisher *alerts.Publisher
	if cfg.kafka != nil {
		// fraud owns its alerts topic. Kafka down at start is not fatal:
		// alerts wait in the client's buffer, then are dropped and counted.
		client, err := cfg.kafka.Client(ctx, alerts.ClientOptions(cfg.alertsBuffer, 30*time.Second)...)
		if err != nil {
			return err
		}
		defer client.Close()
		if err := kafkaclient.EnsureTopics(ctx, client, *cfg.kafka, cfg.alertsTopic); err != nil {
			log.Warn("alerts topic not ensured; alerts are buffered until Kafka answers", "topic", cfg.alertsTopic, "error", err.Error())
		}
		publisher = alerts.New(client, cfg.alertsTopic, reg, log)
	} else {
		log.Warn("KAFKA_BROKERS not set: review and decline decisions are not published")
	}
	var reloadAuth func(http.Handler) http.Handler
	if len(cfg.reloadCallers) > 0 {
		kc, err := kubeauth.Config(cfg.kubeconfig)
		if err != nil {
			return fmt.Errorf("RELOAD_CALLERS needs the Kubernetes API (in cluster, or KUBECONFIG): %w", err)
		}
		client, err := kubernetes.NewForConfig(kc)
		if err != nil {
			return err
		}
		reviewer := kubeauth.NewReviewer(client, cfg.reloadAudience, 30*time.Second)
		reloadAuth = func(next http.Handler) http.Handler { return kubeauth.Require(reviewer, cfg.reloadCallers, log, next) }
	} else {
		log.Warn("RELOAD_CALLERS not set: /admin/reload refuses every caller; new models load every MODEL_RELOAD_INTERVAL")
	}
	var fetch func(ctx context.Context, version, sha256 string) error
	if cfg.source != nil {
		s3c, err := modelversion.NewS3(ctx, cfg.s3Endpoint)
		if err != nil {
			return fmt.Errorf("MODEL_SOURCE: %w", err)
		}
		fetch = func(ctx context.Context, version, sha256 string) error {
			_, err := modelversion.Fetch(ctx, s3c, cfg.source.In(version), sha256, cfg.modelDir, modelversion.Limits{MaxBytes: cfg.maxBytes})
			return err
		}
	}
	httpMetrics := telemetry.NewHTTP(reg, "fraud").WithAccessLog(log)
	sc := server.Config{
		ReloadAuth: reloadAuth, Fetch: fetch,
		ModelName: cfg.modelName, Models: models, Features: store, Metrics: metrics, Log: log, HTTP: httpMetrics, Health: health,
		Thresholds: server.Thresholds{Review: cfg.review, Decline: cfg.decline},
	}
	if publisher != nil { // a nil *Publisher in the interface would not be nil
		sc.Alerts = publisher
	}
	srv := server.New(sc)
	err = httpserver.Run(ctx, httpserver.Config{
		Standard: cfg.std, Handler: srv.Handler(), Registry: reg, Health: health, HTTP: httpMetrics,
		Log: log, WriteTimeout: 10 * time.Second,
		Listening: func(api, metrics net.Addr) {
			log.Info("model serving", "model_version", models.Current().Version)
			if ready != nil {
				ready <- api.String() + " " + metrics.String()
			}
		},
	})
	stopBG()
	<-updatesDone // queued history updates are written before exit
	if publisher != nil {
		// The last requests' alerts reach Kafka before exit, within the
		// grace period's remainder.
		flush, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := publisher.Flush(flush); err != nil {
			log.Warn("alerts not flushed; the rest are counted as dropped", "error", err.Error())
		}
		cancel()
	}
	log.Info("stopped")
	return err
}
