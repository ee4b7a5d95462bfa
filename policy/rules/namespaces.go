package rules

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

const namespaceType = "kubernetes:core/v1:Namespace"

// SEC16NamespacePodSecurity requires every namespace to enforce, warn and
// audit the restricted Pod Security Standard at the pinned version. A
// namespace may run below restricted only with a named exception, which the
// namespace component records in the intelliflow.io/pod-security-exception
// annotation.
func SEC16NamespacePodSecurity(version string) Rule {
	return Rule{
		Name:        "SEC-16-namespace-pod-security",
		Description: fmt.Sprintf("SEC-16: every namespace labelled pod-security.kubernetes.io/{enforce,warn,audit}=restricted at %s; exceptions carry a reason.", version),
		Level:       policyx.EnforcementLevelMandatory,
		Types:       []string{namespaceType},
		Check: func(r policyx.AnalyzerResource) []Finding {
			labels, present := at(r.Properties, "metadata", "labels")
			if present && labels.IsComputed() {
				return []Finding{unchecked("metadata.labels are not known yet")}
			}
			get := func(key string) (string, bool) {
				if !present || !labels.IsMap() {
					return "", false
				}
				v, ok := at(labels.AsMap(), key)
				if !ok || !v.IsString() {
					return "", false
				}
				return v.AsString(), true
			}
			reason := ""
			if v, ok := at(r.Properties, "metadata", "annotations", "intelliflow.io/pod-security-exception"); ok && v.IsString() {
				reason = v.AsString()
			}
			var out []Finding
			for _, mode := range []string{"enforce", "warn", "audit"} {
				key := "pod-security.kubernetes.io/" + mode
				level, ok := get(key)
				switch {
				case !ok:
					out = append(out, violation("metadata.labels[%q] is missing; set it to restricted", key))
				case level != "restricted" && reason == "":
					out = append(out, violation("metadata.labels[%q] is %q without a named exception; use restricted, or give the namespace component a PodSecurity.Exception reason", key, level))
				}
				vkey := key + "-version"
				got, ok := get(vkey)
				switch {
				case !ok:
					out = append(out, violation("metadata.labels[%q] is missing; pin it to %s", vkey, version))
				case got != version:
					out = append(out, violation("metadata.labels[%q] is %q; pin it to %s, the version the policy pack evaluates", vkey, got, version))
				}
			}
			return out
		},
	}
}
