package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/localplatform"
	"github.com/intelliflow/platform/stacks"
)

// TestStoresFor: the stores command serves only a dev stack whose stores
// all name one IP address and which says where the CA goes; its ports are
// the stack's.
func TestStoresFor(t *testing.T) {
	root, getenv := engineRoot(t)
	cfg, _, err := loadStack(options{root: repoDir(t), stack: "realnode"}, getenv)
	require.NoError(t, err)
	addr, ports, err := storesFor(cfg)
	require.NoError(t, err)
	require.Equal(t, "10.88.0.1", addr)
	require.Equal(t, map[catalog.Store]int{catalog.Postgres: 5432, catalog.Redis: 6379, catalog.Kafka: 9092, catalog.MongoDB: 27017,
		catalog.S3: 9000, catalog.SMTP: 587, catalog.MLflow: 5000}, ports)

	bad := func(edit func(*stacks.Config)) error {
		c := cfg
		c.DataStores = map[catalog.Store]stacks.Endpoint{}
		for k, v := range cfg.DataStores {
			c.DataStores[k] = v
		}
		edit(&c)
		_, _, err := storesFor(c)
		return err
	}
	require.ErrorContains(t, bad(func(c *stacks.Config) { c.Environment = stacks.Staging }),
		"realnode is a staging stack; only a dev stack's stores run on this machine")
	require.ErrorContains(t, bad(func(c *stacks.Config) { c.TrustedCAFile = "" }), "has no intelliflow:trustedCAFile")
	require.ErrorContains(t, bad(func(c *stacks.Config) {
		e := c.DataStores[catalog.Redis]
		e.Host = "10.88.0.2"
		c.DataStores[catalog.Redis] = e
	}), `intelliflow:dataStores.redis.host is "10.88.0.2"; every store must name the same IP address`)
	require.ErrorContains(t, bad(func(c *stacks.Config) {
		e := c.DataStores[catalog.Kafka]
		e.Host = "kafka.dev.intelliflow.internal"
		c.DataStores[catalog.Kafka] = e
	}), `dataStores.kafka.host is "kafka.dev.intelliflow.internal"`)

	// The stores refuse what they cannot serve before starting anything.
	start := func(o localplatform.StoresOptions) error {
		o.Root, o.Dir, o.CAFile = repoDir(t), t.TempDir(), root+"/ca.pem"
		_, err := localplatform.StartStores(context.Background(), o)
		return err
	}
	creds := cfg.Credentials
	require.ErrorContains(t, start(localplatform.StoresOptions{Address: "gateway", ModelURI: cfg.FraudModel.URI, Credentials: creds}), `stores: "gateway" is not an IP address`)
	require.ErrorContains(t, start(localplatform.StoresOptions{Address: "192.0.2.7", ModelURI: cfg.FraudModel.URI, Credentials: creds}), "stores: 192.0.2.7 is no address of this machine")
	require.ErrorContains(t, start(localplatform.StoresOptions{Address: "127.0.0.1", ModelURI: "s3://models/fraud", Credentials: creds}), `the fraud model "s3://models/fraud" is not`)
	require.ErrorContains(t, start(localplatform.StoresOptions{Address: "127.0.0.1", ModelURI: cfg.FraudModel.URI, Credentials: map[string]string{"redis-password": "x"}}),
		"the stack's credentials lack database-password, mongodb-password, mlflow-token")
}
