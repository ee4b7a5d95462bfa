package logging

// PolicyName is the lifecycle policy every IntelliFlow index uses.
const PolicyName = "intelliflow-logs"

// LifecyclePolicy is the seed's ILM: hot until the index rolls over daily,
// warm after 7 days (shrunk to one shard, force-merged), cold and read-only
// after 30, deleted after 90.
func LifecyclePolicy() map[string]any {
	return map[string]any{"policy": map[string]any{
		"_meta": map[string]any{"managed_by": "intelliflow components/logging"},
		"phases": map[string]any{
			"hot": map[string]any{"min_age": "0ms", "actions": map[string]any{
				"rollover":     map[string]any{"max_age": "1d", "max_primary_shard_size": "50gb"},
				"set_priority": map[string]any{"priority": 100},
			}},
			"warm": map[string]any{"min_age": "7d", "actions": map[string]any{
				"shrink":       map[string]any{"number_of_shards": 1},
				"forcemerge":   map[string]any{"max_num_segments": 1},
				"set_priority": map[string]any{"priority": 50},
			}},
			"cold": map[string]any{"min_age": "30d", "actions": map[string]any{
				"readonly":     map[string]any{},
				"set_priority": map[string]any{"priority": 0},
			}},
			"delete": map[string]any{"min_age": "90d", "actions": map[string]any{"delete": map[string]any{}}},
		},
	}}
}

// Indices are the data streams the pipeline writes.
func Indices() []string {
	out := []string{DefaultIndex}
	for _, s := range Stages {
		out = append(out, s.Index)
	}
	return out
}

// IndexTemplate makes an index a data stream under the lifecycle policy.
func IndexTemplate(index string) map[string]any {
	return map[string]any{
		"index_patterns": []string{index + "*"},
		"data_stream":    map[string]any{},
		"priority":       200,
		"template": map[string]any{"settings": map[string]any{
			"index.lifecycle.name": PolicyName, "number_of_shards": 2, "number_of_replicas": 1,
		}},
	}
}
