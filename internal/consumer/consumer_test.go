package consumer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFailedRecordsAreHandledAgainAndOnlyDoneOnesCommitted: the handler
// fails on the third record twice; Run tries again from it (not from the
// first), every record is handled to the end in order, and the group's
// committed offset is the end of the partition with the lag at zero.
func TestFailedRecordsAreHandledAgainAndOnlyDoneOnesCommitted(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	require.NoError(t, err)
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("events"))
	require.NoError(t, err)
	defer producer.Close()
	for i := range 5 {
		require.NoError(t, producer.ProduceSync(context.Background(), &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr())
	}

	var mu sync.Mutex
	var seen []string
	failures := 2
	h := EachRecord(func(_ context.Context, rec *kgo.Record) error {
		mu.Lock()
		defer mu.Unlock()
		if string(rec.Value) == "2" && failures > 0 {
			failures--
			return errors.New("store unavailable")
		}
		seen = append(seen, string(rec.Value))
		return nil
	})
	client, err := kgo.NewClient(append(Options("g", "events"), kgo.SeedBrokers(cluster.ListenAddrs()...))...)
	require.NoError(t, err)
	defer client.Close()
	lag := NewLag(prometheus.NewRegistry(), "svc", "g")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, client, h, lag, slog.New(slog.NewTextHandler(io.Discard, nil))); close(done) }()

	adm := kadm.NewClient(producer)
	require.Eventually(t, func() bool {
		offsets, err := adm.FetchOffsets(context.Background(), "g")
		if err != nil {
			return false
		}
		o, ok := offsets.Lookup("events", 0)
		return ok && o.At == 5
	}, 30*time.Second, 50*time.Millisecond, "the group commits the partition's end")
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"0", "1", "2", "3", "4"}, seen, "in order, each once")
	require.Equal(t, 0.0, testutil.ToFloat64(lag.WithLabelValues("events", "0")))
}

// TestDeadLetterKeepsTheRecordAndSaysWhy: the dead letter is the record as
// it came, with its headers and the reason, error and source added.
func TestDeadLetterKeepsTheRecordAndSaysWhy(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "dead"))
	require.NoError(t, err)
	defer cluster.Close()
	client, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("dead"))
	require.NoError(t, err)
	defer client.Close()
	rec := &kgo.Record{Topic: "events", Partition: 3, Offset: 41, Key: []byte("k"), Value: []byte("{not json"),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}}}
	require.NoError(t, DeadLetter(context.Background(), client, "dead", rec, "malformed", errors.New("unexpected end"),
		kgo.RecordHeader{Key: "channel", Value: []byte("slack")}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := client.PollFetches(ctx).Records()
	require.Len(t, got, 1)
	headers := map[string]string{}
	for _, h := range got[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	require.Equal(t, map[string]string{"trace": "t1", "reason": "malformed", "error": "unexpected end", "source": "events/3/41", "channel": "slack"}, headers)
	require.Equal(t, "k", string(got[0].Key))
	require.Equal(t, "{not json", string(got[0].Value))
}
