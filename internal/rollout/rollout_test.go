package rollout

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func objects(available int32) []any {
	labels := map[string]string{"app.kubernetes.io/name": "transactions"}
	three := int32(3)
	pod := func(name string, ready bool, cond corev1.PodCondition) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "intelliflow-dev", Labels: labels}}
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}, cond}
		p.Status.Phase = corev1.PodPending
		return p
	}
	unschedulable := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/5 nodes are available: 2 node(s) had untolerated taint(s), 3 node(s) didn't match pod anti-affinity rules."}
	return []any{
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "transactions", Namespace: "intelliflow-dev"},
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}},
			Status:     appsv1.DeploymentStatus{AvailableReplicas: available},
		},
		&autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "transactions", Namespace: "intelliflow-dev"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: &three,
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "transactions"}},
		},
		pod("a", true, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}),
		pod("b", false, unschedulable),
		pod("c", false, unschedulable),
	}
}

// TestShortfallSaysWhy: below the HPA's minimum, the Deployment is named
// with the scheduler's reason, counted once per distinct reason; at the
// minimum nothing is reported, and the wait is bounded.
func TestShortfallSaysWhy(t *testing.T) {
	client := fake.NewClientset()
	ctx := context.Background()
	for _, o := range objects(1) {
		switch v := o.(type) {
		case *appsv1.Deployment:
			_, err := client.AppsV1().Deployments(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
			require.NoError(t, err)
		case *autoscalingv2.HorizontalPodAutoscaler:
			_, err := client.AutoscalingV2().HorizontalPodAutoscalers(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
			require.NoError(t, err)
		case *corev1.Pod:
			_, err := client.CoreV1().Pods(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
			require.NoError(t, err)
		}
	}
	start := time.Now()
	short, err := Wait(ctx, client, []string{"intelliflow-dev"}, 3*time.Second)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 10*time.Second, "bounded")
	require.Len(t, short, 1)
	require.Equal(t, "intelliflow-dev/transactions: 1 of at least 3 pods available: 2 pod(s) Pending (Unschedulable): 0/5 nodes are available: 2 node(s) had untolerated taint(s), 3 node(s) didn't match pod anti-affinity rules.", short[0].String())

	d, err := client.AppsV1().Deployments("intelliflow-dev").Get(ctx, "transactions", metav1.GetOptions{})
	require.NoError(t, err)
	// withStatus writes d's status and checks again.
	withStatus := func() []Shortfall {
		t.Helper()
		_, err := client.AppsV1().Deployments("intelliflow-dev").UpdateStatus(ctx, d, metav1.UpdateOptions{})
		require.NoError(t, err)
		short, err := Check(ctx, client, []string{"intelliflow-dev"})
		require.NoError(t, err)
		return short
	}
	d.Status.AvailableReplicas = 3
	short = withStatus()
	require.Empty(t, short)

	// An update whose surge pod cannot be placed: the old pods still
	// serve the minimum, but the rollout is not done, and says so.
	d.Generation, d.Status.ObservedGeneration = 2, 2
	d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas = 4, 1, 3
	short = withStatus()
	require.Len(t, short, 1)
	require.Contains(t, short[0].String(), "intelliflow-dev/transactions: 3 of at least 3 pods available, rollout not done: 1 on the new version, 3 old: 2 pod(s) Pending (Unschedulable)")

	// A template the controller has not seen yet is not rolled out either.
	d.Generation, d.Status.ObservedGeneration = 3, 2
	d.Status.Replicas, d.Status.UpdatedReplicas = 3, 3
	short = withStatus()
	require.Len(t, short, 1)
	require.Contains(t, short[0].String(), "the new version not yet seen by the controller")
}
