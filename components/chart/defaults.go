package chart

import (
	"context"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// DrainSeconds is how long a chart container keeps serving after its pod
// is marked for deletion, while endpoints and load balancers stop sending
// to it: the platform's own services wait the same.
const DrainSeconds = 5

// PlatformDefaults gives every object a chart renders what the platform's
// own workloads have and charts seldom expose as values (most expose none
// of it, and no two alike):
//
//   - a PodDisruptionBudget lets crash-looping pods be evicted
//     (unhealthyPodEvictionPolicy AlwaysAllow), or they block node drains
//     (REL-02);
//   - a Deployment rolls out without lowering what serves
//     (maxUnavailable 0), and every container waits DrainSeconds before
//     it stops (a preStop sleep), so traffic drains first (REL-05).
//
// It applies to the chart's children as the engine registers them; what
// a chart sets itself is kept.
func PlatformDefaults(_ context.Context, a *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
	spec, ok := a.Props["spec"].(pulumi.Map)
	if !ok {
		return nil
	}
	switch a.Type {
	case "kubernetes:policy/v1:PodDisruptionBudget":
		spec["unhealthyPodEvictionPolicy"] = pulumi.String("AlwaysAllow")
	case "kubernetes:apps/v1:Deployment":
		strategy, _ := spec["strategy"].(pulumi.Map)
		if strategy == nil {
			strategy = pulumi.Map{}
			spec["strategy"] = strategy
		}
		if t, ok := strategy["type"].(pulumi.String); ok && t != "RollingUpdate" {
			break // Recreate: a singleton that must never run twice
		}
		strategy["type"] = pulumi.String("RollingUpdate")
		rolling, _ := strategy["rollingUpdate"].(pulumi.Map)
		if rolling == nil {
			rolling = pulumi.Map{}
			strategy["rollingUpdate"] = rolling
		}
		rolling["maxUnavailable"] = pulumi.Int(0)
		if _, ok := rolling["maxSurge"]; !ok {
			rolling["maxSurge"] = pulumi.Int(1)
		}
		drain(spec)
	case "kubernetes:apps/v1:StatefulSet":
		drain(spec)
	default:
		return nil
	}
	return &pulumi.ResourceTransformResult{Props: a.Props, Opts: a.Opts}
}

// drain gives every container of the pod template a preStop sleep of
// DrainSeconds where it has no preStop of its own.
func drain(spec pulumi.Map) {
	tmpl, _ := spec["template"].(pulumi.Map)
	pod, _ := tmpl["spec"].(pulumi.Map)
	containers, _ := pod["containers"].(pulumi.Array)
	for _, c := range containers {
		container, ok := c.(pulumi.Map)
		if !ok {
			continue
		}
		lifecycle, _ := container["lifecycle"].(pulumi.Map)
		if lifecycle == nil {
			lifecycle = pulumi.Map{}
			container["lifecycle"] = lifecycle
		}
		if _, ok := lifecycle["preStop"]; !ok {
			lifecycle["preStop"] = pulumi.Map{"sleep": pulumi.Map{"seconds": pulumi.Int(DrainSeconds)}}
		}
	}
}

// RestrictedPod is a pod security context that passes the restricted Pod
// Security Standard, for chart values: a non-root user and group (the
// image's own where its files are owned by it) and the runtime's default
// seccomp profile.
func RestrictedPod(uid, gid int) pulumi.Map {
	return pulumi.Map{
		"runAsNonRoot": pulumi.Bool(true), "runAsUser": pulumi.Int(uid), "runAsGroup": pulumi.Int(gid), "fsGroup": pulumi.Int(gid),
		"seccompProfile": pulumi.Map{"type": pulumi.String("RuntimeDefault")},
	}
}

// RestrictedContainer is a container security context that passes the
// restricted Pod Security Standard with a read-only root filesystem
// (scratch space comes from an emptyDir).
func RestrictedContainer() pulumi.Map {
	return pulumi.Map{
		"allowPrivilegeEscalation": pulumi.Bool(false), "readOnlyRootFilesystem": pulumi.Bool(true), "runAsNonRoot": pulumi.Bool(true),
		"capabilities":   pulumi.Map{"drop": pulumi.ToStringArray([]string{"ALL"})},
		"seccompProfile": pulumi.Map{"type": pulumi.String("RuntimeDefault")},
	}
}

// Scratch is an emptyDir volume named name of at most size, for a chart's
// volumes value.
func Scratch(name, size string) pulumi.Map {
	return pulumi.Map{"name": pulumi.String(name), "emptyDir": pulumi.Map{"sizeLimit": pulumi.String(size)}}
}

// Budget is the podDisruptionBudget value of the charts that spell it
// {enabled, maxUnavailable}: on, one pod at a time.
func Budget() pulumi.Map {
	return pulumi.Map{"enabled": pulumi.Bool(true), "maxUnavailable": pulumi.Int(1)}
}

// Resources requests cpu and memory and limits memory to the request, the
// platform's shape for a chart container.
func Resources(cpu, memory string) pulumi.Map {
	return pulumi.Map{
		"requests": pulumi.Map{"cpu": pulumi.String(cpu), "memory": pulumi.String(memory)},
		"limits":   pulumi.Map{"memory": pulumi.String(memory)},
	}
}

// WithoutToken is a transform that keeps the service account token out of
// the pods of the named Deployments, StatefulSets and DaemonSets: for chart
// workloads that never call the API and whose chart cannot say so. It is a
// list of names, not a default for every chart pod, so a controller left
// unannotated is still reported by the pack rather than starved of its
// token at run time.
func WithoutToken(names ...string) pulumi.ResourceTransform {
	return func(_ context.Context, a *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
		switch a.Type {
		case "kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet":
		default:
			return nil
		}
		meta, _ := a.Props["metadata"].(pulumi.Map)
		name, _ := meta["name"].(pulumi.String)
		if !slices.Contains(names, string(name)) {
			return nil
		}
		spec, _ := a.Props["spec"].(pulumi.Map)
		tmpl, _ := spec["template"].(pulumi.Map)
		pod, ok := tmpl["spec"].(pulumi.Map)
		if !ok {
			return nil
		}
		pod["automountServiceAccountToken"] = pulumi.Bool(false)
		return &pulumi.ResourceTransformResult{Props: a.Props, Opts: a.Opts}
	}
}
