package main

import (
	"crypto/sha256"
	"encoding/hex"

	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/intelliflow/platform/apps/fraud/alerts"
	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/internal/server"
	"github.com/intelliflow/platform/components/logging"
	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
	"github.com/intelliflow/platform/internal/golden"
	"github.com/intelliflow/platform/internal/redistest"
	"github.com/intelliflow/platform/internal/s3test"
	"github.com/intelliflow/platform/internal/servicetest"
)

// TestMain fails the package when a test leaves a goroutine behind, such as
// a server it never stopped.
func TestMain(m *testing.M) {
	// glog (pulled in by a dependency) starts its flush daemon at init.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"))
}

// modelDir makes a model folder with the committed model as one version.
func modelDir(t testing.TB, version string, dir string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, version), 0o755))
	for _, f := range []string{"model.json", "reference.json", "metrics.json"} {
		b, err := os.ReadFile(filepath.Join("model", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, version, f), b, 0o644))
	}
	return dir
}

type running struct {
	api, metrics string
	logs         *servicetest.Logs
	stop         func() error
}

func start(t testing.TB, env map[string]string) running {
	t.Helper()
	s := servicetest.Start(t, "fraud", run, env)
	return running{api: s.API, metrics: s.Metrics, logs: s.Logs, stop: s.Stop}
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// orchestrator is the only identity the stacks let reload models.
const orchestrator = "system:serviceaccount:intelliflow-dev:orchestrator"

// reloadAuth starts a control plane and returns the environment that has
// fraud check reload callers against it, with tokens for fraud's audience
// of the orchestrator's ServiceAccount and of another one.
func reloadAuth(t *testing.T) (env map[string]string, orchestratorToken, otherToken string) {
	t.Helper()
	c, _, client := devclustertest.Start(t, 1, 0)
	return map[string]string{"KUBECONFIG": c.Kubeconfig, "RELOAD_CALLERS": orchestrator},
		devclustertest.Token(t, client, "intelliflow-dev", "orchestrator", "intelliflow-fraud"),
		devclustertest.Token(t, client, "intelliflow-dev", "analytics", "intelliflow-fraud")
}

// serving is a model bucket's serving path, in-process.
type serving struct{ *s3test.Bucket }

func servingPath(t *testing.T) serving { return serving{s3test.Start(t, "models")} }

// put publishes version with model as its model.json and the committed
// reference predictions and metrics.
func (s serving) put(t *testing.T, version string, model []byte) {
	t.Helper()
	s.Put(t, "fraud/serving/"+version+"/model.json", model)
	for _, name := range []string{"reference.json", "metrics.json"} {
		b, err := os.ReadFile(filepath.Join("model", name))
		require.NoError(t, err)
		s.Put(t, "fraud/serving/"+version+"/"+name, b)
	}
}

func sha(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// reloadBody calls /admin/reload with token and a JSON body.
func reloadBody(t *testing.T, api, token, body string) (int, map[string]any) {
	t.Helper()
	return postReload(t, api, token, body)
}

// reload calls /admin/reload with token ("" for none) and no body.
func reload(t *testing.T, api, token string, header ...string) (int, map[string]any) {
	t.Helper()
	return postReload(t, api, token, "", header...)
}

func postReload(t *testing.T, api, token, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, api+"/admin/reload", strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestServerEndToEnd(t *testing.T) {
	redisAddr, stopRedis := redistest.Start(t)
	dir := modelDir(t, "2026-11-01", "")
	env, token, other := reloadAuth(t)
	env["MODEL_DIR"], env["REDIS_ADDR"], env["FEATURE_TIMEOUT"] = dir, redisAddr, "50ms"
	bucket := servingPath(t)
	env["MODEL_SOURCE"], env["S3_ENDPOINT"] = "s3://models/fraud/serving", bucket.Endpoint
	srv := start(t, env)

	code, body := get(t, srv.api+"/v2/health/ready")
	require.Equal(t, 200, code, body)
	code, _ = get(t, srv.api+"/livez")
	require.Equal(t, 200, code)

	// A card builds history; the first payment is scored with full features.
	for i := 0; i < 5; i++ {
		code, out := post(t, srv.api+"/v1/score", fmt.Sprintf(`{"transaction_id":"t%d","card_id":"c1","amount":%d,"merchant_id":"m1","timestamp":"2026-03-01T12:%02d:00Z","location":{"x":1,"y":2}}`, i, 20+i, i))
		require.Equal(t, 200, code, out)
		require.Equal(t, false, out["degraded"], out)
		require.Contains(t, []any{"approve", "review", "decline"}, out["decision"])
		require.Equal(t, "2026-11-01", out["model"].(map[string]any)["version"])
	}
	// History updates are written off the request path: wait for them, as a
	// card's next real payment would come long after.
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	require.Eventually(t, func() bool {
		n, _ := rdb.HGet(context.Background(), "{card:c1}:profile", "n").Result()
		return n == "5"
	}, 5*time.Second, 10*time.Millisecond)
	code, out := post(t, srv.api+"/v1/score", `{"card_id":"c1","amount":950,"merchant_id":"m9","timestamp":"2026-03-01T12:10:00Z"}`)
	require.Equal(t, 200, code, out)
	require.NotEqual(t, "approve", out["decision"], "a 950 payment on a card that pays 20 is not approved: %v", out)
	require.Greater(t, out["score"], 0.5)
	reasons := out["reasons"].([]any)
	require.NotEmpty(t, reasons)
	require.Contains(t, []any{"amount", "amount_zscore"}, reasons[0].(map[string]any)["feature"], "the amount explains it")

	// Open Inference Protocol.
	code, body = get(t, srv.api+"/v2/models/fraud")
	require.Equal(t, 200, code)
	require.Contains(t, body, `"platform":"xgboost"`)
	row := make([]string, features.Count)
	for i := range row {
		row[i] = "null"
	}
	row[features.Amount], row[features.HourOfDay] = "950", "3"
	code, out = post(t, srv.api+"/v2/models/fraud/infer", `{"inputs":[{"name":"features","shape":[2,12],"datatype":"FP64","data":[`+strings.Join(row, ",")+","+strings.Join(row, ",")+`]}]}`)
	require.Equal(t, 200, code, out)
	probs := out["outputs"].([]any)[0].(map[string]any)["data"].([]any)
	require.Len(t, probs, 2)
	require.Greater(t, probs[0].(float64), 0.5)

	// Bad input: a clear 4xx, never a crash.
	for _, bad := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/v1/score", `{"card_id": "c1", "amount": `, 400, "malformed JSON"},
		{"/v1/score", `{"card_id": "c1", "amount": 5, "surprise": 1}`, 400, `unknown field "surprise"`},
		{"/v1/score", `{"card_id": "", "amount": -5}`, 422, "card_id: required"},
		{"/v1/score", `{"card_id": "c1", "amount": 1e300}`, 422, "amount: 1e+300"},
		{"/v1/score", `{"card_id": "c1", "amount": "NaN"}`, 400, "malformed JSON"},
		{"/v1/score", `{"card_id": "c1", "amount": 5, "currency": "EURO"}`, 422, "currency"},
		{"/v1/score", `{"card_id": "c1", "amount": 5}{"again": 1}`, 400, "more than one value"},
		{"/v1/score", `{"card_id": "c1", "amount": 5, "merchant_id": "` + strings.Repeat("m", 2<<20) + `"}`, 413, "body larger than"},
		{"/v2/models/other/infer", `{}`, 404, `unknown model "other"`},
		{"/v2/models/fraud/infer", `{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}`, 400, "want [N, 12]"},
		{"/v2/models/fraud/infer", `{"inputs":[{"name":"features","shape":[1,12],"datatype":"BYTES","data":[]}]}`, 400, `datatype "BYTES"`},
		{"/v2/models/fraud/infer", `{"inputs":[]}`, 400, `exactly one input named "features"`},
	} {
		code, out := post(t, srv.api+bad.path, bad.body)
		require.Equal(t, bad.code, code, "%s %.80s: %v", bad.path, bad.body, out)
		require.Contains(t, fmt.Sprint(out["error"]), bad.want, bad.body[:min(len(bad.body), 80)])
	}

	// Redis stops: requests still score, marked degraded, within the deadline.
	stopRedis()
	startAt := time.Now()
	code, out = post(t, srv.api+"/v1/score", `{"card_id":"c1","amount":25,"merchant_id":"m1"}`)
	require.Equal(t, 200, code, out)
	require.Equal(t, true, out["degraded"])
	require.Less(t, time.Since(startAt), 2*time.Second)

	// Hot reload, for the orchestrator only: a new version is served; a
	// broken one is refused.
	modelDir(t, "2026-11-20", dir)
	code, out = reload(t, srv.api, "")
	require.Equal(t, http.StatusUnauthorized, code, "anonymous: %v", out)
	code, out = reload(t, srv.api, other)
	require.Equal(t, http.StatusForbidden, code, "another workload: %v", out)
	code, out = reload(t, srv.api, "forged.token.value", "X-Forwarded-User", orchestrator)
	require.Equal(t, http.StatusUnauthorized, code, "a header claiming to be the orchestrator: %v", out)
	code, out = reload(t, srv.api, token)
	require.Equal(t, 200, code, out)
	require.Equal(t, "2026-11-20", out["serving"])
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "2026-12-01"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "2026-12-01", "model.json"), []byte(`{"learner":`), 0o644))
	code, out = reload(t, srv.api, token)
	require.Equal(t, 409, code)
	require.Equal(t, "2026-11-20", out["serving"], "the old model keeps serving")

	// A reload that names a promoted version fetches it from the serving
	// path first; one whose checksum is not the named one is refused and
	// leaves nothing behind.
	model, _ := os.ReadFile(filepath.Join("model", "model.json"))
	bucket.put(t, "2026-12-02", model)
	bucket.put(t, "2026-12-03", model[:len(model)/2])
	code, out = reloadBody(t, srv.api, token, `{"version":"2026-12-02","sha256":"`+sha(model)+`"}`)
	require.Equal(t, 200, code, out)
	require.Equal(t, "2026-12-02", out["serving"])
	code, out = reloadBody(t, srv.api, token, `{"version":"2026-12-03","sha256":"`+sha(model)+`"}`)
	require.Equal(t, 409, code, out)
	require.Contains(t, out["error"], "checksum mismatch")
	require.Equal(t, "2026-12-02", out["serving"])
	require.NoDirExists(t, filepath.Join(dir, "2026-12-03"))
	code, out = reloadBody(t, srv.api, token, `{"version":"../etc","sha256":"`+sha(model)+`"}`)
	require.Equal(t, 400, code, out)
	code, out = reloadBody(t, srv.api, other, `{"version":"2026-12-02","sha256":"`+sha(model)+`"}`)
	require.Equal(t, http.StatusForbidden, code, "another workload cannot make it fetch either: %v", out)

	code, body = get(t, srv.metrics+"/metrics")
	require.Equal(t, 200, code)
	for _, m := range []string{"fraud_prediction_duration_seconds_bucket", `fraud_decisions_total{decision="approve"}`, "fraud_degraded_predictions_total 1", "fraud_rejected_requests_total", `http_requests_total{code="200",method="post",route="/v1/score",service="fraud"}`, `fraud_score_count{version="2026-11-01"} 7`, `http_request_duration_seconds_bucket{method="post",route="/v1/score",service="fraud",le="0.1"}`, `fraud_model_info{kind="xgboost",model="fraud",version="2026-12-02"} 1`, `model_accuracy_score{metric="pr_auc",model="fraud",version="2026-12-02"} 0.3106`} {
		require.True(t, strings.Contains(body, m), m)
	}
	require.Contains(t, srv.logs.String(), `"msg":"prediction"`)
	require.Contains(t, srv.logs.String(), `"score":`)

	require.NoError(t, srv.stop())
	require.Contains(t, srv.logs.String(), `"msg":"stopped"`)
}

// TestServerWithTLSRedis: against a Redis that, like ElastiCache with
// transit encryption, accepts only TLS clients with the AUTH token, the
// server builds card history; without TLS or with the wrong token it still
// scores, marked degraded.
func TestServerWithTLSRedis(t *testing.T) {
	r := redistest.StartTLS(t, "a-valid-auth-token-1")
	dir := modelDir(t, "2026-11-01", "")
	score := func(env map[string]string) map[string]any {
		env["MODEL_DIR"], env["REDIS_ADDR"], env["FEATURE_TIMEOUT"] = dir, r.Addr, "200ms"
		srv := start(t, env) // stopped at cleanup; TestMain's leak check holds it to that
		code, out := post(t, srv.api+"/v1/score", `{"transaction_id":"t1","card_id":"c1","amount":20,"merchant_id":"m1","timestamp":"2026-03-01T12:00:00Z","location":{"x":1,"y":2}}`)
		require.Equal(t, 200, code, out)
		return out
	}
	ok := score(map[string]string{"REDIS_TLS": "true", "REDIS_CA_FILE": r.CAFile, "REDIS_PASSWORD": r.Password})
	require.Equal(t, false, ok["degraded"], ok)
	require.Equal(t, true, score(map[string]string{"REDIS_PASSWORD": r.Password})["degraded"], "plain TCP is refused")
	require.Equal(t, true, score(map[string]string{"REDIS_TLS": "true", "REDIS_CA_FILE": r.CAFile, "REDIS_PASSWORD": "wrong-token-123456"})["degraded"])
}

func TestConfigErrors(t *testing.T) {
	env := map[string]string{"HTTP_PORT": "http", "FRAUD_THRESHOLD": "0.3", "REVIEW_THRESHOLD": "0.6", "FEATURE_TIMEOUT": "fast", "LOG_LEVEL": "loud", "REDIS_TLS": "yes"}
	err := run(context.Background(), func(k string) string { return env[k] }, io.Discard, nil)
	for _, want := range []string{`HTTP_PORT: "http" is not a whole number from 0 to 65535`, "REVIEW_THRESHOLD 0.6 must be below FRAUD_THRESHOLD 0.3", `FEATURE_TIMEOUT: "fast"`, "LOG_LEVEL", `REDIS_TLS: "yes" is not true or false`} {
		require.ErrorContains(t, err, want)
	}
	err = run(context.Background(), func(k string) string { return map[string]string{"REDIS_CA_FILE": "/nonexistent/ca.pem"}[k] }, io.Discard, nil)
	require.ErrorContains(t, err, "REDIS_CA_FILE: open /nonexistent/ca.pem")
	require.ErrorContains(t, err, "REDIS_CA_FILE is set but REDIS_TLS is not true")
	err = run(context.Background(), func(k string) string {
		return map[string]string{"HTTP_PORT": "0", "METRICS_PORT": "0", "MODEL_DIR": t.TempDir()}[k]
	}, io.Discard, nil)
	require.ErrorContains(t, err, "has no versions", "no model, no server")
}

// TestMetricsMatchTheCatalog: the fraud server exports every metric the
// catalog promises (the contract monitoring's alerts are checked against),
// and the HTTP metrics every service has.
func TestMetricsMatchTheCatalog(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := server.NewMetrics(reg)
	// Vectors appear once they have a series.
	m.Decisions.WithLabelValues("approve").Inc()
	m.Duration.WithLabelValues("fraud", "v").Observe(0.001)
	m.ModelInfo.WithLabelValues("fraud", "v", "xgboost").Set(1)
	m.Quality.WithLabelValues("fraud", "v", "pr_auc").Set(0.3)
	m.Scores.WithLabelValues("v").Observe(0.2)
	alerts.New(nil, "fraud-alerts", reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	servicetest.RequireCatalogMetrics(t, reg, "fraud")
}

// TestLogsThroughTheLoggingPipeline feeds the fraud server's own log lines
// through the platform's log pipeline (components/logging runs the same
// stages Logstash is configured with): predictions are graded by score,
// the reload is an audit event with who and from where, every request is an
// access line, and nothing is dropped.
func TestLogsThroughTheLoggingPipeline(t *testing.T) {
	dir := modelDir(t, "2026-11-01", "")
	env, token, _ := reloadAuth(t)
	env["MODEL_DIR"] = dir
	srv := start(t, env)
	code, _ := post(t, srv.api+"/v1/score", `{"transaction_id":"t-risky","card_id":"c9","amount":9800,"merchant_id":"m7","timestamp":"2026-03-01T03:00:00Z"}`)
	require.Equal(t, 200, code)
	code, out := reload(t, srv.api, token, "X-Forwarded-For", "203.0.113.9, 10.30.0.5")
	require.Equal(t, 200, code, out)
	require.NoError(t, srv.stop())

	var predictions, audits, access, other int
	for _, line := range strings.Split(strings.TrimSpace(srv.logs.String()), "\n") {
		ev := logging.Apply(line, "fraud")
		require.NotContains(t, ev, "tags", "every line of ours is JSON: %s", line)
		switch ev["_index"] {
		case "intelliflow-predictions":
			predictions++
			require.Equal(t, "t-risky", ev["transaction.id"])
			require.Contains(t, []any{"high", "medium", "low"}, ev["fraud_risk"])
			score := ev["fraud.score"].(float64)
			require.Equal(t, score >= 0.8, ev["fraud_risk"] == "high", "high exactly at 0.8 and above")
		case "intelliflow-audit":
			audits++
			require.Equal(t, orchestrator, ev["user.name"], "the identity the API server vouched for")
			require.Equal(t, "203.0.113.9", ev["source.ip"])
			require.Equal(t, "model.reload", ev["event.action"])
		case "intelliflow-access":
			access++
			require.Contains(t, []any{"/v1/score", "/admin/reload"}, ev["url.path"])
			require.Contains(t, ev, "http.response.status_code")
		default:
			other++
		}
	}
	require.Equal(t, 1, predictions)
	require.Equal(t, 1, audits)
	require.Equal(t, 2, access)
	require.Positive(t, other, "starting, serving, stopped")
}

// TestEnvContract pins what the service reads from its environment to
// testdata/env.golden (go test -update refreshes it); infra's tests hold
// every stack's wiring to it.
func TestEnvContract(t *testing.T) {
	cfg, _ := readConfig(func(string) string { return "" })
	golden.RequireJSON(t, "env.golden", cfg.env.Contract())
}

// TestDecisionsLeaveAsAlerts: every review and decline is on the alerts
// topic (created by fraud at start, keyed by card), approvals are not,
// and the last ones are flushed when the server stops.
func TestDecisionsLeaveAsAlerts(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer cluster.Close()
	dir := modelDir(t, "2026-11-01", "")
	// Review from 0.5 as in every stack; the first payments of a card are
	// ordinary (approve), an outsized one at night from a new merchant is
	// not.
	srv := start(t, map[string]string{"MODEL_DIR": dir, "KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","),
		"KAFKA_TOPIC_REPLICATION": "1", "KAFKA_TOPIC_PARTITIONS": "2", "REVIEW_THRESHOLD": "0.5", "FRAUD_THRESHOLD": "0.85"})
	decisions := map[string]string{}
	for i := range 20 {
		body := fmt.Sprintf(`{"transaction_id":"t%d","card_id":"card-%d","amount":%d,"merchant_id":"m%d","timestamp":"2026-03-01T%02d:10:00Z"}`,
			i, i%4, []int{12, 40, 9000, 25000}[i%4], i%3, []int{12, 14, 3, 4}[i%4])
		code, out := post(t, srv.api+"/v1/score", body)
		require.Equal(t, http.StatusOK, code, "%v", out)
		decisions[fmt.Sprintf("t%d", i)] = out["decision"].(string)
	}
	var flagged []string
	for id, d := range decisions {
		if d != "approve" {
			flagged = append(flagged, id)
		}
	}
	require.NotEmpty(t, flagged, "the fixture must flag some payments: %v", decisions)
	require.Less(t, len(flagged), len(decisions), "and approve some: %v", decisions)
	require.NoError(t, srv.stop()) // alerts still buffered are flushed here

	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("fraud-alerts"))
	require.NoError(t, err)
	defer consumer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for len(got) < len(flagged) && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var a alerts.Alert
			require.NoError(t, json.Unmarshal(r.Value, &a))
			require.Equal(t, string(r.Key), a.CardID)
			require.Equal(t, decisions[a.TransactionID], a.Decision)
			require.Equal(t, "2026-11-01", a.Model.Version)
			require.NotEmpty(t, a.Reasons)
			got = append(got, a.TransactionID)
		})
	}
	require.ElementsMatch(t, flagged, got, "each flagged decision once, no approval")
	require.Contains(t, srv.logs.String(), `"KAFKA_BROKERS"`, "the start-up line shows what was read")
}

// TestReloadOffWithoutCallers: a server not told who may reload refuses
// everyone, with an audit line, and keeps serving what it serves.
func TestReloadOffWithoutCallers(t *testing.T) {
	srv := start(t, map[string]string{"MODEL_DIR": modelDir(t, "2026-11-01", "")})
	code, out := reload(t, srv.api, "any.token.at-all", "X-Forwarded-User", orchestrator)
	require.Equal(t, http.StatusForbidden, code, "%v", out)
	require.Contains(t, fmt.Sprint(out["error"]), "RELOAD_CALLERS")
	require.NoError(t, srv.stop())
	require.Contains(t, srv.logs.String(), `"action":"model.reload","actor":"unverified"`)
}
