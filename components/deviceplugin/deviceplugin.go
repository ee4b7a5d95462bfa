// Package deviceplugin provides the NVIDIA device plugin: the DaemonSet that
// advertises each GPU node's nvidia.com/gpu capacity to the kubelet, without
// which a pod asking for a GPU stays Pending. It runs only on GPU nodes
// (their label and taint), as locked down as its job allows: it must write
// its socket into the kubelet's device-plugins folder on the host, which
// needs root and a hostPath volume, so it is a named exception to the
// restricted Pod Security profile (policy/exceptions) and runs in
// kube-system, never in a platform namespace. It needs no network: the
// kubelet reaches it over that socket, so its NetworkPolicy denies all.
package deviceplugin

import (
	"errors"
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/namespace"
)

// Name is the Kubernetes name of every object, and the Pulumi name the
// policy exceptions refer to.
const Name = "nvidia-device-plugin"

// Namespace is where node agents run.
const Namespace = "kube-system"

// SocketDir is the kubelet's device-plugin folder on the host.
const SocketDir = "/var/lib/kubelet/device-plugins"

// Args configures the plugin.
type Args struct {
	// Image is the plugin image, mirrored into the platform's registry.
	Image string
	// NodeSelector selects the GPU nodes (the node groups' GPU labels).
	NodeSelector map[string]string
	// TaintKey is the GPU taint the plugin tolerates.
	TaintKey string
}

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	if a.Image == "" {
		errs = append(errs, errors.New("Image is required"))
	}
	if len(a.NodeSelector) == 0 {
		errs = append(errs, errors.New("NodeSelector: the plugin runs on GPU nodes only"))
	}
	if a.TaintKey == "" {
		errs = append(errs, errors.New("TaintKey: GPU nodes are tainted; name the taint to tolerate"))
	}
	return errors.Join(errs...)
}

// DevicePlugin is the created plugin.
type DevicePlugin struct {
	pulumi.ResourceState
}

// New creates the ServiceAccount, the deny-all NetworkPolicy and the DaemonSet.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*DevicePlugin, error) {
	if args == nil {
		return nil, fmt.Errorf("device plugin %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("device plugin %q: %w", name, err)
	}
	d := &DevicePlugin{}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:DevicePlugin", name, d, opts...); err != nil {
		return nil, fmt.Errorf("device plugin %q: %w", name, err)
	}
	parent := pulumi.Parent(d)
	wrap := func(child string, err error) error { return fmt.Errorf("device plugin %q: %s: %w", name, child, err) }
	labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(Name), "app.kubernetes.io/part-of": pulumi.String("intelliflow")}
	selector := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(Name)}
	meta := &metav1.ObjectMetaArgs{Name: pulumi.String(Name), Namespace: pulumi.String(Namespace), Labels: labels}

	sa, err := corev1.NewServiceAccount(ctx, Name, &corev1.ServiceAccountArgs{
		Metadata: meta, AutomountServiceAccountToken: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return nil, wrap("service account", err)
	}
	// No rule: no traffic in or out.
	if _, err := namespace.NewPodPolicy(ctx, Name, namespace.PodPolicy{
		Name: Name, Namespace: pulumi.String(Namespace), Labels: labels, Pods: map[string]string{"app.kubernetes.io/name": Name},
	}, parent); err != nil {
		return nil, wrap("network policy", err)
	}
	no, yes := pulumi.Bool(false), pulumi.Bool(true)
	if _, err := appsv1.NewDaemonSet(ctx, Name, &appsv1.DaemonSetArgs{
		Metadata: meta,
		Spec: &appsv1.DaemonSetSpecArgs{
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: selector},
			UpdateStrategy: &appsv1.DaemonSetUpdateStrategyArgs{Type: pulumi.String("RollingUpdate"), RollingUpdate: &appsv1.RollingUpdateDaemonSetArgs{MaxUnavailable: pulumi.Int(1)}},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:           sa.Metadata.Name().Elem(),
					AutomountServiceAccountToken: no,
					// Evicting it would make every GPU unschedulable.
					PriorityClassName: pulumi.String("system-node-critical"),
					NodeSelector:      pulumi.ToStringMap(args.NodeSelector),
					Tolerations: corev1.TolerationArray{&corev1.TolerationArgs{
						Key: pulumi.String(args.TaintKey), Operator: pulumi.String("Exists"), Effect: pulumi.String("NoSchedule"),
					}},
					SecurityContext: &corev1.PodSecurityContextArgs{SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")}},
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:  pulumi.String("device-plugin"),
						Image: pulumi.String(args.Image),
						Env: corev1.EnvVarArray{
							// A node whose driver is broken shows up as a
							// crash-looping pod, not as a node with no GPUs.
							&corev1.EnvVarArgs{Name: pulumi.String("FAIL_ON_INIT_ERROR"), Value: pulumi.String("true")},
						},
						SecurityContext: &corev1.SecurityContextArgs{
							// Root only to write the socket into the
							// root-owned host folder; nothing else.
							RunAsUser: pulumi.Int(0), RunAsNonRoot: no,
							Privileged: no, AllowPrivilegeEscalation: no, ReadOnlyRootFilesystem: yes,
							Capabilities: &corev1.CapabilitiesArgs{Drop: pulumi.ToStringArray([]string{"ALL"})},
						},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("32Mi"), "ephemeral-storage": pulumi.String("16Mi")},
							Limits:   pulumi.StringMap{"memory": pulumi.String("128Mi"), "ephemeral-storage": pulumi.String("64Mi")},
						},
						VolumeMounts: corev1.VolumeMountArray{&corev1.VolumeMountArgs{Name: pulumi.String("device-plugins"), MountPath: pulumi.String(SocketDir)}},
					}},
					Volumes: corev1.VolumeArray{&corev1.VolumeArgs{
						Name:     pulumi.String("device-plugins"),
						HostPath: &corev1.HostPathVolumeSourceArgs{Path: pulumi.String(SocketDir), Type: pulumi.String("Directory")},
					}},
				},
			},
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{sa})); err != nil {
		return nil, wrap("daemon set", err)
	}
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return d, nil
}
