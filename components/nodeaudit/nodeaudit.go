// Package nodeaudit checks the nodes against the CIS Kubernetes benchmark:
// kube-bench's node checks (the kubelet's flags, config and file
// permissions), nightly, as a CronJob of the stack itself. The checks read
// the kubelet's process and files on the host, so the pod shares the
// host's PID namespace and mounts those files read-only, as root: no
// restricted namespace may run it, so it runs in the node agents'
// namespace (Falco's: Pod Security privileged, exempt from Gatekeeper, a
// named exception in policy/exceptions). It is reviewed here and deployed
// by the engine, never created by a pipeline: the nightly security
// pipeline only reads the newest run's report (its log) through a
// read-only Role, so no CI identity can start a pod on a node's host.
// It needs no network: its NetworkPolicy denies all.
package nodeaudit

import (
	"errors"
	"fmt"
	"strings"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/namespace"
)

// Name is the Kubernetes name of every object, and the Pulumi name the
// policy exceptions refer to.
const Name = "kube-bench"

// NamespaceException is why the node agents' namespace also runs below
// restricted for these checks (recorded on the namespace beside Falco's).
const NamespaceException = "kube-bench's CIS node checks read the kubelet's process and its root-only files on the host, read-only"

// Version is the kube-bench release the image is mirrored at.
const Version = "v0.10.4"

// Benchmark is the CIS benchmark the checks follow: EKS's, whose node
// section is what an EKS customer controls (the control plane is AWS's).
const Benchmark = "eks-1.5.0"

// Schedule runs the checks before the nightly security pipeline (02:xx).
const Schedule = "30 1 * * *"

// HostPaths are the host folders the node checks read: the kubelet's
// config and credentials, its systemd unit, and the cluster's config.
var HostPaths = []string{"/var/lib/kubelet", "/etc/systemd", "/etc/kubernetes"}

// Args configures the checks.
type Args struct {
	// Namespace (its name) and NamespaceReady: the node agents' namespace.
	Namespace      string
	NamespaceReady pulumi.StringInput
	// Image is kube-bench's, mirrored into the platform's registry.
	Image string
	// Readers may read the runs' reports (jobs, pods, their logs):
	// ServiceAccounts as namespace/name, the security pipeline's.
	Readers []string
	// TolerateTaints lets the checks land on tainted nodes too (GPU).
	TolerateTaints []string
}

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	if a.Namespace == "" || a.NamespaceReady == nil {
		errs = append(errs, errors.New("Namespace and NamespaceReady are required"))
	}
	if a.Image == "" {
		errs = append(errs, errors.New("Image is required"))
	}
	for _, r := range a.Readers {
		if ns, n, ok := strings.Cut(r, "/"); !ok || ns == "" || n == "" {
			errs = append(errs, fmt.Errorf("Readers: %q is not namespace/name", r))
		}
	}
	return errors.Join(errs...)
}

// NodeAudit is the created CronJob and its access.
type NodeAudit struct {
	pulumi.ResourceState
}

// New creates the ServiceAccount, the deny-all NetworkPolicy, the CronJob
// and the readers' Role.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*NodeAudit, error) {
	if args == nil {
		return nil, fmt.Errorf("node audit %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("node audit %q: %w", name, err)
	}
	d := &NodeAudit{}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:NodeAudit", name, d, opts...); err != nil {
		return nil, fmt.Errorf("node audit %q: %w", name, err)
	}
	parent := pulumi.Parent(d)
	wrap := func(child string, err error) error { return fmt.Errorf("node audit %q: %s: %w", name, child, err) }
	labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(Name), "app.kubernetes.io/part-of": pulumi.String("intelliflow")}
	meta := &metav1.ObjectMetaArgs{Name: pulumi.String(Name), Namespace: args.NamespaceReady, Labels: labels}

	sa, err := corev1.NewServiceAccount(ctx, Name, &corev1.ServiceAccountArgs{
		Metadata: meta, AutomountServiceAccountToken: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return nil, wrap("service account", err)
	}
	// No rule: no traffic in or out.
	if _, err := namespace.NewPodPolicy(ctx, Name, namespace.PodPolicy{
		Name: Name, Namespace: args.NamespaceReady, Labels: labels, Pods: map[string]string{"app.kubernetes.io/name": Name},
	}, parent); err != nil {
		return nil, wrap("network policy", err)
	}
	var tolerations corev1.TolerationArray
	for _, k := range args.TolerateTaints {
		tolerations = append(tolerations, &corev1.TolerationArgs{Key: pulumi.String(k), Operator: pulumi.String("Exists"), Effect: pulumi.String("NoSchedule")})
	}
	var mounts corev1.VolumeMountArray
	var volumes corev1.VolumeArray
	for i, p := range HostPaths {
		v := fmt.Sprintf("host-%d", i)
		mounts = append(mounts, &corev1.VolumeMountArgs{Name: pulumi.String(v), MountPath: pulumi.String(p), ReadOnly: pulumi.Bool(true)})
		volumes = append(volumes, &corev1.VolumeArgs{Name: pulumi.String(v), HostPath: &corev1.HostPathVolumeSourceArgs{Path: pulumi.String(p)}})
	}
	no, yes := pulumi.Bool(false), pulumi.Bool(true)
	if _, err := batchv1.NewCronJob(ctx, Name, &batchv1.CronJobArgs{
		Metadata: meta,
		Spec: &batchv1.CronJobSpecArgs{
			Schedule:          pulumi.String(Schedule),
			ConcurrencyPolicy: pulumi.String("Forbid"),
			// The reader takes the newest finished run; a few more are kept
			// to compare nights.
			SuccessfulJobsHistoryLimit: pulumi.Int(3),
			FailedJobsHistoryLimit:     pulumi.Int(3),
			JobTemplate: &batchv1.JobTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &batchv1.JobSpecArgs{
					BackoffLimit:          pulumi.Int(1),
					ActiveDeadlineSeconds: pulumi.Int(600),
					Template: &corev1.PodTemplateSpecArgs{
						Metadata: &metav1.ObjectMetaArgs{Labels: labels},
						Spec: &corev1.PodSpecArgs{
							ServiceAccountName:           sa.Metadata.Name().Elem(),
							AutomountServiceAccountToken: no,
							RestartPolicy:                pulumi.String("Never"),
							// The kubelet's processes and their flags.
							HostPID:         yes,
							Tolerations:     tolerations,
							SecurityContext: &corev1.PodSecurityContextArgs{SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")}},
							Containers: corev1.ContainerArray{&corev1.ContainerArgs{
								Name:    pulumi.String(Name),
								Image:   pulumi.String(args.Image),
								Command: pulumi.ToStringArray([]string{"kube-bench", "run", "--targets", "node", "--benchmark", Benchmark, "--json"}),
								SecurityContext: &corev1.SecurityContextArgs{
									// Root to read the kubelet's root-only
									// files (their owner's read bit; no
									// capability); nothing is written.
									RunAsUser: pulumi.Int(0), RunAsNonRoot: no,
									Privileged: no, AllowPrivilegeEscalation: no, ReadOnlyRootFilesystem: yes,
									Capabilities: &corev1.CapabilitiesArgs{Drop: pulumi.ToStringArray([]string{"ALL"})},
								},
								Resources: &corev1.ResourceRequirementsArgs{
									Requests: pulumi.StringMap{"cpu": pulumi.String("50m"), "memory": pulumi.String("64Mi"), "ephemeral-storage": pulumi.String("16Mi")},
									Limits:   pulumi.StringMap{"memory": pulumi.String("256Mi"), "ephemeral-storage": pulumi.String("64Mi")},
								},
								VolumeMounts: mounts,
							}},
							Volumes: volumes,
						},
					},
				},
			},
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{sa})); err != nil {
		return nil, wrap("cron job", err)
	}
	if len(args.Readers) > 0 {
		reader := Name + "-reports"
		if _, err := rbacv1.NewRole(ctx, reader, &rbacv1.RoleArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(reader), Namespace: args.NamespaceReady, Labels: labels},
			// Read only: jobs to find the newest run, its pod, its log.
			Rules: rbacv1.PolicyRuleArray{
				&rbacv1.PolicyRuleArgs{ApiGroups: pulumi.ToStringArray([]string{"batch"}), Resources: pulumi.ToStringArray([]string{"jobs"}), Verbs: pulumi.ToStringArray([]string{"get", "list"})},
				&rbacv1.PolicyRuleArgs{ApiGroups: pulumi.ToStringArray([]string{""}), Resources: pulumi.ToStringArray([]string{"pods", "pods/log"}), Verbs: pulumi.ToStringArray([]string{"get", "list"})},
			},
		}, parent); err != nil {
			return nil, wrap("readers' role", err)
		}
		var subjects rbacv1.SubjectArray
		for _, r := range args.Readers {
			ns, n, _ := strings.Cut(r, "/")
			subjects = append(subjects, &rbacv1.SubjectArgs{Kind: pulumi.String("ServiceAccount"), Name: pulumi.String(n), Namespace: pulumi.String(ns)})
		}
		if _, err := rbacv1.NewRoleBinding(ctx, reader, &rbacv1.RoleBindingArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(reader), Namespace: args.NamespaceReady, Labels: labels},
			RoleRef:  &rbacv1.RoleRefArgs{ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("Role"), Name: pulumi.String(reader)},
			Subjects: subjects,
		}, parent); err != nil {
			return nil, wrap("readers' binding", err)
		}
	}
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return d, nil
}
