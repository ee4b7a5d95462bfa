package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/fraud/alerts"
	"github.com/intelliflow/platform/apps/notifications/internal/channels"
	"github.com/intelliflow/platform/apps/notifications/internal/dispatch"
	"github.com/intelliflow/platform/apps/notifications/internal/smtptest"
	"github.com/intelliflow/platform/internal/consumer"
	"github.com/intelliflow/platform/internal/golden"
	"github.com/intelliflow/platform/internal/servicetest"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

// slack is a webhook that is down (503) for its first `down` calls.
type slack struct {
	down  int32
	calls atomic.Int32
	mu    sync.Mutex
	texts []string
}

func (s *slack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.calls.Add(1) <= s.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var body struct{ Text string }
	_ = json.NewDecoder(r.Body).Decode(&body)
	s.mu.Lock()
	s.texts = append(s.texts, body.Text)
	s.mu.Unlock()
}

func (s *slack) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.texts) }

func alert(tx, decision string) []byte {
	b, _ := json.Marshal(alerts.Alert{EventID: "ev-" + tx + "-" + strconv.FormatInt(time.Now().UnixNano(), 36), Version: alerts.SchemaVersion,
		OccurredAt: time.Now().UTC(), TransactionID: tx, CardID: "card-" + tx, Amount: 120, Currency: "EUR", MerchantID: "m1",
		Score: 0.9, Decision: decision, Model: alerts.Model{Name: "fraud", Version: "v1"}, Reasons: []alerts.Reason{}})
	return b
}

// TestEveryAlertOnceThroughEveryChannel: with Slack down for a while,
// every alert still reaches e-mail and Slack exactly once; a duplicate is
// not sent; a malformed and an unknown-version message go to the
// dead-letter topic with their reason; and a second instance of the group
// sends nothing again (offsets were committed).
func TestEveryAlertOnceThroughEveryChannel(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "fraud-alerts"))
	require.NoError(t, err)
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	require.NoError(t, err)
	defer producer.Close()
	var records []*kgo.Record
	for i := range 5 {
		records = append(records, &kgo.Record{Topic: "fraud-alerts", Key: []byte("k"), Value: alert(fmt.Sprintf("tx%d", i), "decline")})
	}
	records = append(records,
		&kgo.Record{Topic: "fraud-alerts", Key: []byte("k"), Value: alert("tx0", "decline")}, // the same payment again
		&kgo.Record{Topic: "fraud-alerts", Key: []byte("k"), Value: []byte(`{"card_id":`)},
		&kgo.Record{Topic: "fraud-alerts", Key: []byte("k"), Value: []byte(`{"version":99,"card_id":"c","decision":"decline"}`)},
		&kgo.Record{Topic: "fraud-alerts", Key: []byte("k"), Value: alert("tx7", "review")},
	)
	require.NoError(t, producer.ProduceSync(context.Background(), records...).FirstErr())

	relay, port, _ := smtptest.Start(t, true)
	hook := &slack{down: 3}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), relay.CA, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "smtp-password"), []byte(smtptest.Password), 0o600))
	env := map[string]string{
		"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "KAFKA_TOPIC_REPLICATION": "1", "KAFKA_TOPIC_PARTITIONS": "1",
		"SMTP_ADDR": fmt.Sprintf("127.0.0.1:%d", port), "SMTP_USERNAME": "alerts", "SMTP_PASSWORD_FILE": filepath.Join(dir, "smtp-password"),
		"SMTP_CA_FILE": filepath.Join(dir, "ca.pem"), "MAIL_FROM": "alerts@intelliflow.example", "MAIL_TO": "analysts@intelliflow.example",
		"SLACK_WEBHOOK_URL": srv.URL, "RETRY_INITIAL": "10ms",
	}
	svc := servicetest.Start(t, "notifications", run, env)
	require.Eventually(t, func() bool { return len(relay.Messages()) >= 6 && hook.count() >= 6 }, 20*time.Second, 50*time.Millisecond,
		"mails %d, slack %d", len(relay.Messages()), hook.count())
	require.Eventually(t, func() bool {
		_, body := getMetrics(t, svc.Metrics)
		return strings.Contains(body, `notifications_dead_lettered_total{channel="",reason="unknown_version"} 1`)
	}, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, svc.Stop())
	require.Len(t, relay.Messages(), 6, "5 declines and 1 review, the duplicate not again")
	require.Equal(t, 6, hook.count())
	require.Greater(t, int(hook.calls.Load()), 6, "Slack was down and retried")

	// The dead letters, with their reasons.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("fraud-alerts.dead-letter"))
	require.NoError(t, err)
	defer consumer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reasons := map[string]int{}
	for len(reasons) < 2 && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == "reason" {
					reasons[string(h.Value)]++
				}
			}
		})
	}
	require.Equal(t, map[string]int{dispatch.ReasonMalformed: 1, dispatch.ReasonUnknownVersion: 1}, reasons)

	// Another member of the group starts where the first committed: a new
	// alert is its first mail, nothing before it is sent again.
	again := servicetest.Start(t, "notifications", run, env)
	require.NoError(t, producer.ProduceSync(context.Background(), &kgo.Record{Topic: "fraud-alerts", Key: []byte("k"), Value: alert("tx8", "decline")}).FirstErr())
	require.Eventually(t, func() bool { return len(relay.Messages()) >= 7 }, 20*time.Second, 50*time.Millisecond)
	require.NoError(t, again.Stop())
	require.Len(t, relay.Messages(), 7, "nothing sent twice")
	require.Contains(t, relay.Messages()[6], "tx8")
}

func getMetrics(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestConfigErrors(t *testing.T) {
	err := run(context.Background(), func(k string) string {
		return map[string]string{"KAFKA_BROKERS": "kafka", "SMTP_ADDR": "relay", "DEDUP_WINDOW": "soon", "SLACK_TEMPLATE": "{{.Nope}}"}[k]
	}, nil, nil)
	require.Error(t, err)
	for _, want := range []string{"KAFKA_BROKERS", "SMTP_ADDR", "MAIL_FROM and MAIL_TO", "DEDUP_WINDOW"} {
		require.ErrorContains(t, err, want)
	}
	err = run(context.Background(), func(k string) string { return map[string]string{"KAFKA_BROKERS": "kafka:9092"}[k] }, nil, nil)
	require.ErrorContains(t, err, "no channel")
}

// TestMetricsMatchTheCatalog: the service exports what its catalog entry
// names.
func TestMetricsMatchTheCatalog(t *testing.T) {
	reg := prometheus.NewRegistry()
	dispatch.New(dispatch.Config{Registry: reg, Channels: map[string][]channels.Channel{"decline": {&channels.Slack{}}}})
	consumer.NewLag(reg, catalog.Notifications, "notifications").WithLabelValues("fraud-alerts", "0").Set(0)
	servicetest.RequireCatalogMetrics(t, reg, catalog.Notifications)
}

// TestEnvContract pins what the service reads (go test -update refreshes
// it); infra's tests hold every stack's wiring to it.
func TestEnvContract(t *testing.T) {
	cfg, _ := readConfig(func(string) string { return "" })
	golden.RequireJSON(t, "env.golden", cfg.env.Contract())
}
