// Command transactions is the transactions service: accounts and the
// payments and transfers between them, each scored by fraud before it is
// booked, booked exactly once per Idempotency-Key with its event in one
// PostgreSQL transaction, and its event relayed to Kafka from the outbox.
package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/transactions/internal/api"
	"github.com/intelliflow/platform/apps/transactions/internal/fraudclient"
	"github.com/intelliflow/platform/apps/transactions/internal/outbox"
	"github.com/intelliflow/platform/apps/transactions/internal/txdb"
	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/httpserver"
	"github.com/intelliflow/platform/internal/kafkaclient"
	"github.com/intelliflow/platform/internal/pgdb"
	"github.com/intelliflow/platform/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "transactions:", err)
		os.Exit(1)
	}
}

// config is read from the environment once; apps/catalog names the keys.
type config struct {
	env      *envconfig.Reader
	std      httpserver.Standard
	db       pgdb.Config
	kafka    kafkaclient.Config
	topic    string
	fraudURL string
	fraud    fraudclient.Options
	fallback api.Fallback
}

func readConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	c := config{env: r}
	c.std = httpserver.ReadStandard(r)
	c.db = pgdb.Read(r)
	c.kafka = kafkaclient.Read(r)
	c.topic = r.String("KAFKA_TOPIC_TRANSACTIONS", "transactions.events")
	c.fraudURL = r.Required("FRAUD_URL")
	if u, err := url.Parse(c.fraudURL); c.fraudURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		r.Fail(fmt.Errorf("FRAUD_URL: %q is not an http(s) URL", c.fraudURL))
	}
	c.fraud = fraudclient.Options{
		Timeout:  r.Duration("FRAUD_SCORE_TIMEOUT", 150*time.Millisecond),
		Failures: uint32(r.Int("FRAUD_BREAKER_FAILURES", 5, 1, 1000)),
		Cooldown: r.Duration("FRAUD_BREAKER_COOLDOWN", 10*time.Second),
	}
	c.fallback = api.Fallback{Mode: r.String("FRAUD_FALLBACK", "hold-above"), HoldAbove: int64(r.Int("FRAUD_FALLBACK_HOLD_ABOVE", 10000, 0, api.MaxAmount))}
	if !slices.Contains(api.FallbackModes, c.fallback.Mode) {
		r.Fail(fmt.Errorf("FRAUD_FALLBACK: %q is not one of %v", c.fallback.Mode, api.FallbackModes))
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
	db, err := pgdb.Open(ctx, cfg.db)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := pgdb.Migrate(ctx, db, txdb.Migrations(), txdb.MigrationTable, log); err != nil {
		return err
	}
	// Idempotent producer, every replica acknowledging; a record Kafka
	// cannot take within 10 s fails back to the relay, which keeps it in the
	// outbox and tries again.
	producer, err := cfg.kafka.Client(ctx, kgo.RecordDeliveryTimeout(10*time.Second), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		return err
	}
	defer producer.Close()
	if err := kafkaclient.EnsureTopics(ctx, producer, cfg.kafka, cfg.topic); err != nil {
		// Kafka may be down while the service starts: payments are still
		// booked, their events wait in the outbox.
		log.Warn("topic not ensured; the outbox holds events until Kafka answers", "topic", cfg.topic, "error", err.Error())
	}

	reg := httpserver.NewRegistry()
	store := txdb.New(db, cfg.topic)
	relay := outbox.New(db, producer, log, reg)
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() { relay.Run(relayCtx); close(relayDone) }()

	httpMetrics := telemetry.NewHTTP(reg, catalog.Transactions).WithAccessLog(log)
	a := api.New(api.Config{
		Store: store, Fraud: fraudclient.New(cfg.fraudURL, cfg.fraud, reg), Fallback: cfg.fallback,
		Metrics: api.NewMetrics(reg), HTTP: httpMetrics, Log: log,
	})
	// Ready while PostgreSQL answers: without Kafka or fraud, payments are
	// still booked (events wait in the outbox; the fallback decides).
	health := httpserver.NewHealth(func(ctx context.Context) error { return db.Ping(ctx) })
	err = httpserver.Run(ctx, httpserver.Config{
		Standard: cfg.std, Handler: a.Handler(), Registry: reg, Health: health, HTTP: httpMetrics,
		Log:       log,
		Listening: httpserver.Announce(listening),
	})
	// The relay stops after the API: its last rounds publish what the final
	// requests booked.
	stopRelay()
	<-relayDone
	log.Info("stopped")
	return err
}
