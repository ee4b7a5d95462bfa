// Package localplatform runs the whole IntelliFlow platform on one
// machine, on loopback: PostgreSQL and Redis from Debian, FerretDB (the
// MongoDB protocol, on that PostgreSQL) for analytics, mailpit as the SMTP
// relay, and in this process Kafka (kfake), the model bucket (an
// S3-compatible server) and the model registry (MLflow's REST contract),
// then the seven services built from this repository, wired as the stacks
// wire them. `make local` (cmd/localplatform) runs it until Ctrl-C; the
// end-to-end test drives the same thing.
//
// Every credential here is generated or dev-only, and every port is
// loopback. StartStores (stack.go) runs the same stores for a dev stack
// instead: on the one address its config names (the local cluster's
// bridge, where the real node's pods reach them), with its credentials,
// over TLS.
package localplatform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/intelliflow/platform/internal/filedigest"
	"github.com/intelliflow/platform/internal/loopbackca"

	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/fraud/modelversion"
	"github.com/intelliflow/platform/apps/orchestrator/mlflowtest"
)

// Dev-only values of the local platform.
const (
	RedisPassword = "dev-only-redis-password"
	ModelBucket   = "intelliflow-local-models"
	Issuer        = "https://intelliflow.local"
	// ModelVersion is the committed model's version folder.
	ModelVersion = "2026-11-27"
	mlflowToken  = "dev-only-mlflow-token"
	mailTo       = "fraud-analysts@intelliflow.local"
)

// Options say where things are.
type Options struct {
	// Root is the repository (bin/local, apps/fraud/model, the services'
	// sources).
	Root string
	// Dir is the state folder, emptied at start.
	Dir string
	// Race builds the services with the race detector (tests).
	Race bool
	// Progress receives a line per step.
	Progress io.Writer
}

// Platform is the running platform.
type Platform struct {
	o   Options
	dir string
	// GatewayURL is the public API; MailpitURL mailpit's UI and API.
	GatewayURL, MailpitURL string
	// Services are the services' API base URLs by name.
	Services map[string]string
	// Bins are the built service binaries by name (users has the
	// grant-admin command).
	Bins map[string]string
	// Env is each service's environment.
	Env map[string]map[string]string

	procs                         []*proc
	kafka                         *kfake.Cluster
	s3, mlflowSrv                 *httptest.Server
	s3Backend                     *s3mem.Backend
	modelBucket                   string
	mlflow                        *mlflowtest.Server
	pgPort                        int
	pgDir                         string
	redisAddr, mongoURI, smtpAddr string
	smtpCA                        string

	// Where the stores listen: loopback on free ports (make local), or
	// one address on the ports a stack names (StartStores).
	bind  string
	ports map[catalog.Store]int
	// The stores' certificate, signed by ca, for bind.
	ca   *loopbackca.CA
	leaf loopbackca.Leaf
	// The stack's credentials (StartStores): the stores check them.
	creds map[string]string
}

// Start starts everything, or nothing: on error what started is stopped.
func Start(ctx context.Context, o Options) (*Platform, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	p, err := newPlatform(o, loopbackca.Loopback.String())
	if err != nil {
		return nil, err
	}
	if err := p.start(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// newPlatform empties the state folder and makes the stores' certificate
// for bind.
func newPlatform(o Options, bind string) (*Platform, error) {
	p := &Platform{o: o, dir: o.Dir, bind: bind, Services: map[string]string{}, Bins: map[string]string{}, Env: map[string]map[string]string{}}
	if err := os.RemoveAll(p.dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(p.dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	ca, err := loopbackca.New("intelliflow local CA (dev only)", 7*24*time.Hour)
	if err != nil {
		return nil, err
	}
	p.ca = ca
	p.leaf, err = ca.Server(bind, []string{"localhost"}, net.ParseIP(bind))
	return p, err
}

func (p *Platform) step(format string, args ...any) {
	fmt.Fprintf(p.o.Progress, "local: "+format+"\n", args...)
}

func (p *Platform) start(ctx context.Context) error {
	p.step("building the services")
	if err := p.build(ctx); err != nil {
		return err
	}
	if err := p.startStores(ctx, ModelBucket, nil); err != nil {
		return err
	}
	return p.startServices(ctx)
}

// startStores starts every store on p.bind, the model bucket named
// bucket, and the registry with the committed model as its production
// version (and at pinned too, when given).
func (p *Platform) startStores(ctx context.Context, bucket string, pinned *modelversion.Location) error {
	p.step("starting PostgreSQL, Redis, FerretDB, mailpit, Kafka (kfake), the model bucket and registry on %s", p.bind)
	for _, start := range []func(context.Context) error{p.startPostgres, p.startRedis, p.startFerretDB, p.startMailpit} {
		if err := start(ctx); err != nil {
			return err
		}
	}
	if err := p.startKafka(); err != nil {
		return err
	}
	if err := p.startS3(bucket); err != nil {
		return err
	}
	return p.startRegistry(pinned)
}

// Stop stops the services, then the stores, and leaves nothing running.
func (p *Platform) Stop() {
	for i := len(p.procs) - 1; i >= 0; i-- {
		p.procs[i].stop()
	}
	p.procs = nil
	if p.kafka != nil {
		p.kafka.Close()
	}
	for _, s := range []*httptest.Server{p.s3, p.mlflowSrv} {
		if s != nil {
			s.Close()
		}
	}
	if p.mlflow != nil {
		p.mlflow.Close()
	}
	if p.pgDir != "" {
		_ = os.RemoveAll(p.pgDir)
	}
}

// build compiles the seven services into the state folder.
func (p *Platform) build(ctx context.Context) error {
	for _, svc := range catalog.Names() {
		out := filepath.Join(p.dir, "bin", svc)
		args := []string{"build", "-o", out}
		if p.o.Race {
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(ctx, "go", append(args, "./apps/"+svc)...)
		cmd.Dir = p.o.Root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./apps/%s: %v\n%s", svc, err, b)
		}
		p.Bins[svc] = out
	}
	return nil
}

// startRegistry puts the committed model in the bucket where a training
// run would (and at pinned, the version folder a stack pins, when given),
// registers it in the registry as fraud version 1 behind the production
// alias, and seeds the fraud servers' model folder with it.
func (p *Platform) startRegistry(pinned *modelversion.Location) error {
	modelDir := filepath.Join(p.o.Root, "apps", "fraud", "model")
	local := filepath.Join(p.dir, "models", ModelVersion)
	if err := os.MkdirAll(local, 0o755); err != nil {
		return err
	}
	for _, f := range []string{modelversion.ModelFile, modelversion.ReferenceFile, modelversion.MetricsFile} {
		b, err := os.ReadFile(filepath.Join(modelDir, f))
		if err != nil {
			return err
		}
		if err := p.putObject("mlflow/run-1/artifacts/model/"+f, b); err != nil {
			return err
		}
		if pinned != nil {
			if err := p.putObject(pinned.Key(f), b); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(local, f), b, 0o644); err != nil {
			return err
		}
	}
	sum, err := filedigest.SHA256(filepath.Join(modelDir, modelversion.ModelFile))
	if err != nil {
		return err
	}
	verified, err := modelversion.Verify(local)
	if err != nil {
		return fmt.Errorf("the committed model: %w", err)
	}
	token := mlflowToken
	if p.creds != nil {
		token = p.creds["mlflow-token"]
	}
	p.mlflow = mlflowtest.New(token)
	if p.mlflowSrv, err = p.serveHTTP(catalog.MLflow, p.mlflow); err != nil {
		return err
	}
	p.mlflow.URL = p.mlflowSrv.URL
	p.mlflow.AddVersion("fraud", "1", "s3://"+p.modelBucket+"/mlflow/run-1/artifacts/model", "run-1",
		map[string]string{"sha256": sum}, map[string]float64{"pr_auc": verified.PRAUC})
	p.mlflow.SetAlias("fraud", "production", "1")
	return nil
}

// secret is a random dev-only credential for this run.
func secret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "dev-only-" + hex.EncodeToString(b)
}

// startServices starts the services in the order they call each other,
// each on two free ports, ready when its readiness probe answers.
func (p *Platform) startServices(ctx context.Context) error {
	kafka := strings.Join(p.kafka.ListenAddrs(), ",")
	db := map[string]string{"DATABASE_HOST": "127.0.0.1", "DATABASE_PORT": strconv.Itoa(p.pgPort), "DATABASE_NAME": "intelliflow",
		"DATABASE_USER": dbUser, "DATABASE_PASSWORD": "dev-only-trust-auth", "DATABASE_SSLMODE": "disable"}
	kafkaEnv := map[string]string{"KAFKA_BROKERS": kafka, "KAFKA_TOPIC_REPLICATION": "1", "KAFKA_TOPIC_PARTITIONS": "3"}
	// The AWS SDK's credentials for the local bucket, which takes any.
	s3Env := map[string]string{"S3_ENDPOINT": p.s3.URL, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "dev-only", "AWS_REGION": "us-east-1"}
	serving := "s3://" + ModelBucket + "/fraud/serving"
	envs := []struct {
		name string
		env  []map[string]string
	}{
		{catalog.Fraud, []map[string]string{kafkaEnv, s3Env, {"MODEL_DIR": filepath.Join(p.dir, "models"), "REDIS_ADDR": p.redisAddr,
			"REDIS_PASSWORD": RedisPassword, "FEATURE_TIMEOUT": "50ms", "MODEL_SOURCE": serving}}},
		{catalog.Users, []map[string]string{db, {"REDIS_ADDR": p.redisAddr, "REDIS_PASSWORD": RedisPassword, "JWT_SIGNING_KEY": secret(), "JWT_ISSUER": Issuer}}},
		{catalog.Transactions, []map[string]string{db, kafkaEnv, {"FRAUD_URL": "{fraud}"}}},
		{catalog.Analytics, []map[string]string{kafkaEnv, {"MONGODB_URI": p.mongoURI, "MONGODB_USER": dbUser, "MONGODB_PASSWORD": "dev-only-trust-auth",
			"MONGODB_AUTH_MECHANISM": "PLAIN"}}},
		{catalog.Notifications, []map[string]string{kafkaEnv, {"SMTP_ADDR": p.smtpAddr, "SMTP_CA_FILE": p.smtpCA, "SMTP_USERNAME": "alerts",
			"SMTP_PASSWORD": "dev-only-smtp-password", "MAIL_FROM": "alerts@intelliflow.local", "MAIL_TO": mailTo}}},
		// Reloading a fraud server needs a ServiceAccount token an API
		// server vouches for; on one machine there is none, so promotions
		// stop at fraud's refusal (make cluster has the API server).
		{catalog.Orchestrator, []map[string]string{s3Env, {"MLFLOW_URL": p.mlflow.URL, "MLFLOW_TOKEN": mlflowToken, "SERVING_PATH": serving,
			"FRAUD_INSTANCES": "{fraud}", "POLL_REGISTRY": "false", "WORK_DIR": filepath.Join(p.dir, "orchestrator"),
			"RELOAD_TOKEN_FILE": filepath.Join(p.dir, "no-serviceaccount-token")}}},
		{catalog.Gateway, []map[string]string{{"REDIS_ADDR": p.redisAddr, "REDIS_PASSWORD": RedisPassword, "JWT_ISSUER": Issuer,
			"USERS_URL": "{users}", "TRANSACTIONS_URL": "{transactions}", "FRAUD_URL": "{fraud}", "ANALYTICS_URL": "{analytics}",
			"ORCHESTRATOR_URL": "{orchestrator}", "TRUSTED_PROXY_CIDRS": "127.0.0.0/8"}}},
	}
	if err := os.MkdirAll(filepath.Join(p.dir, "orchestrator"), 0o755); err != nil {
		return err
	}
	for _, s := range envs {
		env := map[string]string{"BIND_ADDRESS": "127.0.0.1", "SHUTDOWN_DRAIN": "10ms", "LOG_LEVEL": "info", "SERVICE_NAME": s.name, "ENVIRONMENT": "local"}
		for _, m := range s.env {
			for k, v := range m {
				// {peer} is a started peer's URL.
				if strings.HasPrefix(v, "{") {
					v = p.Services[strings.Trim(v, "{}")]
				}
				env[k] = v
			}
		}
		p.step("starting %s", s.name)
		ports, err := p.startOn("", 2, func(ports []int) (*proc, error) {
			e := map[string]string{"HTTP_PORT": strconv.Itoa(ports[0]), "METRICS_PORT": strconv.Itoa(ports[1])}
			for k, v := range env {
				e[k] = v
			}
			pr, err := p.spawn(s.name, nil, e, p.Bins[s.name])
			if err != nil {
				return nil, err
			}
			return pr, pr.wait(ctx, httpReady(fmt.Sprintf("http://127.0.0.1:%d%s", ports[0], catalog.ReadinessPath), `"ready":true`))
		})
		if err != nil {
			return err
		}
		p.Services[s.name] = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		p.Env[s.name] = env
	}
	p.GatewayURL = p.Services[catalog.Gateway]
	return nil
}

// GrantAdmin gives the account with email the admin role (the users
// service's own command).
func (p *Platform) GrantAdmin(ctx context.Context, email string) error {
	cmd := exec.CommandContext(ctx, p.Bins[catalog.Users], "grant-admin", email)
	cmd.Env = os.Environ()
	for k, v := range p.Env[catalog.Users] {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("grant-admin %s: %v: %s", email, err, out)
	}
	return nil
}

// Running reports an error naming a process that exited on its own.
func (p *Platform) Running() error {
	var errs []error
	for _, pr := range p.procs {
		select {
		case <-pr.exited:
			errs = append(errs, fmt.Errorf("%s exited (log %s):\n%s", pr.name, pr.log, pr.tail()))
		default:
		}
	}
	return errors.Join(errs...)
}

// Logs is the folder of the processes' logs.
func (p *Platform) Logs() string { return filepath.Join(p.dir, "logs") }

// MailTo is where notifications sends the alerts.
func (p *Platform) MailTo() string { return mailTo }
