package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/intelliflow/platform/apps/fraud/alerts"
	"github.com/intelliflow/platform/apps/notifications/internal/channels"
)

// outage is a channel whose endpoint is down: every send fails, as a
// connection refused does.
type outage struct{ tries int }

func (o *outage) Name() string { return "slack" }
func (o *outage) Send(context.Context, alerts.Alert) error {
	o.tries++
	return errors.New("connect: connection refused")
}

// TestLongOutageDeadLettersAtThePaceAlertsCome: the first alert gets the
// whole retry budget; while the channel stays down the next ones get one
// try each; all are dead-lettered for that channel, none lost.
func TestLongOutageDeadLettersAtThePaceAlertsCome(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "dead"))
	require.NoError(t, err)
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	require.NoError(t, err)
	defer producer.Close()
	ch := &outage{}
	d := New(Config{Channels: map[string][]channels.Channel{"decline": {ch}},
		Retry:  channels.Retry{Initial: 5 * time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxElapsed: 200 * time.Millisecond},
		Window: time.Minute, DeadLetter: "dead", Producer: producer, Registry: prometheus.NewRegistry(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var perAlert []int
	for i := range 3 {
		a := alerts.Alert{EventID: "e" + strconv.Itoa(i), Version: alerts.SchemaVersion, TransactionID: "t" + strconv.Itoa(i), CardID: "c", Decision: "decline"}
		value, _ := json.Marshal(a)
		before := ch.tries
		require.NoError(t, d.Handle(context.Background(), &kgo.Record{Topic: "fraud-alerts", Value: value}))
		perAlert = append(perAlert, ch.tries-before)
	}
	require.Greater(t, perAlert[0], 3, "the first alert is retried")
	require.LessOrEqual(t, perAlert[1], 2, "then the channel is known down: %v", perAlert)
	require.LessOrEqual(t, perAlert[2], 2, "%v", perAlert)
	require.Equal(t, 3.0, testutil.ToFloat64(d.dead.WithLabelValues(ReasonGivenUp, "slack")))
}
