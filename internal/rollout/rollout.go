// Package rollout checks a cluster after an update: every Deployment has
// rolled out (all its pods on the current template, none of the old left)
// and runs at least its HPA's minimum of available pods, and where one does
// not, the pods that are not running say why (the scheduler's or the
// kubelet's words). The engine's own wait ends when a new Deployment has its
// first pod, and has been seen to end on an update whose surge pod could not
// be placed while the old pods still served; the HPA owns the count after
// that. Without this check pods Pending for lack of GPUs or hosts pass
// unnoticed, and a smoke test would pass on the old version.
package rollout

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Shortfall is a Deployment below its minimum, or not rolled out.
type Shortfall struct {
	Namespace, Deployment string
	Available, Want       int32
	// Updated pods run the current template; Old the ones before it.
	Updated, Old int32
	// Stale: the controller has not yet seen the current template.
	Stale bool
	// Reasons are the not-running pods' reasons, one line per distinct one.
	Reasons []string
}

func (s Shortfall) String() string {
	out := fmt.Sprintf("%s/%s: %d of at least %d pods available", s.Namespace, s.Deployment, s.Available, s.Want)
	switch {
	case s.Stale:
		out += ", the new version not yet seen by the controller"
	case s.Old > 0:
		out += fmt.Sprintf(", rollout not done: %d on the new version, %d old", s.Updated, s.Old)
	}
	if len(s.Reasons) > 0 {
		out += ": " + strings.Join(s.Reasons, "; ")
	}
	return out
}

// Wait polls until every Deployment in namespaces runs its minimum (the
// HPA's minReplicas, else spec.replicas, else 1) or timeout passes, and
// returns what is still short then (nil when none is).
func Wait(ctx context.Context, client kubernetes.Interface, namespaces []string, timeout time.Duration) ([]Shortfall, error) {
	deadline := time.Now().Add(timeout)
	for {
		short, err := Check(ctx, client, namespaces)
		if err != nil || len(short) == 0 || time.Now().After(deadline) {
			return short, err
		}
		select {
		case <-ctx.Done():
			return short, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// Check reports every Deployment below its minimum now.
func Check(ctx context.Context, client kubernetes.Interface, namespaces []string) ([]Shortfall, error) {
	var out []Shortfall
	for _, ns := range namespaces {
		deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list Deployments in %s: %w", ns, err)
		}
		hpas, err := client.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list HPAs in %s: %w", ns, err)
		}
		for _, d := range deps.Items {
			want := minimum(d, hpas.Items)
			st := d.Status
			s := Shortfall{Namespace: ns, Deployment: d.Name, Available: st.AvailableReplicas, Want: want,
				Updated: st.UpdatedReplicas, Old: st.Replicas - st.UpdatedReplicas, Stale: st.ObservedGeneration < d.Generation}
			// Rolled out as `kubectl rollout status` means it: every pod on
			// the current template, and the minimum available.
			if !s.Stale && s.Old <= 0 && st.AvailableReplicas >= want {
				continue
			}
			if s.Reasons, err = notRunning(ctx, client, d); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func minimum(d appsv1.Deployment, hpas []autoscalingv2.HorizontalPodAutoscaler) int32 {
	for _, h := range hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name && h.Spec.MinReplicas != nil {
			return *h.Spec.MinReplicas
		}
	}
	if d.Spec.Replicas != nil {
		return *d.Spec.Replicas
	}
	return 1
}

// notRunning is why the Deployment's pods are not ready: a pod the
// scheduler cannot place carries its message on PodScheduled; a placed one
// its containers' waiting reasons.
func notRunning(ctx context.Context, client kubernetes.Interface, d appsv1.Deployment) ([]string, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods of %s/%s: %w", d.Namespace, d.Name, err)
	}
	count := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || PodReady(p) {
			continue
		}
		count[reason(p)]++
	}
	var out []string
	for r, n := range count {
		out = append(out, fmt.Sprintf("%d pod(s) %s", n, r))
	}
	sort.Strings(out)
	return out, nil
}

// PodReady says whether the pod's Ready condition is true.
func PodReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func reason(p corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return fmt.Sprintf("%s (%s): %s", p.Status.Phase, c.Reason, c.Message)
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil {
			return fmt.Sprintf("%s on %s: container %s %s: %s", p.Status.Phase, p.Spec.NodeName, cs.Name, w.Reason, w.Message)
		}
	}
	return fmt.Sprintf("%s on %s: not ready", p.Status.Phase, p.Spec.NodeName)
}
