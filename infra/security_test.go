package infra

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/gatekeeper"
	"github.com/intelliflow/platform/components/gatekeeper/gatekeepertest"
)

// workloadKinds are the kinds Gatekeeper's constraints match.
var workloadKinds = []string{"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}

// TestWorkloadsPassGatekeeper evaluates every workload each stack renders
// with our Gatekeeper templates, as admission would: none is refused, so
// turning Gatekeeper on cannot break a rollout. Workloads in the exempt
// namespaces (kube-system) are skipped, as Gatekeeper skips them.
func TestWorkloadsPassGatekeeper(t *testing.T) {
	for _, stack := range []string{"dev", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, cfg := runStack(t, stack, false)
			checked := 0
			for _, r := range mocks.Resources() {
				kind := r.Type[strings.LastIndex(r.Type, ":")+1:]
				if !r.Custom || !strings.HasPrefix(r.Type, "kubernetes:") || !slices.Contains(workloadKinds, kind) {
					continue
				}
				if r.Get("metadata.namespace") == "kube-system" {
					continue
				}
				obj := map[string]any{"apiVersion": r.Get("apiVersion"), "kind": kind, "metadata": r.Get("metadata"), "spec": r.Get("spec")}
				for _, tmpl := range gatekeeper.Templates {
					if !tmpl.Matches(kind) {
						continue
					}
					msgs, err := gatekeepertest.Evaluate(tmpl, obj, tmpl.Parameters(cfg.ImageRegistries))
					require.NoError(t, err)
					require.Empty(t, msgs, "%s %s", tmpl.Kind, r.Name)
				}
				checked++
			}
			require.Equal(t, 7, checked, "the seven services' Deployments")

			// Negative control: the same fraud Deployment with a public image
			// and a privileged container is refused by two templates.
			d, ok := mocks.Find("kubernetes:apps/v1:Deployment", "fraud-deployment")
			require.True(t, ok)
			spec := d.Get("spec").(map[string]any)
			c := spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
			c["image"] = "nginx:1.27"
			c["securityContext"].(map[string]any)["privileged"] = true
			obj := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": d.Get("metadata"), "spec": spec}
			refused := 0
			for _, tmpl := range gatekeeper.Templates {
				msgs, err := gatekeepertest.Evaluate(tmpl, obj, tmpl.Parameters(cfg.ImageRegistries))
				require.NoError(t, err)
				if len(msgs) > 0 {
					refused++
				}
			}
			require.Equal(t, 2, refused, "IntelliflowAllowedRegistries and IntelliflowNoPrivileged")
			t.Logf("%s: %d workloads through %d Gatekeeper templates: none refused", stack, checked, len(gatekeeper.Templates))
		})
	}
}
