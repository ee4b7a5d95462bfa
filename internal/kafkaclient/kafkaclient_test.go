package kafkaclient

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/intelliflow/platform/internal/envconfig"
)

func read(env map[string]string) (Config, error) {
	r := envconfig.New(func(k string) string { return env[k] })
	c := Read(r)
	return c, r.Err()
}

func TestReadRefusesBadSettings(t *testing.T) {
	_, err := read(map[string]string{"KAFKA_BROKERS": "b-1:9098,broker", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_TOPIC_REPLICATION": "7"})
	require.ErrorContains(t, err, `KAFKA_BROKERS: "broker" is not host:port`)
	require.ErrorContains(t, err, `KAFKA_SASL_MECHANISM: "PLAIN"`)
	require.ErrorContains(t, err, `KAFKA_TOPIC_REPLICATION: "7"`)
	_, err = read(nil)
	require.ErrorContains(t, err, "KAFKA_BROKERS: required")
	c, err := read(map[string]string{"KAFKA_BROKERS": "b-1:9098", "KAFKA_SASL_MECHANISM": "AWS_MSK_IAM"})
	require.NoError(t, err)
	require.True(t, c.IAM && c.TLS, "MSK IAM is always over TLS")
}

// TestEnsureTopicsWithAutoCreateOff: on a cluster that, like MSK, creates
// no topic by itself, the service's topics appear with its partitions;
// a second start leaves them as they are.
func TestEnsureTopicsWithAutoCreateOff(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer cluster.Close()
	c := Config{Brokers: cluster.ListenAddrs(), Partitions: 3, Replication: 1}
	ctx := context.Background()
	cl, err := c.Client(ctx)
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, EnsureTopics(ctx, cl, c, "transactions.events"))
	require.NoError(t, EnsureTopics(ctx, cl, c, "transactions.events"), "idempotent")
	details, err := kadm.NewClient(cl).ListTopics(ctx, "transactions.events")
	require.NoError(t, err)
	require.Len(t, details["transactions.events"].Partitions, 3)
}
