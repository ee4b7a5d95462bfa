package main

// The charts stack through the real engine: every platform chart rendered
// from the chart mirror (Pulumi.charts.yaml) and every object it makes
// checked by the policy pack.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/intelliflow/platform/components/certmanager"
	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/clusteraddons"
	"github.com/intelliflow/platform/infra"
	"github.com/intelliflow/platform/internal/chartmirror"
	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
	"github.com/intelliflow/platform/policy/exceptions"
	"github.com/intelliflow/platform/policy/rules"
	"github.com/intelliflow/platform/stacks"
)

// chartsRoot is an engine root holding the charts stack too, its chart
// folder made absolute (the stack names it relative to the repository).
func chartsRoot(t *testing.T) (string, func(string) string) {
	t.Helper()
	repo := repoDir(t)
	abs := chartmirror.Dir(t, repo)
	root, getenv := engineRoot(t)
	f, err := stacks.ReadFile(filepath.Join(repo, "Pulumi.charts.yaml"))
	require.NoError(t, err)
	repoURL, ok := f.Lookup("chartRepository")
	require.True(t, ok)
	data, err := os.ReadFile(filepath.Join(repo, "Pulumi.charts.yaml"))
	require.NoError(t, err)
	data = []byte(strings.Replace(string(data), repoURL, chart.LocalPrefix+abs, 1))
	require.NoError(t, os.WriteFile(filepath.Join(root, "Pulumi.charts.yaml"), data, 0o644))
	return root, getenv
}

// finding is one mandatory violation as "RULE TYPE NAME", the resource's
// type and Pulumi name taken from its URN.
func finding(v Violation) string {
	parts := strings.Split(v.URN, "::")
	name := parts[len(parts)-1]
	types := strings.Split(parts[len(parts)-2], "$")
	return v.Policy + " " + types[len(types)-1] + " " + name
}

// TestEngineChartsStack renders every chart from the mirror through the
// engine with the pack, which must find nothing mandatory on any object
// (every finding on a chart's objects was fixed through its values, a
// transform or an object of ours, or is a named exception in
// policy/exceptions with its reason); then creates what it rendered in a
// real API server and has Gatekeeper's gator judge it.
func TestEngineChartsStack(t *testing.T) {
	c, cfg, client := devclustertest.Start(t, 3, 1)
	root, getenv := chartsRoot(t)

	rep, err := engineOn(t, "charts", infra.Run, root, getenv, "up")
	requireCharts(t, rep, 11)
	require.NoError(t, err)

	// The same objects on a real API server: CRDs and namespaces first.
	rendered := filepath.Join(root, "out", "charts")
	if keep := os.Getenv("INTELLIFLOW_KEEP_RENDERED"); keep != "" {
		// For reading what the stack rendered after the test.
		t.Cleanup(func() { _ = os.CopyFS(keep, os.DirFS(rendered)) })
	}
	apply := newApplier(t, cfg, client, rendered)
	apply.foundations()
	vaultAsRendered(t, apply.manifests)
	chartImagesPinned(t, root, apply.manifests)

	// The AWS controllers install only with a foundation, which needs
	// the AWS provider (not buildable here): their charts go through the
	// engine and the pack in a program of their own, with a stand-in
	// foundation's outputs, under the charts stack's settings (a copy of
	// its config). The Load Balancer Controller's chart looks its webhook
	// certificate up in the cluster, so this preview asks the test's API
	// server, once cert-manager's CRDs are there.
	chartsConfig, err := os.ReadFile(filepath.Join(root, "Pulumi.charts.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "Pulumi.aws-addons.yaml"), chartsConfig, 0o644))
	aws, err := engineOn(t, "aws-addons", awsAddons(c.Kubeconfig), root, getenv, "preview")
	requireCharts(t, aws, 4)
	require.NoError(t, err)

	// Every named exception waives a finding on an object one of them
	// really renders (the Falco agent, the device plugin, the AWS
	// controllers): one that matches nothing is stale and fails.
	for _, e := range exceptions.List {
		used := false
		for _, v := range slices.Concat(rep.Policy.Violations, aws.Policy.Violations) {
			used = used || (v.Policy == rules.ExceptedPolicy && strings.Contains(v.Message, `"`+e.Name+`": `+e.Rule+"-"))
		}
		require.True(t, used, "exception %s on %s %s matches no rendered object", e.Rule, e.Type, e.Name)
	}

	applied, constraints := apply.rest()
	t.Logf("API server: %d CRDs established, %d objects created %v, %d validated by dry run, %d workload pods admitted; %d Gatekeeper constraints left to gator",
		applied.CRDs, applied.Objects, applied.Kinds, applied.DryRun, applied.Pods, len(constraints))
	require.NotZero(t, applied.Pods)

	// Gatekeeper's own verdict on every rendered workload, apps and
	// charts alike, with the constraints as this stack configures them.
	violations, reviewed := gatorVerdict(t, apply)
	t.Logf("gator: %d objects reviewed against %d constraints, %d violations", reviewed, len(constraints), len(violations))
	require.NotEmpty(t, constraints)
	require.Empty(t, violations, "Gatekeeper would refuse these")
}

// requireCharts: every chart of the preview rendered (a pin the mirror
// lacks, a template that needs a cluster, a chart that refuses the
// Kubernetes version all fail here), want of them, and the pack found
// nothing mandatory.
func requireCharts(t *testing.T, rep Report, want int) {
	t.Helper()
	for _, d := range rep.Diagnostics {
		require.NotContains(t, d, "has a problem", "a chart did not render")
	}
	charts := map[string]bool{}
	for _, s := range rep.Steps {
		if s.Type == "kubernetes:helm.sh/v4:Chart" {
			charts[s.URN[strings.LastIndex(s.URN, "::")+2:]] = true
		}
	}
	require.Len(t, charts, want, "charts rendered: %v", charts)
	var open []string
	for _, v := range rep.Policy.Violations {
		if v.Level == "mandatory" {
			open = append(open, finding(v))
		}
	}
	open = slices.Compact(slices.Sorted(slices.Values(open)))
	t.Logf("%d resources checked, %d open mandatory findings, %d advisory", rep.Policy.Checked, len(open), rep.Policy.Advisory)
	require.Empty(t, open, "mandatory findings: fix them through the chart's values or name an exception with its reason")
}

// awsAddons renders the cluster add-ons as a staging foundation would
// install them: the AWS Load Balancer Controller and the cluster-autoscaler
// with their IRSA roles, beside the ingress controller and metrics-server.
func awsAddons(kubeconfig string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := stacks.Load(ctx)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(kubeconfig)
		if err != nil {
			return err
		}
		cluster, err := kubernetes.NewProvider(ctx, "cluster", &kubernetes.ProviderArgs{Kubeconfig: pulumi.String(string(data))})
		if err != nil {
			return err
		}
		role := func(account string) pulumi.StringInput {
			return pulumi.String("arn:aws:iam::111122223333:role/irsa-" + account)
		}
		_, err = clusteraddons.New(ctx, "addons", &clusteraddons.Args{
			ChartRepository: cfg.ChartRepository, ImageRegistry: cfg.ImageRegistries[0],
			IngressNamespace: stacks.IngressNamespace, IngressNamespaceReady: pulumi.String(stacks.IngressNamespace),
			Backends: []clusteraddons.Backend{{Namespace: "intelliflow-staging", Port: 8080}}, ResponseHeaders: []string{"X-Frame-Options"},
			ControlPlaneCIDRs: []string{"10.20.0.0/16"}, NodeCIDRs: []string{"10.20.0.0/16"}, Replicas: 2, TLSIssuer: certmanager.InternalCA,
			AWS: &clusteraddons.AWS{
				ClusterName: "intelliflow-staging", Region: "eu-west-1", VpcID: pulumi.String("vpc-0a1b2c3d4e5f60718"),
				LoadBalancerRole: role(clusteraddons.LoadBalancerAccount), AutoscalerRole: role(clusteraddons.AutoscalerAccount),
			},
		}, pulumi.Provider(cluster))
		return err
	}
}

// vaultAsRendered: VLT-01 reads Vault where the engine shows it, in the
// chart's rendered server StatefulSet and HCL ConfigMap, not only in chart
// values the engine never hands the pack. This stack's Vault (dev, no AWS:
// Shamir seal) passes; the same objects under prod's settings on AWS do
// not, so the rule really examined them.
func vaultAsRendered(t *testing.T, objects []*unstructured.Unstructured) {
	t.Helper()
	var vault []policyx.AnalyzerResource
	for _, u := range objects {
		typ := pulumiType(u)
		if !rules.VLT01Vault(false, false).Examines(typ) || u.GetNamespace() != stacks.SecurityNamespace || !strings.HasPrefix(u.GetName(), "vault") {
			continue
		}
		vault = append(vault, policyx.AnalyzerResource{Type: typ, Name: u.GetName(),
			Properties: resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(u.Object))})
	}
	var found []string
	for _, r := range vault {
		require.Empty(t, rules.Check([]rules.Rule{rules.VLT01Vault(false, false)}, r), "%s %s", r.Type, r.Name)
		for _, f := range rules.Check([]rules.Rule{rules.VLT01Vault(true, true)}, r)["VLT-01-vault"] {
			found = append(found, r.Name+": "+f.Message)
		}
	}
	joined := strings.Join(found, "\n")
	require.Contains(t, joined, `no seal "awskms"`, "the rendered config was examined")
	t.Logf("VLT-01 on %d rendered Vault objects: none here; under prod on AWS:\n%s", len(vault), joined)
}

// chartImagesPinned: every chart container whose image the stack's
// chartImageDigests names runs by that digest (the stack transform reached
// the charts' children through the engine), and every entry pins some
// container (an entry naming an image no chart renders is stale).
func chartImagesPinned(t *testing.T, root string, objects []*unstructured.Unstructured) {
	t.Helper()
	f, err := stacks.ReadFile(filepath.Join(root, "Pulumi.charts.yaml"))
	require.NoError(t, err)
	raw, ok := f.Lookup("chartImageDigests")
	require.True(t, ok, "the charts stack pins some chart images")
	var digests map[string]string
	require.NoError(t, json.Unmarshal([]byte(raw), &digests))
	require.NotEmpty(t, digests)
	pinned := map[string]int{}
	for _, u := range objects {
		path, ok := rules.PodSpecPath(pulumiType(u))
		if !ok {
			continue
		}
		for _, list := range []string{"initContainers", "containers"} {
			cs, _, _ := unstructured.NestedSlice(u.Object, append(path, list)...)
			for _, c := range cs {
				image, _ := c.(map[string]any)["image"].(string)
				_, listed := digests[image]
				require.False(t, listed, "%s %s/%s runs %s by tag", u.GetKind(), u.GetNamespace(), u.GetName(), image)
				if ref, d, ok := strings.Cut(image, "@"); ok && digests[ref] == d {
					pinned[ref]++
				}
			}
		}
	}
	for ref := range digests {
		require.NotZero(t, pinned[ref], "chartImageDigests names %s, which no chart renders", ref)
	}
	t.Logf("chart images pinned by digest: %v", pinned)
}

// pulumiType is the Pulumi type of a rendered Kubernetes object:
// kubernetes:apps/v1:StatefulSet, kubernetes:core/v1:ConfigMap.
func pulumiType(u *unstructured.Unstructured) string {
	gv := u.GetAPIVersion()
	if !strings.Contains(gv, "/") {
		gv = "core/" + gv
	}
	return "kubernetes:" + gv + ":" + u.GetKind()
}
