// Package jenkins provides the Jenkins component: the controller from the
// official chart (pinned, mirrored, plugins pinned), configured only by the
// reviewed configuration as code in ci-cd/jenkins, with its agents' service
// accounts: the deployer may roll the apps' namespace through the
// namespaced deployer role and nothing else; the builder has no API access.
package jenkins

import (
	"errors"
	"fmt"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	pipelines "github.com/intelliflow/platform/ci-cd/jenkins"
	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/components/rbac"
)

// ChartVersion pins the official chart; ControllerVersion its Jenkins LTS.
const (
	ChartVersion      = "5.8.73"
	ControllerVersion = "2.516.2-lts-jdk21"
)

// Plugins are pinned: what the pipelines and casc.yaml use, nothing more.
var Plugins = []string{
	"kubernetes:4358.vcfd9c5a_0a_f51", "workflow-aggregator:608.v67378e9d3db_1", "git:5.7.0",
	"configuration-as-code:1971.vf9280461ea_89", "job-dsl:1.92", "hashicorp-vault-plugin:371.v884a_4dd60fb_6",
	"oic-auth:4.609.v9de140f63d01", "role-strategy:756.v978cb_392eb_d3", "sonar:2.18", "slack:761.v2a_8770f0d169",
	"pipeline-github:2.8-162.382498405fdc",
}

// Account names the agents run as (casc.yaml's pod templates).
const (
	ControllerAccount = "jenkins"
	DeployerAccount   = "jenkins-deployer"
	BuilderAccount    = "jenkins-builder"
)

// Args configures Jenkins.
type Args struct {
	// Namespace (its name) and NamespaceReady hold the controller and the
	// agents; AppNamespace is where the deployer may roll the apps.
	Namespace      string
	NamespaceReady pulumi.StringInput
	AppNamespace   string
	// ChartRepository and ImageRegistry are the platform's mirrors.
	ChartRepository, ImageRegistry string
	// StorageGiB holds the controller's home (jobs, build history).
	StorageGiB int
	// AdminPassword is the local admin's (a Pulumi secret): break-glass
	// only, people log in through OIDC. Without it the chart would make up
	// a new one on every render (or look the old one up in the cluster).
	AdminPassword pulumi.StringInput
}

// AdminSecret holds the admin's user and password (the chart's keys).
const AdminSecret = "jenkins-admin"

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	if a.Namespace == "" || a.NamespaceReady == nil || a.AppNamespace == "" {
		errs = append(errs, errors.New("Namespace, NamespaceReady and AppNamespace are required"))
	}
	if chart.ValidRepository(a.ChartRepository) != nil || a.ImageRegistry == "" {
		errs = append(errs, fmt.Errorf("ChartRepository %q and ImageRegistry are required", a.ChartRepository))
	}
	if a.AdminPassword == nil {
		errs = append(errs, errors.New("AdminPassword is required"))
	}
	if a.StorageGiB < 10 {
		errs = append(errs, fmt.Errorf("StorageGiB %d, want at least 10", a.StorageGiB))
	}
	return errors.Join(errs...)
}

// Values are the chart values.
func (a *Args) Values() pulumi.Map {
	reg := strings.TrimSuffix(a.ImageRegistry, "/")
	return pulumi.Map{
		"controller": pulumi.Map{
			"image": pulumi.Map{"registry": pulumi.String(reg), "repository": pulumi.String("jenkins/jenkins"), "tag": pulumi.String(ControllerVersion)},
			// Plugins are pinned here, installed from the mirror's update
			// center, never updated behind review.
			"installPlugins":                pulumi.ToStringArray(Plugins),
			"installLatestPlugins":          pulumi.Bool(false),
			"installLatestSpecifiedPlugins": pulumi.Bool(false),
			"JCasC": pulumi.Map{
				"defaultConfig": pulumi.Bool(false),
				"configScripts": pulumi.Map{"intelliflow": pulumi.String(pipelines.CasC)},
			},
			"resources": pulumi.Map{
				"requests": pulumi.Map{"cpu": pulumi.String("500m"), "memory": pulumi.String("2Gi")},
				"limits":   pulumi.Map{"memory": pulumi.String("4Gi")},
			},
			"numExecutors": pulumi.Int(0),
			// The kubernetes plugin starts the agents' pods.
			"podAnnotations": chart.CallsAPI(),
			// Restricted, as the image's jenkins user (1000); its home is
			// the volume, the rest read-only.
			"podSecurityContextOverride": chart.RestrictedPod(1000, 1000),
			"containerSecurityContext":   chart.RestrictedContainer(),
			// The sidecar that reloads casc.yaml, from our mirror.
			"sidecars": pulumi.Map{"configAutoReload": pulumi.Map{
				"image":                    pulumi.Map{"registry": pulumi.String(reg)},
				"resources":                chart.Resources("20m", "128Mi"),
				"containerSecurityContext": chart.RestrictedContainer(),
			}},
			"admin": pulumi.Map{"existingSecret": pulumi.String(AdminSecret), "createSecret": pulumi.Bool(false)},
		},
		"serviceAccount": pulumi.Map{"create": pulumi.Bool(true), "name": pulumi.String(ControllerAccount)},
		"persistence":    pulumi.Map{"enabled": pulumi.Bool(true), "size": pulumi.Sprintf("%dGi", a.StorageGiB)},
		// The agents' pod templates live in casc.yaml.
		"agent": pulumi.Map{"enabled": pulumi.Bool(false)},
	}
}

// Jenkins is the installed controller.
type Jenkins struct {
	pulumi.ResourceState
}

// New installs the controller, the agents' accounts and the network rules.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Jenkins, error) {
	if args == nil {
		return nil, fmt.Errorf("jenkins %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("jenkins %q: %w", name, err)
	}
	j := &Jenkins{}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:Jenkins", name, j, opts...); err != nil {
		return nil, fmt.Errorf("jenkins %q: %w", name, err)
	}
	parent := pulumi.Parent(j)
	wrap := func(child string, err error) error { return fmt.Errorf("jenkins %q: %s: %w", name, child, err) }
	labels := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}

	// The agents' identities: the deployer rolls the apps' namespace, the
	// builder builds and scans and calls no API.
	for _, sa := range []string{DeployerAccount, BuilderAccount} {
		if _, err := corev1.NewServiceAccount(ctx, name+"-"+sa, &corev1.ServiceAccountArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(sa), Namespace: args.NamespaceReady, Labels: labels},
			// The deployer's pods call the API (rollout status); the
			// builder's never mount a token.
			AutomountServiceAccountToken: pulumi.Bool(sa == DeployerAccount),
		}, parent); err != nil {
			return nil, wrap(sa, err)
		}
	}
	if _, err := rbacv1.NewRoleBinding(ctx, name+"-deployer", &rbacv1.RoleBindingArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(DeployerAccount), Namespace: pulumi.String(args.AppNamespace), Labels: labels},
		RoleRef:  &rbacv1.RoleRefArgs{ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("Role"), Name: pulumi.String(rbac.DeployerRole)},
		Subjects: rbacv1.SubjectArray{&rbacv1.SubjectArgs{Kind: pulumi.String("ServiceAccount"), Name: pulumi.String(DeployerAccount), Namespace: pulumi.String(args.Namespace)}},
	}, parent); err != nil {
		return nil, wrap("deployer binding", err)
	}

	// In the default-deny namespace: the agents call the controller (8080,
	// 50000); both leave on 443 (git, the registry, SonarQube, Slack, the
	// API) or to Vault. The controller's policy is its own; the agents'
	// pods come and go with the builds, so theirs selects every other pod.
	controller := map[string]string{"app.kubernetes.io/component": "jenkins-controller"}
	out := []*networkingv1.NetworkPolicyEgressRuleArgs{
		namespace.To(namespace.CIDRs("0.0.0.0/0"), namespace.TCP(443)),
		namespace.To(namespace.Namespaces("intelliflow-security"), namespace.TCP(8200)),
	}
	if _, err := namespace.NewPodPolicy(ctx, name+"-controller", namespace.PodPolicy{
		Name: "jenkins-controller", Namespace: args.NamespaceReady, Labels: labels, Pods: controller,
		Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{namespace.From(namespace.Pods(map[string]string{}), namespace.TCP(8080, 50000))},
		Egress:  out,
	}, parent); err != nil {
		return nil, wrap("network policy", err)
	}
	if _, err := networkingv1.NewNetworkPolicy(ctx, name, &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("jenkins-agents"), Namespace: args.NamespaceReady, Labels: labels},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchExpressions: metav1.LabelSelectorRequirementArray{&metav1.LabelSelectorRequirementArgs{
				Key: pulumi.String("app.kubernetes.io/component"), Operator: pulumi.String("NotIn"), Values: pulumi.ToStringArray([]string{controller["app.kubernetes.io/component"]}),
			}}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Egress:      append(networkingv1.NetworkPolicyEgressRuleArray{namespace.To(namespace.Pods(controller), namespace.TCP(8080, 50000))}, out[0], out[1]),
		},
	}, parent); err != nil {
		return nil, wrap("agents' network policy", err)
	}
	admin, err := corev1.NewSecret(ctx, name+"-admin", &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(AdminSecret), Namespace: args.NamespaceReady, Labels: labels},
		StringData: pulumi.StringMap{
			"jenkins-admin-user":     pulumi.String("admin"),
			"jenkins-admin-password": pulumi.ToSecret(args.AdminPassword).(pulumi.StringOutput),
		},
	}, parent)
	if err != nil {
		return nil, wrap("admin secret", err)
	}
	if _, err := chart.New(ctx, name, chart.Args{
		Chart: "jenkins", Release: "jenkins", Version: ChartVersion, Namespace: args.NamespaceReady,
		Repository: args.ChartRepository,
		Values:     args.Values(),
	}, parent, pulumi.DependsOn([]pulumi.Resource{admin})); err != nil {
		return nil, wrap("chart", err)
	}
	if err := ctx.RegisterResourceOutputs(j, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return j, nil
}
