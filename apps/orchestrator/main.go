// Command orchestrator is the platform's AI orchestrator: it keeps the
// fraud servers on the model version MLflow's alias names (fraud@production
// by default), promoting a new version only after it passes every check
// and rolling the servers onto it one at a time. It polls the registry,
// and admins can ask for a promotion now through the gateway.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/fraud/modelversion"
	"github.com/intelliflow/platform/apps/orchestrator/internal/fleet"
	"github.com/intelliflow/platform/apps/orchestrator/internal/mlflow"
	"github.com/intelliflow/platform/apps/orchestrator/internal/promote"
	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/httpserver"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/jsonapi"
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
	return c, r.Err()
}

// targets are the fraud servers: FRAUD_INSTANCES, or the pods the API
// server lists (in the orchestrator's own namespace unless
// FRAUD_NAMESPACE says otherwise).
func (c config) targets() (fleet.Targets, error) {
	if len(c.instances) > 0 {
		return fleet.Static(c.instances), nil
	}
	kc, err := kubeauth.Config(c.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("without FRAUD_INSTANCES the fraud pods are found through the Kubernetes API: %w", err)
	}
	client, err := kubernetes.NewForConfig(kc)
	if err != nil {
		return nil, err
	}
	ns := c.fraudNamespace
	if ns == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, fmt.Errorf("FRAUD_NAMESPACE is not set and the pod's namespace is unknown: %w", err)
		}
		ns = strings.TrimSpace(string(b))
	}
	return fleet.Pods{Client: client, Namespace: ns, Selector: c.fraudSelector, Port: catalog.HTTPPort}, nil
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
	targets, err := cfg.targets()
	if err != nil {
		return err
	}
	s3c, err := modelversion.NewS3(ctx, cfg.s3Endpoint)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Minute, Transport: telemetry.Transport(http.DefaultTransport)}
	reg := httpserver.NewRegistry()
	p := promote.New(promote.Config{
		Registry: &mlflow.Client{BaseURL: cfg.mlflowURL, Token: cfg.mlflowToken, HTTP: client},
		Model:    cfg.model, Alias: cfg.alias, S3: s3c, Serving: cfg.serving, WorkDir: cfg.workDir,
		Metric: cfg.metric, Floor: cfg.floor, MaxBytes: cfg.maxBytes,
		Fleet:   fleet.Reloader{Targets: targets, TokenFile: cfg.tokenFile, HTTP: client},
		Metrics: reg, Log: log,
	})
	background, stopBackground := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() { poll(background, p, cfg, log); close(polled) }()

	httpMetrics := telemetry.NewHTTP(reg, catalog.Orchestrator).WithAccessLog(log)
	err = httpserver.Run(ctx, httpserver.Config{
		Standard: cfg.std, Handler: handler(p, cfg, httpMetrics, log), Registry: reg, Health: httpserver.NewHealth(nil),
		HTTP: httpMetrics, Log: log, Listening: httpserver.Announce(listening),
	})
	stopBackground()
	<-polled
	log.Info("stopped")
	return err
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
