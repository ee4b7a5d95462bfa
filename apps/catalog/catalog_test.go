package catalog

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCatalogIsConsistent(t *testing.T) {
	require.NoError(t, Validate())
	require.Equal(t, []string{Analytics, Fraud, Gateway, Notifications, Orchestrator, Transactions, Users}, Names())
}

func TestSeedTopology(t *testing.T) {
	// The seed's architecture: the gateway reaches all six services.
	gw, err := Get(Gateway)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{Users, Transactions, Fraud, Analytics, Notifications, Orchestrator}, gw.Calls)
	require.True(t, gw.Public)

	stores := map[string][]Store{
		Gateway: {Redis}, Users: {Postgres, Redis}, Transactions: {Postgres, Kafka},
		// Fraud keeps card history in Redis and reads no table: the stores
		// are what its code uses (TestServicesGetWhatTheyRead in infra).
		Fraud: {Redis, Kafka, S3}, Analytics: {MongoDB, Kafka},
		Notifications: {Kafka, SMTP}, Orchestrator: {MLflow, S3, Kafka},
	}
	for name, want := range stores {
		s, err := Get(name)
		require.NoError(t, err)
		require.ElementsMatch(t, want, s.Stores, name)
	}
	require.Equal(t, []string{Gateway, Orchestrator, Transactions}, CallersOf(Fraud))
	require.Equal(t, []string{Gateway}, CallersOf(Users))
	require.Empty(t, CallersOf(Gateway))

	fraud, _ := Get(Fraud)
	require.True(t, fraud.GPU && fraud.ModelArtifact && fraud.SlowStart)
	tx, _ := Get(Transactions)
	require.Equal(t, "transaction_processing_rate", tx.ScalingMetric)
}

func TestGetUnknown(t *testing.T) {
	_, err := Get("ledger")
	require.ErrorContains(t, err, `unknown service "ledger"`)
}
