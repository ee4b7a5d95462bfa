// Package kafkaclient connects a service to Kafka as the platform runs it:
// plain TCP in dev, and in staging and prod Amazon MSK over TLS with IAM
// authentication (the pod's IRSA role; no password anywhere). Services
// create the topics they own at start, since MSK has automatic topic
// creation off, with the partitions and replication the stack gives them.
package kafkaclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/aws"

	"github.com/intelliflow/platform/internal/envconfig"
)

// Config is where Kafka is and how topics are made.
type Config struct {
	Brokers []string
	// IAM authenticates with the pod's AWS role over TLS (MSK).
	IAM bool
	// TLS without IAM, for a self-managed cluster.
	TLS         bool
	Partitions  int32
	Replication int16
}

// Read reads KAFKA_BROKERS (host:port, comma-separated),
// KAFKA_SASL_MECHANISM ("" or AWS_MSK_IAM), KAFKA_TLS,
// KAFKA_TOPIC_PARTITIONS and KAFKA_TOPIC_REPLICATION.
func Read(r *envconfig.Reader) Config {
	c := readKeys(r)
	r.Require("KAFKA_BROKERS")
	if len(c.Brokers) == 0 {
		r.Fail(errors.New("KAFKA_BROKERS: required (host:port, comma-separated)"))
	}
	return c
}

// ReadOptional reads the same keys for a service that runs on without
// Kafka; ok says whether KAFKA_BROKERS is set.
func ReadOptional(r *envconfig.Reader) (c Config, ok bool) {
	c = readKeys(r)
	return c, len(c.Brokers) > 0
}

func readKeys(r *envconfig.Reader) Config {
	c := Config{Brokers: r.List("KAFKA_BROKERS", "")}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			r.Fail(fmt.Errorf("KAFKA_BROKERS: %q is not host:port", b))
		}
	}
	switch m := r.String("KAFKA_SASL_MECHANISM", ""); m {
	case "":
	case "AWS_MSK_IAM":
		c.IAM = true
	default:
		r.Fail(fmt.Errorf("KAFKA_SASL_MECHANISM: %q; the platform uses AWS_MSK_IAM or nothing", m))
	}
	c.TLS = r.Bool("KAFKA_TLS", false) || c.IAM
	c.Partitions = int32(r.Int("KAFKA_TOPIC_PARTITIONS", 6, 1, 1000))
	c.Replication = int16(r.Int("KAFKA_TOPIC_REPLICATION", 3, 1, 5))
	return c
}

// Client connects with c, plus the caller's options (a producer's acks, a
// consumer's group).
func (c Config) Client(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.DialTimeout(5 * time.Second)}
	if c.TLS {
		base = append(base, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if c.IAM {
		mechanism, err := iam(ctx)
		if err != nil {
			return nil, err
		}
		base = append(base, kgo.SASL(mechanism))
	}
	return kgo.NewClient(append(base, opts...)...)
}

// iam signs with the credentials the AWS SDK finds: in a pod, IRSA's web
// identity token, refreshed as it rotates.
func iam(ctx context.Context) (sasl.Mechanism, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka IAM: %w", err)
	}
	return aws.ManagedStreamingIAM(func(ctx context.Context) (aws.Auth, error) {
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return aws.Auth{}, err
		}
		return aws.Auth{AccessKey: creds.AccessKeyID, SecretKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}, nil
	}), nil
}

// EnsureTopics creates the topics a service owns that do not exist yet, with
// c's partitions and replication; existing topics are left as they are.
func EnsureTopics(ctx context.Context, cl *kgo.Client, c Config, topics ...string) error {
	res, err := kadm.NewClient(cl).CreateTopics(ctx, c.Partitions, c.Replication, map[string]*string{
		"min.insync.replicas": ptr(fmt.Sprint(min(2, int(c.Replication)))),
	}, topics...)
	if err != nil {
		return fmt.Errorf("create topics %s: %w", strings.Join(topics, ", "), err)
	}
	var errs []error
	for _, t := range res.Sorted() {
		if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", t.Topic, t.Err))
		}
	}
	return errors.Join(errs...)
}

func ptr[T any](v T) *T { return &v }
