// Command analytics turns the platform's events into reports: it consumes
// transactions.events and fraud-alerts (one consumer group, at least once,
// each event counted once by its id), keeps aggregates per hour, merchant,
// currency and fraud decision in a MongoDB-protocol store (DocumentDB in
// AWS), and serves volumes, fraud rates and top merchants to admins
// through the gateway.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intelliflow/platform/apps/analytics/internal/api"
	"github.com/intelliflow/platform/apps/analytics/internal/ingest"
	"github.com/intelliflow/platform/apps/analytics/internal/store"
	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/consumer"
	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/httpserver"
	"github.com/intelliflow/platform/internal/kafkaclient"
	"github.com/intelliflow/platform/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "analytics:", err)
		os.Exit(1)
	}
}

// config is read from the environment once; apps/catalog names the keys.
type config struct {
	env                 *envconfig.Reader
	std                 httpserver.Standard
	kafka               kafkaclient.Config
	transactions, alert string
	deadLetter, group   string
	mongo               *options.ClientOptions
	database            string
	retention           time.Duration
}

func readConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	c := config{env: r}
	c.std = httpserver.ReadStandard(r)
	c.kafka = kafkaclient.Read(r)
	c.transactions = r.String("KAFKA_TOPIC_TRANSACTIONS", "transactions.events")
	c.alert = r.String("KAFKA_TOPIC_ALERTS", "fraud-alerts")
	c.deadLetter = r.String("KAFKA_TOPIC_DEAD_LETTER", "analytics.dead-letter")
	c.group = r.String("KAFKA_CONSUMER_GROUP", catalog.Analytics)
	c.retention = time.Duration(r.Int("RETENTION_DAYS", 400, 1, 3650)) * 24 * time.Hour
	c.database = r.String("MONGODB_DATABASE", "intelliflow")
	uri := r.Required("MONGODB_URI")
	c.mongo = options.Client().ApplyURI(uri).SetAppName(catalog.Analytics).SetTimeout(10 * time.Second)
	if uri != "" {
		if err := c.mongo.Validate(); err != nil {
			r.Fail(fmt.Errorf("MONGODB_URI: %w", err))
		}
	}
	// The password is never in the URI (it is logged): it comes from the
	// service's secret. FerretDB authenticates with PLAIN, DocumentDB with
	// SCRAM (the driver's default).
	user, password := r.String("MONGODB_USER", ""), r.Secret("MONGODB_PASSWORD", false)
	mechanism := r.String("MONGODB_AUTH_MECHANISM", "")
	if user != "" {
		c.mongo.SetAuth(options.Credential{Username: user, Password: password, AuthMechanism: mechanism})
	}
	// DocumentDB's certificates are signed by Amazon's RDS CAs, not the
	// system's: the stack mounts their bundle.
	if pem, set := r.File("MONGODB_CA_FILE"); set {
		pool := x509.NewCertPool()
		if pem != nil && !pool.AppendCertsFromPEM(pem) {
			r.Fail(fmt.Errorf("MONGODB_CA_FILE: no PEM certificate"))
		}
		c.mongo.SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	return c, r.Err()
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
	mc, err := mongo.Connect(cfg.mongo)
	if err != nil {
		return fmt.Errorf("mongodb: %w", err)
	}
	defer func() { _ = mc.Disconnect(context.Background()) }()
	st := store.New(mc.Database(cfg.database))
	if err := st.EnsureIndexes(ctx); err != nil {
		return err
	}
	// The topics it reads belong to transactions and fraud.
	client, err := consumer.Join(ctx, cfg.kafka, cfg.group, cfg.deadLetter, []string{cfg.transactions, cfg.alert}, log)
	if err != nil {
		return err
	}
	defer client.Close()
	reg := httpserver.NewRegistry()
	in := ingest.New(ingest.Config{Store: st, TransactionsTopic: cfg.transactions, AlertsTopic: cfg.alert,
		DeadLetter: cfg.deadLetter, Producer: client, Registry: reg, Log: log})
	lag := consumer.NewLag(reg, catalog.Analytics, cfg.group)
	background, stopBackground := context.WithCancel(context.Background())
	consumed, expired := make(chan struct{}), make(chan struct{})
	go func() { consumer.Run(background, client, in.Handle, lag, log); close(consumed) }()
	go func() { expire(background, st, cfg.retention, log); close(expired) }()

	httpMetrics := telemetry.NewHTTP(reg, catalog.Analytics).WithAccessLog(log)
	a := api.New(api.Config{Store: st, MaxRange: cfg.retention, HTTP: httpMetrics, Log: log})
	// Ready while the store answers: reports are served from it, and
	// events wait in Kafka while it is down.
	health := httpserver.NewHealth(st.Ping)
	err = httpserver.Run(ctx, httpserver.Config{
		Standard: cfg.std, Handler: a.Handler(), Registry: reg, Health: health, HTTP: httpMetrics, Log: log,
		Listening: httpserver.Announce(listening),
	})
	// Records being stored when the stop came are not committed: the next
	// member stores them again, which counts nothing twice.
	stopBackground()
	<-consumed
	<-expired
	log.Info("stopped")
	return err
}

// expire removes what is older than the retention, at start and hourly.
func expire(ctx context.Context, st *store.Store, retention time.Duration, log *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		facts, rows, err := st.Expire(ctx, time.Now().Add(-retention).Truncate(time.Hour))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("expiry failed; trying again in an hour", "error", err.Error())
		case facts+rows > 0:
			log.Info("expired", "facts", facts, "aggregates", rows)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
