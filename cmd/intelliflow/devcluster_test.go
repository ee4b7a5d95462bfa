package main

// The dev stack on a real control plane (internal/devcluster): a real API
// server with Pod Security, ServiceAccount and quota admission, a real
// scheduler and controllers, kwok playing the kubelets of nodes shaped like
// the AWS node groups.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/gpunodegroup"
	"github.com/intelliflow/platform/infra"
	"github.com/intelliflow/platform/internal/devcluster"
	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
	"github.com/intelliflow/platform/internal/rollout"
)

// startCluster runs a control plane for the test (devclustertest).
func startCluster(t *testing.T, general, gpu int, opts ...devclustertest.Option) (*devcluster.Cluster, kubernetes.Interface) {
	t.Helper()
	c, _, client := devclustertest.Start(t, general, gpu, opts...)
	return c, client
}

// clusterStack writes the local stack's config as the temporary root's dev
// stack, pointed at the test's cluster.
func clusterStack(t *testing.T, root, kubeconfig string, edit func(string) string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoDir(t), "Pulumi.local.yaml"))
	require.NoError(t, err)
	cfg := strings.Replace(string(data), "intelliflow:kubeconfig: .cluster/kubeconfig", "intelliflow:kubeconfig: "+kubeconfig, 1)
	require.Contains(t, cfg, kubeconfig)
	if edit != nil {
		cfg = edit(cfg)
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "Pulumi.dev.yaml"), []byte(cfg), 0o644))
}

// TestClusterDevStack deploys the dev stack into a real control plane with
// the policy pack on, and checks what only a cluster can tell: admission
// lets every pod in, the scheduler places them as the stack intends, a
// second up changes nothing, destroy removes the namespaces. Pod Security
// refuses an unsafe pod even with the pack bypassed. The HPAs read their
// CPU metric from metrics.k8s.io and scale on it.
func TestClusterDevStack(t *testing.T) {
	c, client := startCluster(t, 3, 2, devclustertest.Metrics)
	root, getenv := engineRoot(t)
	clusterStack(t, root, c.Kubeconfig, nil)
	ctx := context.Background()
	ns := "intelliflow-dev"

	start := time.Now()
	rep, err := engine(t, infra.Run, root, getenv, "up")
	require.NoError(t, err, "%+v", rep.Diagnostics)
	require.Zero(t, rep.Policy.Mandatory, "%+v", rep.Policy.Violations)
	// up itself waited for every Deployment's minimum (internal/rollout);
	// check again from outside the driver.
	short, err := rollout.Check(ctx, client, []string{ns})
	require.NoError(t, err)
	require.Empty(t, short)
	deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, deps.Items, len(catalog.Names()))
	t.Logf("up: %d resources created, every Deployment at its HPA minimum in %s", rep.Changes["create"], time.Since(start).Round(100*time.Millisecond))

	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	nodeByName := map[string]corev1.Node{}
	for _, n := range nodes.Items {
		nodeByName[n.Name] = n
	}
	pods := func(app string) []corev1.Pod {
		l, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + app, FieldSelector: "status.phase=Running"})
		require.NoError(t, err)
		return l.Items
	}
	fraud := pods(catalog.Fraud)
	require.NotEmpty(t, fraud)
	for _, p := range fraud {
		require.Equal(t, "true", nodeByName[p.Spec.NodeName].Labels[gpunodegroup.GPUPresentLabel], "fraud pod %s on %s", p.Name, p.Spec.NodeName)
	}
	tx := pods(catalog.Transactions)
	require.Len(t, tx, 3)
	hosts, zones := map[string]bool{}, map[string]bool{}
	for _, p := range tx {
		hosts[p.Spec.NodeName] = true
		zones[nodeByName[p.Spec.NodeName].Labels["topology.kubernetes.io/zone"]] = true
	}
	require.Len(t, hosts, 3, "required host anti-affinity")
	require.Len(t, zones, 3, "spread over the zones")
	events, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, e := range events.Items {
		require.NotContains(t, e.Message, "violates PodSecurity", "%s %s", e.InvolvedObject.Name, e.Reason)
	}
	t.Logf("%d fraud pods on GPU nodes; transactions on %d hosts in %d zones", len(fraud), len(hosts), len(zones))

	// Defence in depth: around the pack, straight to the API, an unsafe
	// pod is refused by Pod Security admission.
	unsafe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "unsafe", Namespace: ns},
		Spec:       corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "x", Image: "registry.intelliflow.internal/x:1"}}},
	}
	_, err = client.CoreV1().Pods(ns).Create(ctx, unsafe, metav1.CreateOptions{})
	require.Error(t, err)
	require.Contains(t, err.Error(), `violates PodSecurity "restricted`)

	hpaScalesOnCPU(t, client, ns)

	rep, err = engine(t, infra.Run, root, getenv, "up")
	require.NoError(t, err)
	for op, n := range rep.Changes {
		require.True(t, op == "same" || n == 0, "second up: %v", rep.Changes)
	}

	rep, err = engine(t, infra.Run, root, getenv, "destroy")
	require.NoError(t, err)
	deadline := time.Now().Add(2 * time.Minute)
	for _, name := range []string{ns, "intelliflow-monitoring", "intelliflow-security"} {
		for {
			_, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			require.True(t, time.Now().Before(deadline), "namespace %s still there after destroy", name)
			time.Sleep(time.Second)
		}
	}
	t.Logf("destroy: %d resources deleted, namespaces gone", rep.Changes["delete"])
}

// TestClusterTooSmall: the prod shape (transactions 5 on distinct hosts,
// fraud 4 on GPUs) on 3 general and 2 GPU nodes cannot run; up fails
// within the stack's bound and names each short Deployment with the
// scheduler's reason, instead of passing or hanging.
func TestClusterTooSmall(t *testing.T) {
	c, _ := startCluster(t, 3, 2)
	root, getenv := engineRoot(t)
	clusterStack(t, root, c.Kubeconfig, func(cfg string) string {
		cfg = strings.Replace(cfg, "fraud: {gpu: 1}", "fraud: {gpu: 1, minReplicas: 4, maxReplicas: 5}", 1)
		cfg = strings.Replace(cfg, "transactions: {minReplicas: 3, maxReplicas: 4,", "transactions: {minReplicas: 5, maxReplicas: 6,", 1)
		return strings.Replace(cfg, "  intelliflow:environment: dev\n", "  intelliflow:environment: dev\n  intelliflow:rolloutTimeoutSeconds: 45\n", 1)
	})
	start := time.Now()
	rep, err := engine(t, infra.Run, root, getenv, "up")
	took := time.Since(start)
	require.Error(t, err)
	require.ErrorIs(t, err, errNotRunning)
	require.Less(t, took, 4*time.Minute, "bounded by rolloutTimeoutSeconds")
	require.Len(t, rep.NotRunning, 2, "%v", rep.NotRunning)
	joined := strings.Join(rep.NotRunning, "\n")
	require.Contains(t, joined, "intelliflow-dev/transactions: 3 of at least 5 pods available")
	require.Contains(t, joined, "didn't match pod anti-affinity rules")
	require.Contains(t, joined, "intelliflow-dev/fraud: 2 of at least 4 pods available")
	require.Contains(t, joined, "Insufficient nvidia.com/gpu")
	t.Logf("up failed in %s:\n%s", took.Round(time.Second), joined)
}

// hpaScalesOnCPU: every HPA of the namespace reports its pods' current CPU
// utilization (metrics-server reading what kwok simulates), not
// <unknown>; and when users' pods use twice their HPA's target, the HPA
// scales users up to its maximum.
func hpaScalesOnCPU(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	hpa, err := client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, catalog.Users, metav1.GetOptions{})
	require.NoError(t, err)
	target := *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization
	users, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + catalog.Users})
	require.NoError(t, err)
	require.Len(t, users.Items, int(*hpa.Spec.MinReplicas))
	for _, p := range users.Items {
		request := p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]
		use := fmt.Sprintf("%dm", request.MilliValue()*int64(target)*2/100)
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, devcluster.UsageCPUAnnotation, use)
		_, err := client.CoreV1().Pods(ns).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		require.NoError(t, err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		hpas, err := client.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, hpas.Items, len(catalog.Names()))
		var waiting []string
		var users autoscalingv2.HorizontalPodAutoscaler
		seen := map[string]int32{}
		for _, h := range hpas.Items {
			if h.Name == catalog.Users {
				users = h
			}
			current := cpuUtilization(h)
			if current == nil {
				waiting = append(waiting, h.Name+": <unknown>")
				continue
			}
			seen[h.Name] = *current
		}
		if len(waiting) == 0 {
			if users.Status.CurrentReplicas == users.Spec.MaxReplicas {
				t.Logf("HPAs' current CPU utilization (%%): %v; users scaled %d -> %d in %s", seen,
					*users.Spec.MinReplicas, users.Status.CurrentReplicas, time.Since(start).Round(time.Second))
				return
			}
			waiting = append(waiting, fmt.Sprintf("users at %d%% of %d%% with %d of %d replicas", seen[catalog.Users], target,
				users.Status.CurrentReplicas, users.Spec.MaxReplicas))
		}
		require.True(t, time.Now().Before(deadline), "after 3m: %v", waiting)
		time.Sleep(2 * time.Second)
	}
}

// cpuUtilization is an HPA's current average CPU utilization, or nil while
// it has none (kubectl's <unknown>).
func cpuUtilization(h autoscalingv2.HorizontalPodAutoscaler) *int32 {
	for _, m := range h.Status.CurrentMetrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU {
			return m.Resource.Current.AverageUtilization
		}
	}
	return nil
}
