package rules

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	pssPolicy "k8s.io/pod-security-admission/policy"
)

// SEC01PodSecurityRestricted evaluates every pod template with the reference
// Pod Security Standards evaluator (k8s.io/pod-security-admission) at the
// version the namespaces are labelled with: what admission would refuse,
// preview refuses first.
func SEC01PodSecurityRestricted(version string) Rule {
	return Rule{
		Name:        "SEC-01-pod-security-restricted",
		Description: fmt.Sprintf("SEC-01: pod templates pass the Pod Security Standard restricted at %s.", version),
		Level:       policyx.EnforcementLevelMandatory,
		Types:       workloadTypes,
		Check: func(r policyx.AnalyzerResource) []Finding {
			path, ok := podSpecPaths[r.Type]
			if !ok {
				return nil
			}
			lv, err := levelVersion(version)
			if err != nil {
				return []Finding{unchecked("%v", err)}
			}
			tmplPath := path[:len(path)-1]
			var tmpl property.Value
			if len(tmplPath) == 0 {
				tmpl = property.New(r.Properties)
			} else {
				v, present := at(r.Properties, tmplPath...)
				if !present {
					return []Finding{violation("%s: no pod template", strings.Join(tmplPath, "."))}
				}
				tmpl = v
			}
			if tmpl.HasComputed() {
				return []Finding{unchecked("%s has values not known yet", strings.Join(path, "."))}
			}
			var pod corev1.PodTemplateSpec
			if err := decode(tmpl, &pod); err != nil {
				return []Finding{violation("%s does not decode as a pod template: %v", strings.Join(path, "."), err)}
			}
			var out []Finding
			for _, res := range evaluator.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec) {
				if !res.Allowed {
					out = append(out, violation("%s: %s (%s); see the restricted profile of the Pod Security Standards",
						strings.Join(path, "."), res.ForbiddenReason, res.ForbiddenDetail))
				}
			}
			return out
		},
	}
}

// evaluator is the reference evaluator with the checks of every version.
var evaluator = func() interface {
	EvaluatePod(api.LevelVersion, *metav1.ObjectMeta, *corev1.PodSpec) []pssPolicy.CheckResult
} {
	e, err := pssPolicy.NewEvaluator(pssPolicy.DefaultChecks(), nil)
	if err != nil {
		// The library's own checks failed to register: a broken build, not input.
		panic(fmt.Sprintf("pod-security-admission evaluator: %v", err))
	}
	return e
}()

func levelVersion(version string) (api.LevelVersion, error) {
	v, err := api.ParseVersion(version)
	if err != nil {
		return api.LevelVersion{}, fmt.Errorf("Pod Security version %q: %w", version, err)
	}
	return api.LevelVersion{Level: api.LevelRestricted, Version: v}, nil
}

// decode turns a known property value into a Kubernetes API type through
// JSON, the encoding both sides share.
func decode(v property.Value, into any) error {
	b, err := json.Marshal(plain(v))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// plain converts a property value without unknowns to plain Go values.
func plain(v property.Value) any {
	if v.Secret() {
		v = v.WithSecret(false)
	}
	switch {
	case v.IsMap():
		out := map[string]any{}
		for k, e := range v.AsMap().All {
			out[k] = plain(e)
		}
		return out
	case v.IsArray():
		arr := v.AsArray()
		out := make([]any, 0, arr.Len())
		for _, e := range arr.All {
			out = append(out, plain(e))
		}
		return out
	case v.IsString():
		return v.AsString()
	case v.IsNumber():
		return v.AsNumber()
	case v.IsBool():
		return v.AsBool()
	default:
		return nil
	}
}
