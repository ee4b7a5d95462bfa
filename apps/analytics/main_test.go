package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/intelliflow/platform/apps/analytics/internal/ingest"
	"github.com/intelliflow/platform/apps/analytics/internal/store"
	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/fraud/alerts"
	"github.com/intelliflow/platform/apps/transactions/events"
	"github.com/intelliflow/platform/internal/consumer"
	"github.com/intelliflow/platform/internal/golden"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/mongotest"
	"github.com/intelliflow/platform/internal/servicetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

// now is an hour the events fall in, recent enough for the default range.
var now = time.Now().UTC().Truncate(time.Hour)

func txEvent(id, typ, merchant, currency, decision, status string, amount int64) []byte {
	return txEventAt(now.Add(5*time.Minute), id, typ, merchant, currency, decision, status, amount)
}

func txEventAt(at time.Time, id, typ, merchant, currency, decision, status string, amount int64) []byte {
	score := 0.1
	b, _ := json.Marshal(events.Event{EventID: "ev-" + id + "-" + typ, Version: events.SchemaVersion, Type: typ, OccurredAt: at,
		Transaction: events.Transaction{ID: id, OwnerID: "u1", Kind: events.Payment, AccountID: "a1", MerchantID: merchant, Amount: amount,
			Currency: currency, Status: status, Fraud: events.Fraud{Checked: decision != "", Score: &score, Decision: decision}}})
	return b
}

func alertEvent(id, merchant string, score float64) []byte {
	b, _ := json.Marshal(alerts.Alert{EventID: "alert-" + id, Version: alerts.SchemaVersion, OccurredAt: now.Add(6 * time.Minute),
		TransactionID: id, CardID: "card", Amount: 900, Currency: "EUR", MerchantID: merchant, Score: score, Decision: "decline",
		Model: alerts.Model{Name: "fraud", Version: "v1"}, Reasons: []alerts.Reason{}})
	return b
}

// get asks the service as the gateway would for a caller of role.
func get(t *testing.T, base, path, role string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if role != "" {
		req.Header.Set(identity.SubjectHeader, "someone")
		req.Header.Set(identity.RoleHeader, role)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// TestEventsBecomeReportsOnceEach: payments, a review, alerts, an event
// published twice, and four poison records go through the service; the
// reports count each event once, the poison ones are dead-lettered with
// their reasons, and a second consumer group replaying every record from
// the start produces identical aggregates.
func TestEventsBecomeReportsOnceEach(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "transactions.events", "fraud-alerts"))
	require.NoError(t, err)
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	require.NoError(t, err)
	defer producer.Close()
	tx := func(v []byte) *kgo.Record {
		return &kgo.Record{Topic: "transactions.events", Key: []byte("a1"), Value: v}
	}
	al := func(v []byte) *kgo.Record { return &kgo.Record{Topic: "fraud-alerts", Key: []byte("card"), Value: v} }
	records := []*kgo.Record{
		tx(txEvent("t1", events.Created, "m1", "EUR", "approve", events.Approved, 1000)),
		tx(txEvent("t2", events.Created, "m1", "EUR", "approve", events.Approved, 2000)),
		tx(txEvent("t3", events.Created, "m1", "EUR", "decline", events.Declined, 90000)),
		tx(txEvent("t4", events.Created, "m2", "EUR", "review", events.Held, 5000)),
		tx(txEvent("t4", events.Reviewed, "m2", "EUR", "review", events.Approved, 5000)),
		tx(txEvent("t5", events.Created, "m2", "USD", "", events.Held, 700)),             // fraud unreachable: the fallback held it
		tx(txEvent("t2", events.Created, "m1", "EUR", "approve", events.Approved, 2000)), // the outbox published it again
		al(alertEvent("t3", "m1", 0.97)),
		al(alertEvent("t3", "m1", 0.97)), // delivered twice
		tx([]byte(`{"event_id":`)),
		tx([]byte(`{"event_id":"x","version":2,"type":"transaction.created"}`)),
		tx(txEvent("t6", "transaction.refunded", "m1", "EUR", "approve", events.Approved, 1)),
		al([]byte(`{"event_id":"y","version":1,"decision":"decline","occurred_at":"2026-12-01T10:00:00Z","score":7}`)),
	}
	require.NoError(t, producer.ProduceSync(context.Background(), records...).FirstErr())

	mongo := mongotest.Start(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mongodb-password"), []byte(mongo.Password), 0o600))
	env := map[string]string{
		"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "KAFKA_TOPIC_REPLICATION": "1", "KAFKA_TOPIC_PARTITIONS": "1",
		"MONGODB_URI": mongo.URI, "MONGODB_USER": mongo.Username, "MONGODB_PASSWORD_FILE": filepath.Join(dir, "mongodb-password"),
		"MONGODB_AUTH_MECHANISM": "PLAIN",
	}
	svc := servicetest.Start(t, "analytics", run, env)
	rates := func(base string) map[string]any {
		var out map[string]any
		require.Eventually(t, func() bool {
			var code int
			code, out = get(t, base, "/v1/fraud-rates", identity.RoleAdmin)
			return code == 200 && out["transactions"] == 5.0 && out["alerts"] == 1.0 && out["reviews_approved"] == 1.0
		}, 30*time.Second, 100*time.Millisecond, "%v\n%s", out, svc.Logs)
		return out
	}
	first := rates(svc.API)
	require.Equal(t, map[string]any{"approve": 2.0, "decline": 1.0, "review": 1.0, ingest.Unscored: 1.0}, first["by_decision"])
	require.Equal(t, 0.2, first["decline_rate"])
	require.Equal(t, 0.97, first["mean_alert_score"])

	code, top := get(t, svc.API, "/v1/top-merchants?currency=EUR", identity.RoleAdmin)
	require.Equal(t, 200, code, top)
	require.Equal(t, []any{
		map[string]any{"merchant": "m1", "currency": "EUR", "transactions": 3.0, "amount": 93000.0, "declines": 1.0, "alerts": 1.0},
		map[string]any{"merchant": "m2", "currency": "EUR", "transactions": 1.0, "amount": 5000.0, "declines": 0.0, "alerts": 0.0},
	}, top["merchants"])
	code, vol := get(t, svc.API, "/v1/volumes?from="+now.Format(time.RFC3339)+"&to="+now.Add(time.Hour).Format(time.RFC3339), identity.RoleAdmin)
	require.Equal(t, 200, code, vol)
	require.Len(t, vol["volumes"], 2, "EUR and USD in the hour: %v", vol)

	// Every poison record is in the dead-letter topic with its reason.
	reasons := deadLetters(t, cluster.ListenAddrs(), 4)
	require.Equal(t, map[string]int{ingest.ReasonMalformed: 2, ingest.ReasonUnknownVersion: 1, ingest.ReasonUnknownType: 1}, reasons)
	_, metrics := fetch(t, svc.Metrics+"/metrics")
	for _, want := range []string{
		`analytics_events_duplicate_total{topic="transactions.events"} 1`, `analytics_events_duplicate_total{topic="fraud-alerts"} 1`,
		`analytics_events_dead_lettered_total{reason="malformed",topic="fraud-alerts"} 1`,
		// Key a1's partition, read to its end.
		`kafka_consumer_lag{group="analytics",partition="2",service="analytics",topic="transactions.events"} 0`,
	} {
		require.True(t, strings.Contains(metrics, want), want)
	}
	require.NoError(t, svc.Stop())

	// A new group reads every record again into the same store: the
	// aggregates come out identical.
	replay := map[string]string{"KAFKA_CONSUMER_GROUP": "analytics-replay"}
	for k, v := range env {
		replay[k] = v
	}
	again := servicetest.Start(t, "analytics", run, replay)
	require.Eventually(t, func() bool {
		_, m := fetch(t, again.Metrics+"/metrics")
		return strings.Contains(m, `analytics_events_duplicate_total{topic="transactions.events"} 7`) &&
			strings.Contains(m, `analytics_events_duplicate_total{topic="fraud-alerts"} 2`)
	}, 30*time.Second, 100*time.Millisecond, "the replay saw every event as stored")
	require.Equal(t, first, rates(again.API))
	require.Equal(t, map[string]int{ingest.ReasonMalformed: 4, ingest.ReasonUnknownVersion: 2, ingest.ReasonUnknownType: 2},
		deadLetters(t, cluster.ListenAddrs(), 8), "the replay dead-letters the poison again, nothing else")
}

func deadLetters(t *testing.T, brokers []string, want int) map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("analytics.dead-letter"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	reasons, n := map[string]int{}, 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for n < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			n++
			for _, h := range r.Headers {
				if h.Key == "reason" {
					reasons[string(h.Value)]++
				}
			}
		})
	}
	return reasons
}

func fetch(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestReportsRefuseBadRequests: only admins, and every bad parameter is a
// 400 that names it.
func TestReportsRefuseBadRequests(t *testing.T) {
	mongo := mongotest.Start(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer cluster.Close()
	svc := servicetest.Start(t, "analytics", run, map[string]string{
		"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "KAFKA_TOPIC_REPLICATION": "1",
		"MONGODB_URI": mongo.URI, "MONGODB_USER": mongo.Username, "MONGODB_PASSWORD": mongo.Password, "MONGODB_AUTH_MECHANISM": "PLAIN",
		"RETENTION_DAYS": "30",
	})
	code, _ := get(t, svc.API, "/v1/volumes", "")
	require.Equal(t, 401, code)
	code, _ = get(t, svc.API, "/v1/volumes", identity.RoleCustomer)
	require.Equal(t, 403, code)
	for path, msg := range map[string]string{
		"/v1/volumes?from=yesterday":                                        "from:",
		"/v1/volumes?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z":     "from must be before to",
		"/v1/fraud-rates?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z": "at most 720h",
		"/v1/volumes?currency=eur":                                          "currency:",
		"/v1/top-merchants":                                                 "currency is required",
		"/v1/top-merchants?by=declines&limit=500":                           "limit:",
		"/v1/top-merchants?by=name":                                         "by:",
	} {
		code, body := get(t, svc.API, path, identity.RoleAdmin)
		require.Equal(t, 400, code, path)
		require.Contains(t, fmt.Sprint(body["error"]), msg, path)
	}
}

func TestConfigErrors(t *testing.T) {
	err := run(context.Background(), func(k string) string {
		return map[string]string{"KAFKA_BROKERS": "kafka", "MONGODB_URI": "postgres://x", "RETENTION_DAYS": "0", "MONGODB_CA_FILE": "/nonexistent"}[k]
	}, nil, nil)
	require.Error(t, err)
	for _, want := range []string{"KAFKA_BROKERS", "MONGODB_URI", "RETENTION_DAYS", "MONGODB_CA_FILE"} {
		require.ErrorContains(t, err, want)
	}
	err = run(context.Background(), func(k string) string { return map[string]string{"KAFKA_BROKERS": "kafka:9092"}[k] }, nil, nil)
	require.ErrorContains(t, err, "MONGODB_URI")
}

// TestMetricsMatchTheCatalog: the service exports what its catalog entry
// names.
func TestMetricsMatchTheCatalog(t *testing.T) {
	reg := prometheus.NewRegistry()
	ingest.New(ingest.Config{Registry: reg, TransactionsTopic: "transactions.events", AlertsTopic: "fraud-alerts", Store: (*store.Store)(nil)})
	consumer.NewLag(reg, catalog.Analytics, "analytics").WithLabelValues("fraud-alerts", "0").Set(0)
	servicetest.RequireCatalogMetrics(t, reg, catalog.Analytics)
}

// TestEnvContract pins what the service reads (go test -update refreshes
// it); infra's tests hold every stack's wiring to it.
func TestEnvContract(t *testing.T) {
	cfg, _ := readConfig(func(string) string { return "" })
	golden.RequireJSON(t, "env.golden", cfg.env.Contract())
}
