package rules

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// at walks a property map along a path of keys. It returns the value and
// whether every key was present; a computed value part way is returned as is
// so callers can tell "absent" from "unknown".
func at(m property.Map, path ...string) (property.Value, bool) {
	cur := property.New(m)
	for _, key := range path {
		if cur.Secret() {
			cur = cur.WithSecret(false)
		}
		if cur.IsComputed() {
			return cur, true
		}
		if !cur.IsMap() {
			return property.Value{}, false
		}
		next, ok := cur.AsMap().GetOk(key)
		if !ok {
			return property.Value{}, false
		}
		cur = next
	}
	if cur.Secret() {
		cur = cur.WithSecret(false)
	}
	return cur, true
}

// kindOf returns the kind from a type token: "kubernetes:apps/v1:Deployment"
// gives "Deployment".
func kindOf(typ string) string {
	if i := strings.LastIndex(typ, ":"); i >= 0 {
		return typ[i+1:]
	}
	return typ
}

// podSpecPaths maps every Kubernetes kind that carries a pod template to
// where its pod spec sits. Only GA API versions: K8S-01 rejects the others.
var podSpecPaths = map[string][]string{
	"kubernetes:apps/v1:Deployment":            {"spec", "template", "spec"},
	"kubernetes:apps/v1:StatefulSet":           {"spec", "template", "spec"},
	"kubernetes:apps/v1:DaemonSet":             {"spec", "template", "spec"},
	"kubernetes:apps/v1:ReplicaSet":            {"spec", "template", "spec"},
	"kubernetes:core/v1:ReplicationController": {"spec", "template", "spec"},
	"kubernetes:batch/v1:Job":                  {"spec", "template", "spec"},
	"kubernetes:batch/v1:CronJob":              {"spec", "jobTemplate", "spec", "template", "spec"},
	"kubernetes:core/v1:Pod":                   {"spec"},
	"kubernetes:core/v1:PodTemplate":           {"template", "spec"},
}

// PodSpecPath says where a resource type (kubernetes:apps/v1:Deployment)
// keeps its pod spec, and whether it carries one at all.
func PodSpecPath(typ string) ([]string, bool) {
	p, ok := podSpecPaths[typ]
	return slices.Clone(p), ok
}

// workloadTypes are the types that carry a pod template, sorted: the types
// every pod rule examines.
var workloadTypes = slices.Sorted(maps.Keys(podSpecPaths))

// container is one container of a pod spec with where it sits, for messages.
type container struct {
	// field is the path to the container, e.g. spec.template.spec.containers[0].
	field string
	name  string
	props property.Map
}

// containers returns every container, init container and ephemeral container
// of the pod template a workload carries. ok is false for resources that carry
// no pod template; unknown is true when the list itself is not known yet.
func containers(typ string, props property.Map) (cs []container, unknown bool, ok bool) {
	path, ok := podSpecPaths[typ]
	if !ok {
		return nil, false, false
	}
	spec, present := at(props, path...)
	if !present {
		return nil, false, true
	}
	if spec.IsComputed() {
		return nil, true, true
	}
	if !spec.IsMap() {
		return nil, false, true
	}
	prefix := strings.Join(path, ".")
	for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
		v, present := at(spec.AsMap(), list)
		if !present {
			continue
		}
		if v.IsComputed() {
			unknown = true
			continue
		}
		if !v.IsArray() {
			continue
		}
		for i, c := range v.AsArray().AsSlice() {
			if c.Secret() {
				c = c.WithSecret(false)
			}
			field := prefix + "." + list + "[" + strconv.Itoa(i) + "]"
			if !c.IsMap() {
				unknown = unknown || c.IsComputed()
				continue
			}
			name := ""
			if n, ok := at(c.AsMap(), "name"); ok && n.IsString() {
				name = n.AsString()
			}
			cs = append(cs, container{field: field, name: name, props: c.AsMap()})
		}
	}
	return cs, unknown, true
}

// sortedMapKeys returns a property map's keys in order, for stable messages.
func sortedMapKeys(m property.Map) []string {
	return slices.Sorted(maps.Keys(m.AsMap()))
}

// at0 is the whole resource as a value.
func at0(r policyx.AnalyzerResource) property.Value { return property.New(r.Properties) }
