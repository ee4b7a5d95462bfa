package logging

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestApplyGradesPredictions(t *testing.T) {
	for score, risk := range map[string]string{"0.93": "high", "0.8": "high", "0.79": "medium", "0.5": "medium", "0.01": "low"} {
		ev := Apply(`{"time":"2026-11-27T10:00:00Z","level":"INFO","msg":"prediction","transaction_id":"t1","score":`+score+`,"decision":"approve","model":"fraud","model_version":"v1","degraded":false}`, "fraud")
		require.Equal(t, risk, ev["fraud_risk"], score)
		require.Equal(t, "intelliflow-predictions", ev["_index"])
		require.Equal(t, "t1", ev["transaction.id"])
		require.NotContains(t, ev, "score", "renamed to fraud.score")
	}
}

func TestApplyAuditAndAccess(t *testing.T) {
	audit := Apply(`{"msg":"audit","action":"model.reload","actor":"alice","source_ip":"10.30.1.7","outcome":"switched"}`, "fraud")
	require.Equal(t, "alice", audit["user.name"])
	require.Equal(t, "10.30.1.7", audit["source.ip"])
	require.Equal(t, "model.reload", audit["event.action"])
	require.Equal(t, "intelliflow-audit", audit["_index"])

	access := Apply(`{"msg":"request","route":"/v1/score","method":"POST","status":503,"duration_ms":1.2}`, "gateway")
	require.Equal(t, []string{"server_error"}, access["tags"])
	require.Equal(t, float64(503), access["http.response.status_code"])
	require.Equal(t, "gateway", access["service.name"])
	ok := Apply(`{"msg":"request","route":"/v1/score","method":"POST","status":200}`, "gateway")
	require.NotContains(t, ok, "tags")

	bad := Apply(`panic: runtime error`, "fraud")
	require.Equal(t, []string{"_jsonparsefailure"}, bad["tags"], "kept, never dropped")
	require.Equal(t, "panic: runtime error", bad["message"])
	require.Equal(t, DefaultIndex, Apply(`{"msg":"starting"}`, "fraud")["_index"])
}

// TestLogstashConfigRendersEveryStage: the rendered pipeline carries each
// stage's selector, renames, grading and index, and its braces balance.
func TestLogstashConfigRendersEveryStage(t *testing.T) {
	cfg := LogstashConfig("https://elasticsearch-es-http.intelliflow-monitoring.svc:9200")
	require.Equal(t, strings.Count(cfg, "{"), strings.Count(cfg, "}"))
	for _, st := range Stages {
		require.Contains(t, cfg, `[msg] == "`+st.Msg+`"`)
		require.Contains(t, cfg, `"[@metadata][index]" => "`+st.Index+`"`)
		for from, to := range st.Rename {
			require.Contains(t, cfg, `"`+field(from)+`" => "`+field(to)+`"`)
		}
	}
	require.Contains(t, cfg, `if [fraud][score] >= 0.8 {`)
	require.Contains(t, cfg, `"[fraud_risk]" => "high"`)
	require.Contains(t, cfg, `password => "${ELASTICSEARCH_PASSWORD}"`, "credentials from the environment")
}

// TestRenderedJSONFilterTagsAsApplyDoes reads the json filter's settings
// from the rendered pipeline with logstash-filter-json's semantics
// (skip_on_invalid_json, default false, suppresses tag_on_failure, default
// ["_jsonparsefailure"]) and holds them to what Apply does with a line that
// is not JSON.
func TestRenderedJSONFilterTagsAsApplyDoes(t *testing.T) {
	cfg := LogstashConfig("https://elasticsearch-es-http.intelliflow-monitoring.svc:9200")
	_, block, ok := strings.Cut(cfg, "\n  json {\n")
	require.True(t, ok, "the pipeline decodes JSON")
	block, _, _ = strings.Cut(block, "\n  }\n")
	settings := map[string]string{}
	for _, line := range strings.Split(block, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " => ")
		require.True(t, ok, "json filter setting %q", line)
		settings[k] = v
	}
	require.Equal(t, `"message"`, settings["source"])
	var tags []string
	if settings["skip_on_invalid_json"] != "true" {
		tags = []string{"_jsonparsefailure"}
		if v, set := settings["tag_on_failure"]; set {
			require.NoError(t, json.Unmarshal([]byte(v), &tags), "tag_on_failure %s", v)
		}
	}
	for _, line := range []string{"panic: runtime error", `{"msg":`, "42"} {
		require.Equal(t, Apply(line, "fraud")["tags"], tags, "Logstash and Apply tag %q alike", line)
	}
}

func TestLifecyclePolicy(t *testing.T) {
	phases := LifecyclePolicy()["policy"].(map[string]any)["phases"].(map[string]any)
	hot := phases["hot"].(map[string]any)["actions"].(map[string]any)
	require.Equal(t, "1d", hot["rollover"].(map[string]any)["max_age"])
	warm := phases["warm"].(map[string]any)
	require.Equal(t, "7d", warm["min_age"])
	require.Equal(t, 1, warm["actions"].(map[string]any)["shrink"].(map[string]any)["number_of_shards"])
	require.Equal(t, "30d", phases["cold"].(map[string]any)["min_age"])
	require.Contains(t, phases["cold"].(map[string]any)["actions"], "readonly")
	require.Equal(t, "90d", phases["delete"].(map[string]any)["min_age"])
	require.ElementsMatch(t, []string{"intelliflow-app", "intelliflow-predictions", "intelliflow-audit", "intelliflow-access"}, Indices())
	require.Equal(t, PolicyName, IndexTemplate("intelliflow-audit")["template"].(map[string]any)["settings"].(map[string]any)["index.lifecycle.name"])
}
