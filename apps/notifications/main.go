// Command notifications tells people about fraud's review and decline
// decisions: it consumes fraud-alerts and sends each alert by e-mail
// (SMTP with STARTTLS), to a Slack webhook and to PagerDuty, committing an
// alert only once every channel accepted it or it was dead-lettered.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/template"
	"time"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/notifications/internal/channels"
	"github.com/intelliflow/platform/apps/notifications/internal/dispatch"
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
		fmt.Fprintln(os.Stderr, "notifications:", err)
		os.Exit(1)
	}
}

// config is read from the environment once; apps/catalog names the keys.
type config struct {
	env               *envconfig.Reader
	std               httpserver.Standard
	kafka             kafkaclient.Config
	topic, deadLetter string
	group             string
	window            time.Duration
	retry             channels.Retry
	email             *channels.Email
	slack             *channels.Slack
	pagerduty         *channels.PagerDuty
	reviewToPagerDuty bool
	httpTimeout       time.Duration
}

func readConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	c := config{env: r}
	c.std = httpserver.ReadStandard(r)
	c.kafka = kafkaclient.Read(r)
	c.topic = r.String("KAFKA_TOPIC_ALERTS", "fraud-alerts")
	c.deadLetter = r.String("KAFKA_TOPIC_DEAD_LETTER", c.topic+".dead-letter")
	c.group = r.String("KAFKA_CONSUMER_GROUP", catalog.Notifications)
	c.window = r.Duration("DEDUP_WINDOW", 10*time.Minute)
	c.retry = channels.Retry{Initial: r.Duration("RETRY_INITIAL", 500*time.Millisecond), MaxInterval: 30 * time.Second,
		MaxElapsed: r.Duration("RETRY_GIVE_UP_AFTER", 10*time.Minute)}
	c.httpTimeout = r.Duration("CHANNEL_TIMEOUT", 10*time.Second)
	tpl := func(key, def string) *template.Template {
		t, err := channels.Parse(key, r.String(key, def))
		if err != nil {
			r.Fail(fmt.Errorf("%s: %w", key, err))
		}
		return t
	}
	// Every key is read whether or not its channel is on, so the contract
	// (testdata/env.golden) names them all.
	addr := r.String("SMTP_ADDR", "")
	e := &channels.Email{Username: r.String("SMTP_USERNAME", ""), Password: r.Secret("SMTP_PASSWORD", false),
		From: r.String("MAIL_FROM", ""), To: r.List("MAIL_TO", ""),
		Subject: tpl("EMAIL_SUBJECT_TEMPLATE", channels.DefaultEmailSubject), Body: tpl("EMAIL_BODY_TEMPLATE", channels.DefaultEmailBody)}
	ca, hasCA := r.File("SMTP_CA_FILE")
	slackURL, slackText := r.Secret("SLACK_WEBHOOK_URL", false), tpl("SLACK_TEMPLATE", channels.DefaultSlackTemplate)
	pdKey, pdURL := r.Secret("PAGERDUTY_ROUTING_KEY", false), r.String("PAGERDUTY_EVENTS_URL", "https://events.pagerduty.com/v2/enqueue")
	pdText := tpl("PAGERDUTY_SUMMARY_TEMPLATE", channels.DefaultPagerDutySummary)
	// E-mail when the stack gives a relay (SMTP_ADDR; SES in AWS).
	if addr != "" {
		host, portText, err := net.SplitHostPort(addr)
		port, perr := strconv.Atoi(portText)
		if err != nil || perr != nil {
			r.Fail(fmt.Errorf("SMTP_ADDR: %q is not host:port", addr))
		}
		e.Host, e.Port = host, port
		if e.From == "" || len(e.To) == 0 {
			r.Fail(fmt.Errorf("SMTP_ADDR is set: MAIL_FROM and MAIL_TO are required"))
		}
		if hasCA {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				r.Fail(fmt.Errorf("SMTP_CA_FILE: no PEM certificate"))
			}
			e.TLS = &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
		}
		c.email = e
	}
	client := &http.Client{Timeout: c.httpTimeout, Transport: telemetry.Transport(http.DefaultTransport)}
	if slackURL != "" {
		c.slack = &channels.Slack{URL: slackURL, Template: slackText, Client: client}
	}
	if pdKey != "" {
		c.pagerduty = &channels.PagerDuty{URL: pdURL, RoutingKey: pdKey, Template: pdText, Client: client}
	}
	c.reviewToPagerDuty = r.Bool("PAGE_ON_REVIEW", false)
	if c.email == nil && c.slack == nil && c.pagerduty == nil {
		r.Fail(fmt.Errorf("no channel: set SMTP_ADDR, SLACK_WEBHOOK_URL or PAGERDUTY_ROUTING_KEY"))
	}
	return c, r.Err()
}

// routes are the channels per decision: a decline everywhere; a review to
// people's inboxes and Slack, and to the pager only with PAGE_ON_REVIEW.
func (c config) routes() map[string][]channels.Channel {
	out := map[string][]channels.Channel{}
	add := func(ch channels.Channel, decisions ...string) {
		for _, d := range decisions {
			out[d] = append(out[d], ch)
		}
	}
	if c.email != nil {
		add(c.email, "review", "decline")
	}
	if c.slack != nil {
		add(c.slack, "review", "decline")
	}
	if c.pagerduty != nil {
		add(c.pagerduty, "decline")
		if c.reviewToPagerDuty {
			add(c.pagerduty, "review")
		}
	}
	return out
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
	// Fraud owns the alerts topic.
	client, err := consumer.Join(ctx, cfg.kafka, cfg.group, cfg.deadLetter, []string{cfg.topic}, log)
	if err != nil {
		return err
	}
	defer client.Close()
	reg := httpserver.NewRegistry()
	d := dispatch.New(dispatch.Config{Channels: cfg.routes(), Retry: cfg.retry, Window: cfg.window, DeadLetter: cfg.deadLetter,
		Producer: client, Registry: reg, Log: log})
	lag := consumer.NewLag(reg, catalog.Notifications, cfg.group)
	consumeCtx, stopConsuming := context.WithCancel(context.Background())
	consumed := make(chan struct{})
	go func() { consumer.Run(consumeCtx, client, consumer.EachRecord(d.Handle), lag, log); close(consumed) }()

	httpMetrics := telemetry.NewHTTP(reg, catalog.Notifications).WithAccessLog(log)
	// No API of its own: probes and metrics. Ready while a broker answers.
	health := httpserver.NewHealth(func(ctx context.Context) error { return client.Ping(ctx) })
	err = httpserver.Run(ctx, httpserver.Config{
		Standard: cfg.std, Handler: http.NotFoundHandler(), Registry: reg, Health: health, HTTP: httpMetrics, Log: log,
		Listening: httpserver.Announce(listening),
	})
	// An alert being delivered when the stop came is not committed: the
	// next member delivers it again (at least once).
	stopConsuming()
	<-consumed
	log.Info("stopped")
	return err
}
