package main

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/intelliflow/platform/apps/notifications/internal/smtptest"
	"github.com/intelliflow/platform/internal/proctest"
)

var benchAlerts = flag.Int("notifications.alerts", 2000, "BenchmarkNotificationsConsumer: decline alerts on the topic")

// BenchmarkNotificationsConsumer measures how fast the notifications binary
// delivers a backlog of decline alerts, each by e-mail (SMTP with
// STARTTLS and AUTH, a new session per alert as a relay such as SES
// takes them) and to a Slack webhook (make bench runs it):
//
//	go test ./apps/notifications -run XXX -bench NotificationsConsumer -benchtime 1x
//
// The topic is filled before the service starts, so no generator competes
// with it; the relay and the webhook are this process's. The clock runs
// from its start until the relay holds every mail; it prints alerts per
// second and the service's CPU per alert.
func BenchmarkNotificationsConsumer(b *testing.B) {
	if proctest.Race {
		b.Skip("numbers under the race detector mean nothing")
	}
	bins := proctest.Build(b, false, ".")
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "fraud-alerts"))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	var recs []*kgo.Record
	for i := range *benchAlerts {
		recs = append(recs, &kgo.Record{Topic: "fraud-alerts", Key: []byte(fmt.Sprintf("card-%d", i%300)), Value: alert(fmt.Sprintf("bench-%06d", i), "decline")})
	}
	if err := producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	relay, port, _ := smtptest.Start(b, true)
	hook := &slack{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), relay.CA, 0o600); err != nil {
		b.Fatal(err)
	}

	start := time.Now()
	svc := proctest.Start(b, 2, "/readyz", `"ready":true`, func(ports []int) *exec.Cmd {
		cmd := exec.Command(bins["."])
		cmd.Env = proctest.Env(map[string]string{
			"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": strconv.Itoa(ports[0]), "METRICS_PORT": strconv.Itoa(ports[1]), "LOG_LEVEL": "warn",
			"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "KAFKA_TOPIC_REPLICATION": "1",
			"SMTP_ADDR": fmt.Sprintf("127.0.0.1:%d", port), "SMTP_USERNAME": "alerts", "SMTP_PASSWORD": smtptest.Password,
			"SMTP_CA_FILE": filepath.Join(dir, "ca.pem"), "MAIL_FROM": "alerts@intelliflow.example", "MAIL_TO": "analysts@intelliflow.example",
			"SLACK_WEBHOOK_URL": srv.URL,
		})
		return cmd
	})
	for time.Since(start) < 30*time.Minute && (len(relay.Messages()) < *benchAlerts || hook.count() < *benchAlerts) {
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	mails, posts := len(relay.Messages()), hook.count()
	if mails != *benchAlerts || posts != *benchAlerts {
		b.Fatalf("%d mails and %d Slack posts for %d alerts in %s", mails, posts, *benchAlerts, elapsed)
	}
	cpu := svc.CPU(b)
	b.ReportMetric(float64(*benchAlerts)/elapsed.Seconds(), "alerts/s")
	fmt.Printf("notifications: %d decline alerts, each mailed (STARTTLS, AUTH) and posted to Slack, in %s: %.0f alerts/s, exactly %d mails and %d posts\n",
		*benchAlerts, elapsed.Round(time.Millisecond), float64(*benchAlerts)/elapsed.Seconds(), mails, posts)
	fmt.Printf("notifications: CPU per alert: %s\n", (cpu / time.Duration(*benchAlerts)).Round(time.Microsecond))
}
