// Package catalog describes what each IntelliFlow service needs: its ports,
// health endpoints, configuration, secrets, peers and data stores. The Pulumi
// program deploys from it and the services read their own entry, so the two
// can never disagree. It imports nothing from Pulumi.
package catalog

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Service names.
const (
	Gateway       = "gateway"
	Users         = "users"
	Transactions  = "transactions"
	Fraud         = "fraud"
	Analytics     = "analytics"
	Notifications = "notifications"
	Orchestrator  = "orchestrator"
)

// Store is a kind of data store or external dependency a service reaches.
type Store string

// The data stores and external dependencies of the platform.
const (
	Postgres Store = "postgres"
	Redis    Store = "redis"
	Kafka    Store = "kafka"
	MongoDB  Store = "mongodb" // DocumentDB in AWS, speaking the MongoDB protocol
	S3       Store = "s3"      // the model bucket
	SMTP     Store = "smtp"
	MLflow   Store = "mlflow"
)

// Stores lists every store kind.
var Stores = []Store{Postgres, Redis, Kafka, MongoDB, S3, SMTP, MLflow}

// The audience every access token is issued for and checked against.
const TokenAudience = "intelliflow-api"

// Standard ports and paths every service serves: the Deployments' ports and
// probes come from here, and so do the servers' defaults (apps/fraud).
const (
	HTTPPort      = 8080
	MetricsPort   = 9090
	LivenessPath  = "/livez"
	ReadinessPath = "/readyz"
	MetricsPath   = "/metrics"
)

// Secret is a credential a service reads from its environment. In dev it
// comes from a Kubernetes Secret; where Vault is enabled, from Vault.
type Secret struct {
	// Env is the environment variable the service reads.
	Env string
	// Key is the key in the service's Secret (and the Vault field).
	Key string
}

// Service describes one service.
type Service struct {
	Name        string
	Description string
	// Port serves the API, MetricsPort serves /metrics.
	Port, MetricsPort int
	// LivenessPath never checks downstream services; ReadinessPath does.
	LivenessPath, ReadinessPath string
	// SlowStart marks a service whose start is slow (loading a model): it
	// gets a startup probe with a long budget.
	SlowStart bool
	// Config are non-secret settings (environment variable -> default).
	Config map[string]string
	// Secrets are the credentials the service needs.
	Secrets []Secret
	// Calls lists the services this one calls over HTTP.
	Calls []string
	// Stores lists the data stores this one reaches.
	Stores []Store
	// Public marks the one service behind the ingress.
	Public bool
	// GPU marks a service that runs inference on a GPU where the stack has one.
	GPU bool
	// ModelArtifact marks a service whose pods fetch a model before starting.
	ModelArtifact bool
	// AccessTokens marks a service that signs or verifies the platform's
	// access tokens: the stack gives it JWT_ISSUER (its public API URL) and
	// JWT_AUDIENCE, the same for all of them.
	AccessTokens bool
	// CallsKubernetesAPI gets the service account token mounted.
	CallsKubernetesAPI bool
	// ReloadedBy is the one service whose ServiceAccount may reload this
	// one's model (the stack gives it RELOAD_CALLERS).
	ReloadedBy string
	// ScalingMetric is the per-pod custom metric its HPA may use.
	ScalingMetric string
	// Metrics are the Prometheus metrics the service exports besides the
	// HTTP ones every service has (HTTPMetrics): the contract the alert
	// rules and dashboards are checked against, and that the service's own
	// tests check its registry against.
	Metrics []string
}

// HTTPMetrics are exported by every service (internal/telemetry).
var HTTPMetrics = []string{"http_requests_total", "http_request_duration_seconds"}

// All returns every service, in a stable order.
func All() []Service {
	out := make([]Service, 0, len(services))
	for _, s := range services {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns every service name, sorted.
func Names() []string {
	out := make([]string, 0, len(services))
	for n := range services {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Get returns the named service.
func Get(name string) (Service, error) {
	s, ok := services[name]
	if !ok {
		return Service{}, fmt.Errorf("unknown service %q; known services: %v", name, Names())
	}
	return s, nil
}

// CallersOf returns the services that call name, sorted.
func CallersOf(name string) []string {
	var out []string
	for _, s := range services {
		if slices.Contains(s.Calls, name) {
			out = append(out, s.Name)
		}
	}
	sort.Strings(out)
	return out
}

func service(name, description string, s Service) Service {
	s.Name, s.Description = name, description
	s.Port, s.MetricsPort = HTTPPort, MetricsPort
	s.LivenessPath, s.ReadinessPath = LivenessPath, ReadinessPath
	return s
}

// services is the platform, after the seed's architecture: the gateway fronts
// every service; users, transactions and fraud share PostgreSQL and Redis;
// transactions publish to Kafka, which fraud, analytics and notifications
// consume; analytics keeps its documents in a MongoDB-compatible store; fraud
// loads its model from S3; the orchestrator drives model lifecycle in MLflow.
var services = map[string]Service{
	Gateway: service(Gateway, "API gateway: authentication, rate limits, routing to the services", Service{
		Public: true,
		Calls:  []string{Users, Transactions, Fraud, Analytics, Notifications, Orchestrator},
		Stores: []Store{Redis},
		// It verifies tokens with the users service's published keys; it
		// never holds the signing key.
		AccessTokens: true,
		Secrets:      []Secret{{Env: "REDIS_PASSWORD", Key: "redis-password"}},
		Config: map[string]string{
			"RATE_LIMIT_PER_MINUTE": "1000",
			"CORS_ALLOWED_ORIGINS":  "https://app.intelliflow.example",
			"REQUEST_TIMEOUT":       "10s",
		},
		Metrics: []string{"gateway_auth_failures_total", "gateway_rate_limited_total"},
	}),
	Users: service(Users, "user accounts, profiles and authentication", Service{
		Stores:       []Store{Postgres, Redis},
		AccessTokens: true,
		Secrets:      []Secret{{Env: "DATABASE_PASSWORD", Key: "database-password"}, {Env: "REDIS_PASSWORD", Key: "redis-password"}, {Env: "JWT_SIGNING_KEY", Key: "jwt-signing-key"}},
		Config: map[string]string{
			"ACCESS_TOKEN_TTL": "15m", "REFRESH_TOKEN_TTL": "720h", "PASSWORD_MIN_LENGTH": "12",
			"LOGIN_ATTEMPTS_PER_ACCOUNT": "10", "LOGIN_ATTEMPTS_PER_IP": "100", "PROFILE_CACHE_TTL": "5m",
		},
		Metrics: []string{"users_profile_cache_requests_total", "users_logins_total", "users_token_refreshes_total", "users_access_tokens_issued_total"},
	}),
	Transactions: service(Transactions, "payment transactions: validation, persistence, publication to Kafka", Service{
		Calls: []string{Fraud},
		// Idempotency keys live in PostgreSQL with the payments they guard.
		Stores:  []Store{Postgres, Kafka},
		Secrets: []Secret{{Env: "DATABASE_PASSWORD", Key: "database-password"}},
		Config: map[string]string{
			"KAFKA_TOPIC_TRANSACTIONS": "transactions.events", "FRAUD_SCORE_TIMEOUT": "150ms",
			"FRAUD_BREAKER_FAILURES": "5", "FRAUD_BREAKER_COOLDOWN": "10s",
			"FRAUD_FALLBACK": "hold-above", "FRAUD_FALLBACK_HOLD_ABOVE": "10000",
		},
		ScalingMetric: "transaction_processing_rate",
		// Processed payments (the adapter turns their rate into
		// transaction_processing_rate), the outbox not yet on Kafka, and
		// how fraud scoring answers.
		Metrics: []string{"transactions_processed_total", "transactions_outbox_pending", "transactions_fraud_calls_total"},
	}),
	Fraud: service(Fraud, "fraud inference server: scores transactions with the current model", Service{
		// It asks the API server whose token a /admin/reload caller sent
		// (TokenReview): only the orchestrator's may reload.
		CallsKubernetesAPI: true,
		ReloadedBy:         Orchestrator,
		SlowStart:          true,
		GPU:                true,
		ModelArtifact:      true,
		// Card history in Redis; review and decline decisions to Kafka
		// (fraud-alerts); the model from S3 (the init container).
		Stores:  []Store{Redis, Kafka, S3},
		Secrets: []Secret{{Env: "REDIS_PASSWORD", Key: "redis-password"}},
		Config: map[string]string{
			"MODEL_DIR":          "/models",
			"REVIEW_THRESHOLD":   "0.5",
			"FRAUD_THRESHOLD":    "0.85",
			"KAFKA_TOPIC_ALERTS": "fraud-alerts",
		},
		Metrics: []string{
			"fraud_prediction_duration_seconds", "fraud_decisions_total", "fraud_degraded_predictions_total",
			"fraud_rejected_requests_total", "fraud_feature_updates_dropped_total", "fraud_feature_updates_failed_total", "fraud_model_info", "model_accuracy_score", "fraud_score",
			"fraud_alerts_published_total", "fraud_alerts_dropped_total",
		},
	}),
	Analytics: service(Analytics, "analytics: aggregates transaction events and fraud alerts into reports", Service{
		Stores:  []Store{MongoDB, Kafka},
		Secrets: []Secret{{Env: "MONGODB_PASSWORD", Key: "mongodb-password"}},
		Config: map[string]string{
			"KAFKA_TOPIC_TRANSACTIONS": "transactions.events", "KAFKA_TOPIC_ALERTS": "fraud-alerts",
			"KAFKA_TOPIC_DEAD_LETTER": "analytics.dead-letter", "RETENTION_DAYS": "400",
		},
		Metrics: []string{"kafka_consumer_lag", "analytics_events_applied_total", "analytics_events_duplicate_total", "analytics_events_dead_lettered_total"},
	}),
	Notifications: service(Notifications, "notifications: e-mails customers and analysts about fraud alerts", Service{
		Stores:  []Store{Kafka, SMTP},
		Secrets: []Secret{{Env: "SMTP_PASSWORD", Key: "smtp-password"}},
		Config: map[string]string{
			"KAFKA_TOPIC_ALERTS": "fraud-alerts", "KAFKA_TOPIC_DEAD_LETTER": "fraud-alerts.dead-letter",
			"MAIL_FROM": "alerts@intelliflow.example", "MAIL_TO": "fraud-analysts@intelliflow.example",
		},
		Metrics: []string{"kafka_consumer_lag", "notifications_sent_total", "notifications_dead_lettered_total"},
	}),
	Orchestrator: service(Orchestrator, "AI orchestrator: model lifecycle, retraining and promotion through MLflow", Service{
		// Runs training Jobs and rolls the fraud server (the ML role).
		CallsKubernetesAPI: true,
		Calls:              []string{Fraud, Analytics},
		// Fraud's decisions and their labels, for live quality.
		Stores:  []Store{MLflow, S3, Kafka},
		Secrets: []Secret{{Env: "MLFLOW_TOKEN", Key: "mlflow-token"}},
		// The trainer's PR-AUC on its held-out split; the committed model
		// has 0.31 on the synthetic data.
		Config: map[string]string{"MODEL_NAME": "fraud", "MODEL_ALIAS": "production", "PROMOTION_METRIC": "pr_auc", "PROMOTION_FLOOR": "0.30",
			"KAFKA_TOPIC_TRANSACTIONS": "transactions.events", "KAFKA_TOPIC_LABELS": "fraud-labels", "REVIEW_THRESHOLD": "0.5", "QUALITY_WINDOW": "720h"},
		Metrics: []string{"orchestrator_promotions_total", "orchestrator_last_rollout_timestamp_seconds",
			"model_accuracy_score", "model_labelled_decisions", "model_score_drift_psi", "orchestrator_retrainings_total"},
	}),
}

// Validate checks the catalog's own consistency: every peer exists, nobody
// calls itself, and exactly one service is public.
func Validate() error {
	var errs []error
	public := 0
	for _, s := range All() {
		if s.Public {
			public++
		}
		for _, c := range s.Calls {
			if _, ok := services[c]; !ok {
				errs = append(errs, fmt.Errorf("service %q calls unknown service %q", s.Name, c))
			}
			if c == s.Name {
				errs = append(errs, fmt.Errorf("service %q calls itself", s.Name))
			}
		}
		for _, st := range s.Stores {
			if !slices.Contains(Stores, st) {
				errs = append(errs, fmt.Errorf("service %q uses unknown store %q", s.Name, st))
			}
		}
		if s.Port <= 0 || s.MetricsPort <= 0 || s.Port == s.MetricsPort {
			errs = append(errs, fmt.Errorf("service %q: ports %d/%d must be set and distinct", s.Name, s.Port, s.MetricsPort))
		}
		if s.LivenessPath == s.ReadinessPath {
			errs = append(errs, fmt.Errorf("service %q: liveness and readiness must differ", s.Name))
		}
	}
	if public != 1 {
		errs = append(errs, fmt.Errorf("%d public services; exactly one (the gateway) may be", public))
	}
	return errors.Join(errs...)
}
