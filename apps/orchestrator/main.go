// Command orchestrator is the platform's AI orchestrator: it keeps the
// fraud servers on the model version MLflow's alias names (fraud@production
// by default), promoting a new version only after it passes every check
// and rolling the servers onto it one at a time. It polls the registry,
// and admins can ask for a promotion now through the gateway.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/fraud/modelversion"
	"github.com/intelliflow/platform/apps/orchestrator/internal/fleet"
	"github.com/intelliflow/platform/apps/orchestrator/internal/mlflow"
	"github.com/intelliflow/platform/apps/orchestrator/internal/promote"
	"github.com/intelliflow/platform/apps/orchestrator/internal/quality"
	"github.com/intelliflow/platform/apps/orchestrator/internal/retrain"
	"github.com/intelliflow/platform/apps/orchestrator/labels"
	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/httpserver"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/jsonapi"
	"github.com/intelliflow/platform/internal/kafkaclient"
	"github.com/intelliflow/platform/internal/kubeauth"
	"github.com/intelliflow/platform/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "orchestrator:", err)
		os.Exit(1)
	}
}

// config is read from the environment once; apps/catalog names the keys.
type config struct {
	env            *envconfig.Reader
	std            httpserver.Standard
	mlflowURL      string
	mlflowToken    string
	model, alias   string
	serving        modelversion.Location
	s3Endpoint     string
	maxBytes       int64
	metric         string
	floor          float64
	poll           time.Duration
	instances      []string
	fraudNamespace string
	fraudSelector  string
	tokenFile      string
	kubeconfig     string
	workDir        string
	timeout        time.Duration
	// kafka is nil without KAFKA_BROKERS: no live quality figures.
	kafka             *kafkaclient.Config
	transactionsTopic string
	labelsTopic       string
	window            time.Duration
	threshold         float64
	evaluateEvery     time.Duration
	// training is nil without TRAINING_IMAGE: no retraining.
	training *retrain.Spec
	policy   retrain.Policy
	cooldown time.Duration
}

func readConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	c := config{env: r}
	c.std = httpserver.ReadStandard(r)
	c.mlflowURL = r.Required("MLFLOW_URL")
	if u, err := url.Parse(c.mlflowURL); c.mlflowURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		r.Fail(fmt.Errorf("MLFLOW_URL: %q is not an http(s) URL", c.mlflowURL))
	}
	c.mlflowToken = r.Secret("MLFLOW_TOKEN", false)
	c.model = r.String("MODEL_NAME", "fraud")
	c.alias = r.String("MODEL_ALIAS", "production")
	if src := r.Required("SERVING_PATH"); src != "" {
		l, err := modelversion.ParseFolder(src)
		if err != nil {
			r.Fail(fmt.Errorf("SERVING_PATH: %w", err))
		}
		c.serving = l
	}
	c.s3Endpoint = r.String("S3_ENDPOINT", "")
	c.maxBytes = int64(r.Int("MODEL_MAX_BYTES", 512<<20, 1<<10, 4<<30))
	c.metric = r.String("PROMOTION_METRIC", "pr_auc")
	c.floor = r.Float("PROMOTION_FLOOR", 0.30, 0, 1)
	c.poll = r.Duration("POLL_INTERVAL", time.Minute)
	if !r.Bool("POLL_REGISTRY", true) {
		c.poll = 0
	}
	c.timeout = r.Duration("PROMOTION_TIMEOUT", 10*time.Minute)
	// The servers to roll: a fixed list on one machine, else fraud's
	// ready pods.
	c.instances = r.List("FRAUD_INSTANCES", "")
	for _, in := range c.instances {
		if u, err := url.Parse(in); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Fail(fmt.Errorf("FRAUD_INSTANCES: %q is not an http(s) URL", in))
		}
	}
	c.fraudNamespace = r.String("FRAUD_NAMESPACE", "")
	c.fraudSelector = r.String("FRAUD_SELECTOR", "app.kubernetes.io/name="+catalog.Fraud)
	c.tokenFile = r.String("RELOAD_TOKEN_FILE", "/var/run/secrets/intelliflow/fraud/token")
	c.kubeconfig = r.String("KUBECONFIG", "")
	c.workDir = r.String("WORK_DIR", os.TempDir())
	if k, ok := kafkaclient.ReadOptional(r); ok {
		c.kafka = &k
	}
	c.transactionsTopic = r.String("KAFKA_TOPIC_TRANSACTIONS", "transactions.events")
	c.labelsTopic = r.String("KAFKA_TOPIC_LABELS", labels.Topic)
	c.window = r.Duration("QUALITY_WINDOW", 30*24*time.Hour)
	// A payment is flagged from the review threshold up (reviewed or
	// declined): fraud's REVIEW_THRESHOLD.
	c.threshold = r.Float("REVIEW_THRESHOLD", 0.5, 0, 1)
	c.evaluateEvery = r.Duration("QUALITY_INTERVAL", 15*time.Second)
	// Retraining, when the stack names a training image.
	spec := retrain.Spec{Image: r.String("TRAINING_IMAGE", ""), Data: r.String("TRAINING_DATA", ""), MLflowURL: c.mlflowURL, Model: c.model,
		ServiceAccount: r.String("TRAINING_SERVICE_ACCOUNT", catalog.Orchestrator), GPUNodeGroup: r.String("GPU_NODE_GROUP", "gpu"),
		CPU: r.String("TRAINING_CPU", "4"), Memory: r.String("TRAINING_MEMORY", "16Gi"), Deadline: r.Duration("TRAINING_DEADLINE", 6*time.Hour),
		Namespace: c.fraudNamespace}
	c.policy = retrain.Policy{MinRecall: r.Float("RETRAIN_BELOW_RECALL", 0.5, 0, 1), MinLabelled: r.Int("RETRAIN_MIN_LABELLED", 200, 1, 1e9),
		MaxPSI: r.Float("RETRAIN_ABOVE_PSI", 0.25, 0, 100), Every: r.Duration("RETRAIN_EVERY", 7*24*time.Hour)}
	c.cooldown = r.Duration("RETRAIN_COOLDOWN", 24*time.Hour)
	if spec.Image != "" {
		if err := spec.Validate(); err != nil {
			r.Fail(err)
		}
		if len(c.instances) > 0 {
			r.Fail(fmt.Errorf("TRAINING_IMAGE: retraining runs Jobs in a cluster, FRAUD_INSTANCES says there is none"))
		}
		c.training = &spec
	}
	return c, r.Err()
}

// targets are the fraud servers: FRAUD_INSTANCES, or the pods the API
// server lists (in the orchestrator's own namespace unless
// FRAUD_NAMESPACE says otherwise).
func (c *config) targets() (fleet.Targets, kubernetes.Interface, error) {
	if len(c.instances) > 0 {
		return fleet.Static(c.instances), nil, nil
	}
	kc, err := kubeauth.Config(c.kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("without FRAUD_INSTANCES the fraud pods are found through the Kubernetes API: %w", err)
	}
	client, err := kubernetes.NewForConfig(kc)
	if err != nil {
		return nil, nil, err
	}
	if c.fraudNamespace == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, nil, fmt.Errorf("FRAUD_NAMESPACE is not set and the pod's namespace is unknown: %w", err)
		}
		c.fraudNamespace = strings.TrimSpace(string(b))
	}
	if c.training != nil {
		c.training.Namespace = c.fraudNamespace
	}
	return fleet.Pods{Client: client, Namespace: c.fraudNamespace, Selector: c.fraudSelector, Port: catalog.HTTPPort}, client, nil
}

// run is the service. listening, when given, receives the bound API and
// metrics addresses (tests use them).
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, listening chan<- string) error {
	cfg, err := readConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := cfg.std.Logger(stdout)
	log.Info("starting", "config", cfg.env)
	targets, kube, err := cfg.targets()
	if err != nil {
		return err
	}
	s3c, err := modelversion.NewS3(ctx, cfg.s3Endpoint)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Minute, Transport: telemetry.Transport(http.DefaultTransport)}
	reg := httpserver.NewRegistry()
	background, stopBackground := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopBackground()
	tracker := quality.New(cfg.window, cfg.threshold)
	if cfg.kafka != nil {
		kc, err := cfg.kafka.Client(ctx, quality.ClientOptions(cfg.transactionsTopic, cfg.labelsTopic, cfg.window)...)
		if err != nil {
			return err
		}
		defer kc.Close()
		// The orchestrator owns the labels topic the chargeback feed and
		// case handling publish to.
		if err := kafkaclient.EnsureTopics(ctx, kc, *cfg.kafka, cfg.labelsTopic); err != nil {
			log.Warn("labels topic not ensured", "topic", cfg.labelsTopic, "error", err.Error())
		}
		metrics := quality.NewMetrics(reg, cfg.model)
		var launcher *retrain.Launcher
		if cfg.training != nil {
			launcher = &retrain.Launcher{Client: kube, Spec: *cfg.training, Cooldown: cfg.cooldown}
		}
		retrains := retrain.NewMetrics(reg)
		wg.Add(2)
		go func() { defer wg.Done(); quality.Feed(background, kc, tracker, cfg.labelsTopic, log) }()
		go func() {
			defer wg.Done()
			evaluate(background, tracker, metrics, cfg.evaluateEvery, func(s quality.Stats) { retrainIfDue(background, launcher, cfg.policy, s, retrains, log) })
		}()
	} else {
		log.Warn("KAFKA_BROKERS not set: no live model quality figures")
	}
	p := promote.New(promote.Config{
		Registry: &mlflow.Client{BaseURL: cfg.mlflowURL, Token: cfg.mlflowToken, HTTP: client},
		Model:    cfg.model, Alias: cfg.alias, S3: s3c, Serving: cfg.serving, WorkDir: cfg.workDir,
		Metric: cfg.metric, Floor: cfg.floor, MaxBytes: cfg.maxBytes,
		Fleet:   fleet.Reloader{Targets: targets, TokenFile: cfg.tokenFile, HTTP: client},
		Metrics: reg, Log: log, OnServing: tracker.Baseline,
	})
	wg.Add(1)
	go func() { defer wg.Done(); poll(background, p, cfg, log) }()

	httpMetrics := telemetry.NewHTTP(reg, catalog.Orchestrator).WithAccessLog(log)
	err = httpserver.Run(ctx, httpserver.Config{
		Standard: cfg.std, Handler: handler(p, cfg, httpMetrics, log), Registry: reg, Health: httpserver.NewHealth(nil),
		HTTP: httpMetrics, Log: log, Listening: httpserver.Announce(listening),
	})
	stopBackground()
	wg.Wait()
	log.Info("stopped")
	return err
}

// evaluate publishes the window's figures every QUALITY_INTERVAL and hands
// them to then.
func evaluate(ctx context.Context, t *quality.Tracker, m *quality.Metrics, every time.Duration, then func(quality.Stats)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s := t.Evaluate(time.Now())
		m.Set(s)
		then(s)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll promotes what the alias names at start and every POLL_INTERVAL
// (with POLL_REGISTRY=false, only when an admin asks).
func poll(ctx context.Context, p *promote.Promoter, cfg config, log *slog.Logger) {
	if cfg.poll <= 0 {
		return
	}
	tick := time.NewTicker(cfg.poll)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, cfg.timeout)
		if _, err := p.Promote(pctx); err != nil && ctx.Err() == nil {
			log.Warn("promotion did not complete; trying again next poll", "error", err.Error())
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// retrainIfDue launches a training Job when the policy says one is due
// (nothing without a launcher: retraining is off).
func retrainIfDue(ctx context.Context, l *retrain.Launcher, p retrain.Policy, s quality.Stats, m *retrain.Metrics, log *slog.Logger) {
	if l == nil {
		return
	}
	reason := p.Reason(s.Recall, s.Labelled, s.PSI, l.SinceLast(time.Now()))
	if reason == "" {
		return
	}
	job, err := l.Launch(ctx, reason, time.Now())
	m.Observe(reason, err)
	switch {
	case errors.Is(err, retrain.ErrBusy):
	case err != nil:
		log.Warn("training Job not launched", "reason", reason, "error", err.Error())
	default:
		log.Info("audit", "action", "model.retrain", "reason", reason, "job", job.Name, "recall", s.Recall, "labelled", s.Labelled, "psi", s.PSI)
	}
}

// handler is the API, for admins through the gateway: what serves, and a
// promotion now.
func handler(p *promote.Promoter, cfg config, h *telemetry.HTTP, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	admin := func(pattern string, f http.HandlerFunc) {
		h.Handle(mux, pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := identity.FromRequest(r)
			switch {
			case !ok:
				jsonapi.Fail(w, jsonapi.Errorf(http.StatusUnauthorized, "authentication required"))
			case !c.Admin():
				jsonapi.Fail(w, jsonapi.Errorf(http.StatusForbidden, "model operations are for admins"))
			default:
				f(w, r)
			}
		}))
	}
	admin("GET /v1/models/"+cfg.model, func(w http.ResponseWriter, r *http.Request) {
		jsonapi.Write(w, http.StatusOK, map[string]any{"model": cfg.model, "alias": cfg.alias, "last": p.Last()})
	})
	admin("POST /v1/models/"+cfg.model+"/promotions", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), cfg.timeout)
		defer cancel()
		res, err := p.Promote(ctx)
		status := http.StatusOK
		switch res.Outcome {
		case promote.Rejected:
			status = http.StatusUnprocessableEntity
		case promote.Failed:
			status = http.StatusBadGateway
		}
		if err != nil {
			log.Warn("promotion asked for did not complete", "error", err.Error())
		}
		jsonapi.Write(w, status, res)
	})
	return mux
}
