package rules

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// res builds an analyzer resource from YAML properties.
func res(t *testing.T, typ, name, props string) policyx.AnalyzerResource {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(props), &m))
	return policyx.AnalyzerResource{
		Type:       typ,
		Name:       name,
		Properties: resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(m)),
	}
}

// withUnknown replaces the value at a path with an unknown (computed) value.
func withUnknown(r policyx.AnalyzerResource, path ...string) policyx.AnalyzerResource {
	pm := resource.ToResourcePropertyMap(r.Properties)
	cur := pm
	for _, k := range path[:len(path)-1] {
		cur = cur[resource.PropertyKey(k)].ObjectValue()
	}
	cur[resource.PropertyKey(path[len(path)-1])] = resource.MakeComputed(resource.NewStringProperty(""))
	r.Properties = resource.FromResourcePropertyMap(pm)
	return r
}

const deployment = "kubernetes:apps/v1:Deployment"

func workload(image string) string {
	return `
metadata:
  namespace: intelliflow-dev
spec:
  strategy:
    rollingUpdate: {maxUnavailable: 0}
  template:
    spec:
      initContainers:
      - name: model-download
        image: registry.intelliflow.internal/tools/model-download:1.2.0
      containers:
      - name: app
        image: ` + image + `
`
}

var testSettings = Settings{
	PodSecurityVersion: "v1.33",
	ImageRegistries:    []string{"registry.intelliflow.internal"},
}

// imageFixtures are SEC-17's and SEC-18's cases: tags, digests, registries,
// and where each workload kind keeps its containers.
func imageFixtures() []fixture {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	digests := &Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"}, RequireImageDigests: true}
	cronJob := `
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: report
            image: registry.intelliflow.internal/analytics
`
	barePod := "spec:\n  containers:\n  - name: debug\n    image: 'busybox:latest'\n"
	badImages := "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n      - name: b\n        image: 'UPPER/Case:1'\n"
	return []fixture{
		{"SEC-17-image-tag", "pinned tag passes", deployment, workload("registry.intelliflow.internal/fraud:1.4.2"), nil, nil},
		{"SEC-18-image-registry", "allowed registry passes", deployment, workload("registry.intelliflow.internal/fraud:1.4.2"), nil, nil},
		{"SEC-17-image-tag", "digest passes even with latest", deployment, workload("registry.intelliflow.internal/fraud:latest@" + digest), nil, nil},
		{"SEC-17-image-tag", "latest fails", deployment, workload("registry.intelliflow.internal/fraud:latest"),
			[]string{`spec.template.spec.containers[0].image: container "app" uses "registry.intelliflow.internal/fraud:latest"; :latest is mutable`}, nil},
		{"SEC-17-image-tag", "untagged fails", deployment, workload("registry.intelliflow.internal/fraud"), []string{"has no tag, which means :latest"}, nil},
		{"SEC-18-image-registry", "registry not allowed", deployment, workload("nginx:1.27"), []string{`comes from "docker.io", which is not on the allow-list`}, nil},
		{"SEC-18-image-registry", "registry prefix must end on a path boundary", deployment, workload("registry.intelliflow.internal.evil.example/fraud:1.0"),
			[]string{"not on the allow-list"}, nil},
		{"SEC-18-image-registry", "registry with path allows only that path", deployment, workload("registry.intelliflow.internal/other/fraud:1.0"),
			[]string{`container "app"`}, &Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal/tools", "registry.intelliflow.internal/apps"}}},
		{"SEC-17-image-digest", "prod wants digests, init containers too", deployment, workload("registry.intelliflow.internal/fraud:1.4.2"), []string{
			`spec.template.spec.containers[0].image: container "app" image "registry.intelliflow.internal/fraud:1.4.2" is not pinned by digest`,
			`spec.template.spec.initContainers[0].image: container "model-download"`,
		}, digests},
		{"SEC-17-image-digest", "digests are asked for only where the stack requires them", deployment, workload("registry.intelliflow.internal/fraud:1.4.2"), nil, nil},
		{"SEC-17-image-tag", "cronjob template is found", "kubernetes:batch/v1:CronJob", cronJob, []string{"spec.jobTemplate.spec.template.spec.containers[0].image"}, nil},
		{"SEC-17-image-tag", "bare pod", "kubernetes:core/v1:Pod", barePod, []string{"spec.containers[0].image"}, nil},
		{"SEC-18-image-registry", "bare pod", "kubernetes:core/v1:Pod", barePod, []string{"docker.io"}, nil},
		{"SEC-17-image-tag", "missing and invalid images are violations", deployment, badImages,
			[]string{`container "a" has no image`, `"UPPER/Case:1" is not a valid image reference`}, nil},
		{"SEC-18-image-registry", "missing and invalid images are violations", deployment, badImages,
			[]string{`container "a" has no image`, `"UPPER/Case:1" is not a valid image reference`}, nil},
		{"SEC-17-image-tag", "other kinds are not examined", "kubernetes:core/v1:ConfigMap", "data:\n  image: 'nginx:latest'\n", nil, nil},
	}
}

func namespaceProps(level, version, reason string) string {
	p := "metadata:\n  name: intelliflow-dev\n  labels:\n"
	for _, mode := range []string{"enforce", "warn", "audit"} {
		p += "    pod-security.kubernetes.io/" + mode + ": " + level + "\n"
		p += "    pod-security.kubernetes.io/" + mode + "-version: " + version + "\n"
	}
	if reason != "" {
		p += "  annotations:\n    intelliflow.io/pod-security-exception: " + reason + "\n"
	}
	return p
}

// namespaceFixtures are SEC-16's cases.
func namespaceFixtures() []fixture {
	const rule = "SEC-16-namespace-pod-security"
	return []fixture{
		{rule, "restricted at the pinned version", namespaceType, namespaceProps("restricted", "v1.33", ""), nil, nil},
		{rule, "privileged with a named exception", namespaceType, namespaceProps("privileged", "v1.33", "falco reads host syscalls"), nil, nil},
		{rule, "privileged without a reason", namespaceType, namespaceProps("privileged", "v1.33", ""), []string{
			`metadata.labels["pod-security.kubernetes.io/enforce"] is "privileged" without a named exception`,
			`"pod-security.kubernetes.io/warn"`, `"pod-security.kubernetes.io/audit"`,
		}, nil},
		{rule, "wrong version", namespaceType, namespaceProps("restricted", "latest", ""), []string{
			`metadata.labels["pod-security.kubernetes.io/enforce-version"] is "latest"; pin it to v1.33`,
			"warn-version", "audit-version",
		}, nil},
		{rule, "no labels", namespaceType, "metadata:\n  name: x\n", []string{
			`"pod-security.kubernetes.io/enforce"] is missing`, `"pod-security.kubernetes.io/enforce-version"] is missing`,
			`warn"] is missing`, `warn-version"] is missing`, `audit"] is missing`, `audit-version"] is missing`,
		}, nil},
	}
}

func TestUnknownValuesAreUncheckedNotViolations(t *testing.T) {
	all := All(testSettings)
	r := withUnknown(res(t, deployment, "fraud", workload("nginx:latest")), "spec", "template", "spec")
	got := Check(all, r)
	require.NotEmpty(t, got)
	for rule, fs := range got {
		for _, f := range fs {
			require.True(t, f.Unchecked, "%s: %s", rule, f.Message)
		}
	}

	ns := withUnknown(res(t, namespaceType, "dev", namespaceProps("restricted", "v1.33", "")), "metadata", "labels")
	got = Check(all, ns)
	require.Equal(t, []Finding{unchecked("metadata.labels are not known yet")}, got["SEC-16-namespace-pod-security"])
}

// recorder is a policyx.PolicyManager that keeps what policies report.
type recorder struct{ messages []string }

func (r *recorder) ReportViolation(message, _ string) { r.messages = append(r.messages, message) }

func TestPoliciesRouteFindings(t *testing.T) {
	panicky := Rule{Name: "X-panics", Level: policyx.EnforcementLevelMandatory, Check: func(policyx.AnalyzerResource) []Finding {
		var m map[string]int
		m["boom"]++
		return nil
	}}
	policies := Policies(Pack{Rules: append(All(testSettings), panicky)})
	names := map[string]policyx.EnforcementLevel{}
	for _, p := range policies {
		names[p.Name()] = p.EnforcementLevel()
	}
	require.Equal(t, policyx.EnforcementLevelMandatory, names["SEC-17-image-tag"])
	require.Equal(t, policyx.EnforcementLevelAdvisory, names["SEC-17-image-digest"])
	require.Equal(t, policyx.EnforcementLevelAdvisory, names[UncheckedPolicy])

	r := res(t, deployment, "fraud", workload("registry.intelliflow.internal/fraud:latest"))
	reported := map[string][]string{}
	for _, p := range policies {
		rec := &recorder{}
		err := p.(policyx.ResourceValidationPolicy).Validate(context.Background(), policyx.ResourceValidationArgs{Manager: rec, Resource: r})
		require.NoError(t, err)
		reported[p.Name()] = rec.messages
	}
	require.Len(t, reported["SEC-17-image-tag"], 1)
	require.Contains(t, reported["SEC-17-image-tag"][0], `Deployment "fraud": spec.template.spec.containers[0].image`)
	// A rule that panics is reported as unchecked, never kills the pack.
	require.Empty(t, reported["X-panics"])
	require.Len(t, reported[UncheckedPolicy], 1)
	require.Contains(t, reported[UncheckedPolicy][0], "X-panics could not be checked")
}

const restrictedPod = `
spec:
  template:
    metadata:
      labels: {app: fraud}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: app
        image: registry.intelliflow.internal/fraud:1.0
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
          readOnlyRootFilesystem: true
`

// podSecurityFixtures are SEC-01's cases, judged by the Pod Security
// Standards' own evaluator.
func podSecurityFixtures() []fixture {
	const rule = "SEC-01-pod-security-restricted"
	return []fixture{
		{rule, "restricted deployment passes", deployment, restrictedPod, nil, nil},
		{rule, "privileged container", deployment, strings.Replace(restrictedPod, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: false\n          privileged: true", 1),
			[]string{`privileged (container "app" must not set securityContext.privileged=true)`}, nil},
		{rule, "host network", deployment, strings.Replace(restrictedPod, "      containers:", "      hostNetwork: true\n      containers:", 1),
			[]string{"host namespaces (hostNetwork=true)"}, nil},
		{rule, "root user", deployment, strings.Replace(restrictedPod, "runAsUser: 10001", "runAsUser: 0", 1), []string{"runAsUser=0"}, nil},
		{rule, "hostPath volume", deployment, restrictedPod + "      volumes:\n      - name: host\n        hostPath: {path: /var/run}\n",
			[]string{`restricted volume types (volume "host" uses restricted volume type "hostPath")`}, nil},
		{rule, "added capability", deployment, strings.Replace(restrictedPod, "drop: [ALL]", "drop: [ALL], add: [SYS_ADMIN]", 1),
			[]string{`unrestricted capabilities (container "app" must not include "SYS_ADMIN" in securityContext.capabilities.add)`}, nil},
		{rule, "bare pod without any context", "kubernetes:core/v1:Pod", "spec:\n  containers:\n  - name: debug\n    image: x:1\n",
			[]string{"allowPrivilegeEscalation != false", "runAsNonRoot != true", "seccompProfile", "unrestricted capabilities"}, nil},
		{rule, "not a workload", "kubernetes:core/v1:Service", "spec:\n  type: ClusterIP\n", nil, nil},
	}
}

func TestSEC01Unchecked(t *testing.T) {
	rule := []Rule{SEC01PodSecurityRestricted("v1.33")}
	t.Run("unknown values are unchecked", func(t *testing.T) {
		r := withUnknown(res(t, deployment, "fraud", restrictedPod), "spec", "template", "spec", "securityContext")
		got := Check(rule, r)
		require.Len(t, got["SEC-01-pod-security-restricted"], 1)
		require.True(t, got["SEC-01-pod-security-restricted"][0].Unchecked)
	})
	t.Run("a bad version is unchecked, not a crash", func(t *testing.T) {
		got := Check([]Rule{SEC01PodSecurityRestricted("latest-ish")}, res(t, deployment, "fraud", restrictedPod))
		require.True(t, got["SEC-01-pod-security-restricted"][0].Unchecked)
	})
}
