package main

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/intelliflow/platform/apps/transactions/events"
	"github.com/intelliflow/platform/internal/mongotest"
	"github.com/intelliflow/platform/internal/proctest"
)

var benchEvents = flag.Int("analytics.events", 20000, "BenchmarkAnalyticsConsumer: transaction events on the topic (plus one alert per 10)")

// BenchmarkAnalyticsConsumer measures how fast the analytics binary turns
// a backlog into aggregates (make bench runs it):
//
//	go test ./apps/analytics -run XXX -bench AnalyticsConsumer -benchtime 1x
//
// The topics are filled before the service starts (kfake, in the
// benchmark's process), so no generator competes with it; then the clock
// runs from its start until every event is applied, read from its own
// metrics. Payments spread over 200 merchants and two currencies within
// one day; FerretDB and its PostgreSQL share the machine's cores with it.
// It prints events per second, and the CPU each process spent per event.
func BenchmarkAnalyticsConsumer(b *testing.B) {
	if proctest.Race {
		b.Skip("numbers under the race detector mean nothing")
	}
	bins := proctest.Build(b, false, ".")
	mongo := mongotest.Start(b)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "transactions.events", "fraud-alerts"))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	day := time.Now().UTC().Truncate(24 * time.Hour)
	decisions := []string{"approve", "approve", "approve", "approve", "approve", "approve", "approve", "review", "decline", ""}
	var recs []*kgo.Record
	alertCount := 0
	for i := range *benchEvents {
		merchant, currency := fmt.Sprintf("m%03d", i%200), []string{"EUR", "USD"}[i%2]
		decision := decisions[i%len(decisions)]
		v := txEventAt(day.Add(time.Duration(i%24)*time.Hour), fmt.Sprintf("b%06d", i), events.Created, merchant, currency, decision, events.Approved, int64(100+i%5000))
		recs = append(recs, &kgo.Record{Topic: "transactions.events", Key: []byte(fmt.Sprintf("acct-%d", i%500)), Value: v})
		if i%10 == 0 {
			recs = append(recs, &kgo.Record{Topic: "fraud-alerts", Key: []byte("card"), Value: alertEvent(fmt.Sprintf("b%06d", i), merchant, 0.9)})
			alertCount++
		}
	}
	if err := producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	total := len(recs)

	start := time.Now()
	svc := proctest.Start(b, 2, "/readyz", `"ready":true`, func(ports []int) *exec.Cmd {
		cmd := exec.Command(bins["."])
		cmd.Env = proctest.Env(map[string]string{
			"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": strconv.Itoa(ports[0]), "METRICS_PORT": strconv.Itoa(ports[1]), "LOG_LEVEL": "warn",
			"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "KAFKA_TOPIC_REPLICATION": "1",
			"MONGODB_URI": mongo.URI, "MONGODB_USER": mongo.Username, "MONGODB_PASSWORD": mongo.Password, "MONGODB_AUTH_MECHANISM": "PLAIN",
		})
		return cmd
	})
	applied := regexp.MustCompile(`(?m)^analytics_events_applied_total\{topic="[^"]+"\} (\d+)`)
	var done int
	for time.Since(start) < 30*time.Minute {
		_, metrics := fetch(b, svc.URLOf(1)+"/metrics")
		done = 0
		for _, m := range applied.FindAllStringSubmatch(metrics, -1) {
			n, _ := strconv.Atoi(m[1])
			done += n
		}
		if done >= total {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if done < total {
		b.Fatalf("%d of %d events applied in %s", done, total, elapsed)
	}
	cpu := svc.CPU(b)
	ferret := proctest.CPUOf(b, mongo.PID)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
	fmt.Printf("analytics: %d events (%d payments, %d alerts; 200 merchants x 2 currencies x 24 hours) applied in %s: %.0f events/s\n",
		total, total-alertCount, alertCount, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	fmt.Printf("analytics: CPU per event: service %s, FerretDB %s (PostgreSQL not counted)\n",
		(cpu / time.Duration(total)).Round(time.Microsecond), (ferret / time.Duration(total)).Round(time.Microsecond))
}
