// Package logging provides the platform's log pipeline: the Logstash
// pipeline for our services' JSON logs and the Elasticsearch lifecycle
// policy of their indices. The pipeline is written once, as data (Stages):
// LogstashConfig renders it in Logstash's configuration language, and Apply
// runs the very same stages in Go, so tests feed it real log lines of our
// services (Logstash itself, a JVM application, cannot run here).
package logging

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Stage is one step of the filter: events whose Msg matches get Type, have
// fields renamed into the Elastic Common Schema, are tagged, and go to
// Index. Risk, when set, classifies a numeric field into levels.
type Stage struct {
	// Msg is the slog message that selects the events ("prediction").
	Msg string
	// Type is the event type the stage assigns (event.dataset).
	Type string
	// Rename maps our fields to ECS fields.
	Rename map[string]string
	// Risk grades a score field: the first threshold it reaches names the
	// level, in descending order.
	Risk *Risk
	// ErrorStatus tags events whose status field is >= 500.
	ErrorStatus string
	// Index is the index alias the events are written to.
	Index string
}

// Risk grades a numeric field.
type Risk struct {
	Field, Into string
	Levels      []Level
}

// Level is a threshold and its name.
type Level struct {
	Min  float64
	Name string
}

// Stages are the platform's: fraud predictions graded by score (high at
// 0.8, the seed's rule), audit events with who and from where, and HTTP
// access logs; anything else is an application log line.
var Stages = []Stage{
	{
		Msg: "prediction", Type: "fraud.prediction", Index: "intelliflow-predictions",
		Rename: map[string]string{"transaction_id": "transaction.id", "model_version": "ml.model.version", "decision": "fraud.decision", "score": "fraud.score"},
		Risk:   &Risk{Field: "fraud.score", Into: "fraud_risk", Levels: []Level{{0.8, "high"}, {0.5, "medium"}, {0, "low"}}},
	},
	{
		Msg: "audit", Type: "audit", Index: "intelliflow-audit",
		Rename: map[string]string{"actor": "user.name", "source_ip": "source.ip", "action": "event.action", "outcome": "event.outcome"},
	},
	{
		Msg: "request", Type: "http.access", Index: "intelliflow-access", ErrorStatus: "server_error",
		Rename: map[string]string{"status": "http.response.status_code", "method": "http.request.method", "route": "url.path", "duration_ms": "event.duration_ms", "remote": "client.address", "user_agent": "user_agent.original"},
	},
}

// ParseFailureTag marks a line that is not a JSON object. The json filter
// tags it so (and logs a warning) only without skip_on_invalid_json, which
// would pass such lines on untagged; the pipeline never sets it.
const ParseFailureTag = "_jsonparsefailure"

// DefaultIndex takes every other line.
const DefaultIndex = "intelliflow-app"

// Apply runs the pipeline on one raw line as Logstash would: decode the
// JSON the service wrote, lift the Kubernetes service name, run the stage
// its message selects. A line that is not JSON is kept, tagged
// _jsonparsefailure, never dropped.
func Apply(line, service string) map[string]any {
	ev := map[string]any{}
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		return map[string]any{"message": line, "tags": []string{ParseFailureTag}, "service.name": service, "_index": DefaultIndex}
	}
	ev["service.name"] = service
	ev["_index"] = DefaultIndex
	for _, st := range Stages {
		if ev["msg"] != st.Msg {
			continue
		}
		ev["event.dataset"] = st.Type
		ev["_index"] = st.Index
		for _, from := range sortedKeys(st.Rename) {
			if v, ok := ev[from]; ok {
				ev[st.Rename[from]] = v
				delete(ev, from)
			}
		}
		if r := st.Risk; r != nil {
			if score, ok := number(ev[r.Field]); ok {
				for _, l := range r.Levels {
					if score >= l.Min {
						ev[r.Into] = l.Name
						break
					}
				}
			}
		}
		if st.ErrorStatus != "" {
			if code, ok := number(ev["http.response.status_code"]); ok && code >= 500 {
				ev["tags"] = []string{st.ErrorStatus}
			}
		}
		break
	}
	return ev
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// field is a Logstash field reference: [a][b] for ECS's dotted names.
func field(name string) string {
	return "[" + strings.ReplaceAll(name, ".", "][") + "]"
}

// LogstashConfig renders the pipeline: Beats input over TLS from the log
// shipper, the stages as filters, Elasticsearch output per index alias
// with the credentials from the environment (never in the file).
func LogstashConfig(elasticsearch string) string {
	var b strings.Builder
	b.WriteString(`input {
  beats {
    port => 5044
    ssl_enabled => true
    ssl_certificate => "/usr/share/logstash/certs/tls.crt"
    ssl_key => "/usr/share/logstash/certs/tls.key"
  }
}

filter {
  json {
    source => "message"
    tag_on_failure => ["` + ParseFailureTag + `"]
  }
  mutate {
    copy => { "[kubernetes][labels][app_kubernetes_io/name]" => "[service][name]" }
  }
  mutate { add_field => { "[@metadata][index]" => "` + DefaultIndex + `" } }
`)
	for i, st := range Stages {
		kw := "else if"
		if i == 0 {
			kw = "if"
		}
		fmt.Fprintf(&b, "  %s [msg] == %q {\n", kw, st.Msg)
		fmt.Fprintf(&b, "    mutate {\n      add_field => { \"[event][dataset]\" => %q }\n      replace => { \"[@metadata][index]\" => %q }\n", st.Type, st.Index)
		if len(st.Rename) > 0 {
			b.WriteString("      rename => {\n")
			for _, from := range sortedKeys(st.Rename) {
				fmt.Fprintf(&b, "        %q => %q\n", field(from), field(st.Rename[from]))
			}
			b.WriteString("      }\n")
		}
		b.WriteString("    }\n")
		if r := st.Risk; r != nil {
			fmt.Fprintf(&b, "    mutate { convert => { %q => \"float\" } }\n", field(r.Field))
			for j, l := range r.Levels {
				cond := "else if"
				if j == 0 {
					cond = "if"
				}
				fmt.Fprintf(&b, "    %s %s >= %g {\n      mutate { add_field => { %q => %q } }\n    }\n", cond, field(r.Field), l.Min, field(r.Into), l.Name)
			}
		}
		if st.ErrorStatus != "" {
			fmt.Fprintf(&b, "    if [http][response][status_code] >= 500 {\n      mutate { add_tag => [%q] }\n    }\n", st.ErrorStatus)
		}
		b.WriteString("  }\n")
	}
	fmt.Fprintf(&b, `}

output {
  elasticsearch {
    hosts => [%q]
    ssl_enabled => true
    ssl_certificate_authorities => ["/usr/share/logstash/certs/ca.crt"]
    user => "${ELASTICSEARCH_USER}"
    password => "${ELASTICSEARCH_PASSWORD}"
    index => "%%{[@metadata][index]}"
    action => "create"
  }
}
`, elasticsearch)
	return b.String()
}
