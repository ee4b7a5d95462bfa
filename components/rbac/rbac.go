// Package rbac provides the platform's Kubernetes roles beyond the
// services' own ServiceAccounts, which get no API access at all: the ML
// role (the orchestrator runs training Jobs and rolls the fraud server to a
// new model), the CI/CD deployer (rolls the apps in one namespace; no
// cluster-admin, no Secrets) and the read-only viewers. People reach the
// deployer and viewer roles through groups their EKS access entries carry,
// so who holds a role is decided in AWS and what it may do is decided here.
// No rule uses "*" (RBAC-01) and none reads Secrets, execs into pods or
// escalates (RBAC-02).
package rbac

import (
	"errors"
	"fmt"
	"regexp"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Groups the EKS access entries put people and pipelines in.
const (
	DeployersGroup = "intelliflow:app-deployers"
	ViewersGroup   = "intelliflow:viewers"
)

// Role names.
const (
	MLRole       = "intelliflow-ml"
	DeployerRole = "intelliflow-deployer"
	ViewerRole   = "intelliflow-viewer"
)

// Rule is one RBAC rule.
type Rule struct {
	APIGroups, Resources, ResourceNames, Verbs []string
}

var read = []string{"get", "list", "watch"}

// MLRules let the orchestrator run training Jobs in its namespace, read
// their pods' logs, and roll the fraud server (patch its Deployment's
// template, which the model-version annotation changes).
func MLRules(servingDeployment string) []Rule {
	return []Rule{
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: read},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{servingDeployment}, Verbs: []string{"get", "patch"}},
	}
}

// DeployerRules let the pipeline roll the apps of one namespace and run its
// smoke tests: update Deployments (image digests) and watch them roll out,
// run smoke-test Jobs, read logs. Never Secrets, never exec.
func DeployerRules() []Rule {
	return []Rule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch", "patch", "update"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: read},
		{APIGroups: []string{""}, Resources: []string{"pods", "services", "configmaps", "events"}, Verbs: read},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: read},
	}
}

// ViewerRules let on-call read the platform's state everywhere, except
// Secrets.
func ViewerRules() []Rule {
	return []Rule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "nodes", "pods", "pods/log", "services", "endpoints", "configmaps", "events", "serviceaccounts", "resourcequotas", "limitranges", "persistentvolumeclaims"}, Verbs: read},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, Verbs: read},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: read},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: read},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: read},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies", "ingresses"}, Verbs: read},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"}, Verbs: read},
	}
}

// Args configures the roles.
type Args struct {
	// Namespace is the apps' namespace (its name, known now, for bindings).
	Namespace string
	// NamespaceReady orders the namespaced objects after the namespace.
	NamespaceReady pulumi.StringInput
	// MLServiceAccount runs training (the orchestrator); ServingDeployment
	// is what it rolls (fraud).
	MLServiceAccount, ServingDeployment string
	// TokenReviewer is the ServiceAccount (fraud) that asks the API server
	// whose token a caller sent (TokenReview, for /admin/reload): bound to
	// the built-in system:auth-delegator, which grants exactly that and
	// SubjectAccessReviews. Empty: none.
	TokenReviewer string
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	for field, v := range map[string]string{"Namespace": a.Namespace, "MLServiceAccount": a.MLServiceAccount, "ServingDeployment": a.ServingDeployment, "TokenReviewer": a.TokenReviewer} {
		if !nameRE.MatchString(v) && (field != "TokenReviewer" || v != "") {
			errs = append(errs, fmt.Errorf("%s %q is not a Kubernetes name", field, v))
		}
	}
	if a.NamespaceReady == nil {
		errs = append(errs, errors.New("NamespaceReady is required"))
	}
	return errors.Join(errs...)
}

// RBAC is the created roles and bindings.
type RBAC struct {
	pulumi.ResourceState
}

func toArgs(rules []Rule) rbacv1.PolicyRuleArray {
	var out rbacv1.PolicyRuleArray
	for _, r := range rules {
		pr := &rbacv1.PolicyRuleArgs{
			ApiGroups: pulumi.ToStringArray(r.APIGroups), Resources: pulumi.ToStringArray(r.Resources), Verbs: pulumi.ToStringArray(r.Verbs),
		}
		if len(r.ResourceNames) > 0 {
			pr.ResourceNames = pulumi.ToStringArray(r.ResourceNames)
		}
		out = append(out, pr)
	}
	return out
}

// New creates the roles and their bindings.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*RBAC, error) {
	if args == nil {
		return nil, fmt.Errorf("rbac %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("rbac %q: %w", name, err)
	}
	r := &RBAC{}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:RBAC", name, r, opts...); err != nil {
		return nil, fmt.Errorf("rbac %q: %w", name, err)
	}
	parent := pulumi.Parent(r)
	wrap := func(child string, err error) error { return fmt.Errorf("rbac %q: %s: %w", name, child, err) }
	labels := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}
	meta := func(n string, namespaced bool) *metav1.ObjectMetaArgs {
		m := &metav1.ObjectMetaArgs{Name: pulumi.String(n), Labels: labels}
		if namespaced {
			m.Namespace = args.NamespaceReady
		}
		return m
	}
	namespaced := func(role string, rules []Rule, subject *rbacv1.SubjectArgs) error {
		if _, err := rbacv1.NewRole(ctx, name+"-"+role, &rbacv1.RoleArgs{Metadata: meta(role, true), Rules: toArgs(rules)}, parent); err != nil {
			return wrap(role, err)
		}
		if _, err := rbacv1.NewRoleBinding(ctx, name+"-"+role, &rbacv1.RoleBindingArgs{
			Metadata: meta(role, true),
			RoleRef:  &rbacv1.RoleRefArgs{ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("Role"), Name: pulumi.String(role)},
			Subjects: rbacv1.SubjectArray{subject},
		}, parent); err != nil {
			return wrap(role+" binding", err)
		}
		return nil
	}
	if err := namespaced(MLRole, MLRules(args.ServingDeployment), &rbacv1.SubjectArgs{
		Kind: pulumi.String("ServiceAccount"), Name: pulumi.String(args.MLServiceAccount), Namespace: pulumi.String(args.Namespace),
	}); err != nil {
		return nil, err
	}
	if args.TokenReviewer != "" {
		if _, err := rbacv1.NewClusterRoleBinding(ctx, name+"-token-reviewer", &rbacv1.ClusterRoleBindingArgs{
			Metadata: meta(args.Namespace+"-"+args.TokenReviewer+"-token-reviewer", false),
			RoleRef:  &rbacv1.RoleRefArgs{ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("ClusterRole"), Name: pulumi.String("system:auth-delegator")},
			Subjects: rbacv1.SubjectArray{&rbacv1.SubjectArgs{
				Kind: pulumi.String("ServiceAccount"), Name: pulumi.String(args.TokenReviewer), Namespace: pulumi.String(args.Namespace),
			}},
		}, parent); err != nil {
			return nil, wrap("token reviewer binding", err)
		}
	}
	if err := namespaced(DeployerRole, DeployerRules(), &rbacv1.SubjectArgs{
		Kind: pulumi.String("Group"), Name: pulumi.String(DeployersGroup), ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
	}); err != nil {
		return nil, err
	}
	if _, err := rbacv1.NewClusterRole(ctx, name+"-"+ViewerRole, &rbacv1.ClusterRoleArgs{Metadata: meta(ViewerRole, false), Rules: toArgs(ViewerRules())}, parent); err != nil {
		return nil, wrap(ViewerRole, err)
	}
	if _, err := rbacv1.NewClusterRoleBinding(ctx, name+"-"+ViewerRole, &rbacv1.ClusterRoleBindingArgs{
		Metadata: meta(ViewerRole, false),
		RoleRef:  &rbacv1.RoleRefArgs{ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("ClusterRole"), Name: pulumi.String(ViewerRole)},
		Subjects: rbacv1.SubjectArray{&rbacv1.SubjectArgs{Kind: pulumi.String("Group"), Name: pulumi.String(ViewersGroup), ApiGroup: pulumi.String("rbac.authorization.k8s.io")}},
	}, parent); err != nil {
		return nil, wrap(ViewerRole+" binding", err)
	}
	if err := ctx.RegisterResourceOutputs(r, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return r, nil
}
