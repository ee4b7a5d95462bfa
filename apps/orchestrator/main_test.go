package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/orchestrator/internal/promote"
	"github.com/intelliflow/platform/apps/orchestrator/internal/quality"
	"github.com/intelliflow/platform/apps/orchestrator/internal/retrain"
	"github.com/intelliflow/platform/apps/orchestrator/labels"
	"github.com/intelliflow/platform/apps/orchestrator/mlflowtest"
	"github.com/intelliflow/platform/apps/transactions/events"
	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
	"github.com/intelliflow/platform/internal/golden"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/proctest"
	"github.com/intelliflow/platform/internal/s3test"
	"github.com/intelliflow/platform/internal/servicetest"
)

const (
	orchestratorSA = "system:serviceaccount:intelliflow-dev:orchestrator"
	analyticsSA    = "system:serviceaccount:intelliflow-dev:analytics"
)

func committed(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "fraud", "model", name))
	require.NoError(t, err)
	return b
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// bucket is the model bucket, in-process.
type bucket struct{ *s3test.Bucket }

// candidate uploads a training run's model folder; it returns its source.
func (b bucket) candidate(t *testing.T, run string, model []byte) string {
	t.Helper()
	b.Put(t, "mlflow/"+run+"/artifacts/model/model.json", model)
	b.Put(t, "mlflow/"+run+"/artifacts/model/reference.json", committed(t, "reference.json"))
	b.Put(t, "mlflow/"+run+"/artifacts/model/metrics.json", committed(t, "metrics.json"))
	return "s3://models/mlflow/" + run + "/artifacts/model"
}

// served lists the versions in the serving path.
func (b bucket) served(t *testing.T) []string { return b.Versions(t, "fraud/serving/") }

// serving is the version a fraud server answers it serves.
func serving(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/v2/models/fraud")
	require.NoError(t, err)
	defer resp.Body.Close()
	var meta struct{ Versions []string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&meta))
	require.Len(t, meta.Versions, 1)
	return meta.Versions[0]
}

func call(t *testing.T, method, url, role string) (int, promote.Result) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if role != "" {
		req.Header.Set(identity.SubjectHeader, "ops")
		req.Header.Set(identity.RoleHeader, role)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var res promote.Result
	_ = json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res
}

// TestPromotionsReachEveryServerOrNone drives the orchestrator against
// the registry's REST contract (mlflowtest), an S3 bucket and three real
// fraud server binaries that check its ServiceAccount token with a real
// API server: a good version reaches every server one at a time; a
// corrupt, a mismatched, a wrong-feature and a below-floor version are
// never published and no server reloads; a server that refuses stops the
// roll there.
func TestPromotionsReachEveryServerOrNone(t *testing.T) {
	cluster, _, kube := devclustertest.Start(t, 1, 0)
	token := devclustertest.Token(t, kube, "intelliflow-dev", "orchestrator", "intelliflow-fraud")
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token), 0o600))

	models := bucket{s3test.Start(t, "models")}

	// Three fraud servers on the stack's model; the third trusts another
	// identity, so it refuses the orchestrator.
	bins := proctest.Build(t, proctest.Race, "github.com/intelliflow/platform/apps/fraud")
	fraud := func(caller string) *proctest.Process {
		dir := filepath.Join(t.TempDir(), "2026-11-01")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, f := range []string{"model.json", "reference.json", "metrics.json"} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, f), committed(t, f), 0o644))
		}
		return proctest.Start(t, 2, "/v2/models/fraud", `"name":"fraud"`, func(ports []int) *exec.Cmd {
			cmd := exec.Command(bins["github.com/intelliflow/platform/apps/fraud"])
			cmd.Env = proctest.Env(map[string]string{
				"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": strconv.Itoa(ports[0]), "METRICS_PORT": strconv.Itoa(ports[1]),
				"MODEL_DIR": filepath.Dir(dir), "MODEL_RELOAD_INTERVAL": "1h", "MODEL_SOURCE": "s3://models/fraud/serving",
				"S3_ENDPOINT": models.Endpoint, "RELOAD_CALLERS": caller, "KUBECONFIG": cluster.Kubeconfig,
			})
			return cmd
		})
	}
	a, b, refusing := fraud(orchestratorSA), fraud(orchestratorSA), fraud(analyticsSA)

	registry := mlflowtest.Start("dev-only-mlflow-token")
	t.Cleanup(registry.Close)
	orchestrator := func(instances ...*proctest.Process) servicetest.Service {
		var urls []string
		for _, p := range instances {
			urls = append(urls, p.URL)
		}
		return servicetest.Start(t, "orchestrator", run, map[string]string{
			"MLFLOW_URL": registry.URL, "MLFLOW_TOKEN": registry.Token, "SERVING_PATH": "s3://models/fraud/serving",
			"S3_ENDPOINT": models.Endpoint, "FRAUD_INSTANCES": strings.Join(urls, ","), "RELOAD_TOKEN_FILE": tokenFile,
			"POLL_REGISTRY": "false", "WORK_DIR": t.TempDir(),
		})
	}
	svc := orchestrator(a, b)
	promotions := svc.API + "/v1/models/fraud/promotions"

	// Nothing to promote yet; only admins may ask.
	code, _ := call(t, http.MethodPost, promotions, identity.RoleCustomer)
	require.Equal(t, http.StatusForbidden, code)
	code, res := call(t, http.MethodPost, promotions, identity.RoleAdmin)
	require.Equal(t, http.StatusBadGateway, code, res)
	require.Contains(t, res.Reason, "RESOURCE_DOES_NOT_EXIST")

	// A good version reaches both servers.
	good := committed(t, "model.json")
	registry.AddVersion("fraud", "1", models.candidate(t, "run-1", good), "run-1", map[string]string{"sha256": sum(good)}, map[string]float64{"pr_auc": 0.31})
	registry.SetAlias("fraud", "production", "1")
	code, res = call(t, http.MethodPost, promotions, identity.RoleAdmin)
	require.Equal(t, http.StatusOK, code, res)
	require.Equal(t, promote.Promoted, res.Outcome, res.Reason)
	first := res.ServingVersion
	require.Regexp(t, `^\d{8}T\d{6}Z-v1$`, first)
	require.Len(t, res.Reloads, 2)
	require.Equal(t, first, serving(t, a.URL))
	require.Equal(t, first, serving(t, b.URL))
	require.Equal(t, first, registry.Tag("fraud", "1", promote.ServingTag), "the registry records it")
	code, res = call(t, http.MethodPost, promotions, identity.RoleAdmin)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, promote.Current, res.Outcome, "asked again, nothing reloads")
	require.Empty(t, res.Reloads)

	// Versions that fail a check: never published, no server reloads.
	corrupt := good[:len(good)/2]
	wrongFeatures := bytes.Replace(good, []byte(`"num_feature":"12"`), []byte(`"num_feature":"13"`), -1)
	for _, bad := range []struct {
		version string
		model   []byte
		sha     string
		pr      float64
		want    string
	}{
		{"2", corrupt, sum(good), 0.31, "checksum mismatch"},
		{"3", corrupt, sum(corrupt), 0.31, "does not validate"},
		{"4", wrongFeatures, sum(wrongFeatures), 0.31, "model takes 13 features, the server computes 12"},
		{"5", good, sum(good), 0.12, "pr_auc 0.1200 is below the promotion floor 0.3000"},
		{"6", good, "not-a-sha", 0.31, "tag sha256"},
	} {
		registry.AddVersion("fraud", bad.version, models.candidate(t, "run-"+bad.version, bad.model), "run-"+bad.version,
			map[string]string{"sha256": bad.sha}, map[string]float64{"pr_auc": bad.pr})
		registry.SetAlias("fraud", "production", bad.version)
		code, res = call(t, http.MethodPost, promotions, identity.RoleAdmin)
		require.Equal(t, http.StatusUnprocessableEntity, code, "version %s: %+v", bad.version, res)
		require.Equal(t, promote.Rejected, res.Outcome)
		require.Contains(t, res.Reason, bad.want)
		require.Equal(t, []string{first}, models.served(t), "version %s was not published", bad.version)
		require.Equal(t, first, serving(t, a.URL))
		require.Equal(t, first, serving(t, b.URL))
	}

	// A server that refuses stops the roll: the one before it moved, the
	// one after it was not asked.
	require.NoError(t, svc.Stop())
	svc = orchestrator(a, refusing, b)
	registry.AddVersion("fraud", "7", models.candidate(t, "run-7", good), "run-7", map[string]string{"sha256": sum(good)}, map[string]float64{"pr_auc": 0.33})
	registry.SetAlias("fraud", "production", "7")
	code, res = call(t, http.MethodPost, svc.API+"/v1/models/fraud/promotions", identity.RoleAdmin)
	require.Equal(t, http.StatusBadGateway, code, res)
	require.Equal(t, promote.Failed, res.Outcome)
	require.Len(t, res.Reloads, 2)
	require.Equal(t, http.StatusForbidden, res.Reloads[1].Status, res.Reloads)
	require.Equal(t, res.ServingVersion, serving(t, a.URL))
	require.Equal(t, "2026-11-01", serving(t, refusing.URL))
	require.Equal(t, first, serving(t, b.URL), "not asked after the refusal")
	require.Empty(t, registry.Tag("fraud", "7", promote.ServingTag), "not recorded as served")
}

// TestLiveQualityFromTheTopics: fraud's decisions on transactions.events
// joined to chargebacks on fraud-labels and an analyst's review give the
// hand-computed figures of quality's fixture: TP 2 (t1, t6), FP 1 (t2,
// approved on review), TN 2 (t4, t5), FN 1 (t3, a chargeback under the
// threshold); t7 has no label. Accuracy 4/6, precision and recall 2/3.
func TestLiveQualityFromTheTopics(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "transactions.events", labels.Topic))
	require.NoError(t, err)
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	require.NoError(t, err)
	defer producer.Close()
	now := time.Now().UTC()
	var recs []*kgo.Record
	txEvent := func(id, typ, status string, score float64) *kgo.Record {
		b, _ := json.Marshal(events.Event{EventID: id + typ, Version: events.SchemaVersion, Type: typ, OccurredAt: now,
			Transaction: events.Transaction{ID: id, Kind: events.Payment, Status: status, Currency: "EUR", Fraud: events.Fraud{Checked: true, Score: &score}}})
		return &kgo.Record{Topic: "transactions.events", Key: []byte(id), Value: b}
	}
	label := func(id string, fraud bool) *kgo.Record {
		b, _ := json.Marshal(labels.Label{EventID: "l-" + id, Version: labels.SchemaVersion, TransactionID: id, Fraud: fraud, Source: labels.Chargeback, OccurredAt: now})
		return &kgo.Record{Topic: labels.Topic, Key: []byte(id), Value: b}
	}
	for id, score := range map[string]float64{"t1": 0.9, "t2": 0.7, "t3": 0.2, "t4": 0.1, "t5": 0.05, "t6": 0.95, "t7": 0.3} {
		recs = append(recs, txEvent(id, events.Created, events.Approved, score))
	}
	recs = append(recs, txEvent("t2", events.Reviewed, events.Approved, 0.7), label("t1", true), label("t3", true), label("t4", false),
		label("t5", false), label("t6", true), &kgo.Record{Topic: labels.Topic, Value: []byte("{not json")})
	require.NoError(t, producer.ProduceSync(context.Background(), recs...).FirstErr())

	registry := mlflowtest.Start("dev-only-mlflow-token")
	defer registry.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "eu-west-1")
	svc := servicetest.Start(t, "orchestrator", run, map[string]string{
		"MLFLOW_URL": registry.URL, "MLFLOW_TOKEN": registry.Token, "SERVING_PATH": "s3://models/fraud/serving",
		"FRAUD_INSTANCES": "http://127.0.0.1:9", "POLL_REGISTRY": "false", "QUALITY_INTERVAL": "100ms",
		"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "KAFKA_TOPIC_REPLICATION": "1",
	})
	want := map[string]string{
		`model_accuracy_score{metric="accuracy",model="fraud",source="live"} 0.6666666666666666`:  "",
		`model_accuracy_score{metric="precision",model="fraud",source="live"} 0.6666666666666666`: "",
		`model_accuracy_score{metric="recall",model="fraud",source="live"} 0.6666666666666666`:    "",
		`model_labelled_decisions{model="fraud"} 6`:                                               "",
	}
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get(svc.Metrics + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		for line := range want {
			if !strings.Contains(body, line) {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "figures not reached")
}

func TestConfigErrors(t *testing.T) {
	err := run(context.Background(), func(k string) string {
		return map[string]string{"MLFLOW_URL": "mlflow:5000", "SERVING_PATH": "/models", "PROMOTION_FLOOR": "2", "FRAUD_INSTANCES": "fraud",
			"TRAINING_IMAGE": "trainer:latest", "TRAINING_DATA": "s3://data/"}[k]
	}, nil, nil)
	require.Error(t, err)
	for _, want := range []string{"MLFLOW_URL", "SERVING_PATH", "PROMOTION_FLOOR", "FRAUD_INSTANCES", "TRAINING_IMAGE", "retraining runs Jobs in a cluster"} {
		require.ErrorContains(t, err, want)
	}
	err = run(context.Background(), func(string) string { return "" }, nil, nil)
	require.ErrorContains(t, err, "MLFLOW_URL")
	require.ErrorContains(t, err, "SERVING_PATH")
}

// TestMetricsMatchTheCatalog: the service exports what its catalog entry
// names.
func TestMetricsMatchTheCatalog(t *testing.T) {
	reg := prometheus.NewRegistry()
	promote.New(promote.Config{Metrics: reg})
	quality.NewMetrics(reg, "fraud").Set(quality.Stats{Labelled: 1, Accuracy: 1, Precision: 1, Recall: 1, PSI: 0})
	retrain.NewMetrics(reg)
	servicetest.RequireCatalogMetrics(t, reg, catalog.Orchestrator)
}

// TestEnvContract pins what the service reads (go test -update refreshes
// it); infra's tests hold every stack's wiring to it.
func TestEnvContract(t *testing.T) {
	cfg, _ := readConfig(func(string) string { return "" })
	golden.RequireJSON(t, "env.golden", cfg.env.Contract())
}
