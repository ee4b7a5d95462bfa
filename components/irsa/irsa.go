// Package irsa provides the AppRole component: an IAM role one Kubernetes
// service account assumes through the cluster's OIDC provider (IAM roles for
// service accounts), with a trust policy pinned to exactly that account and
// the STS audience, and only the permissions the app needs.
package irsa

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Statement is one permission the app needs.
type Statement struct {
	Actions   []string
	Resources []string
	// Condition narrows the grant (operator -> key -> value), for example
	// KMS use only through S3 and only on the platform's key alias.
	Condition map[string]map[string]string
}

// Args configures an app's role.
type Args struct {
	// OIDCProviderARN and OIDCIssuer (without https://) come from the cluster.
	OIDCProviderARN pulumi.StringInput
	OIDCIssuer      pulumi.StringInput
	// Namespace and ServiceAccount are the one identity that may assume it.
	Namespace, ServiceAccount string
	// Permissions are what the app may do; never * on *.
	Permissions []Statement
	// ManagedPolicyARNs attach AWS-managed policies made for exactly one
	// job (the VPC CNI's, the EBS CSI driver's); apps use Permissions.
	ManagedPolicyARNs []string
}

var (
	labelRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	managedRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::aws:policy/[A-Za-z0-9_/+=,.@-]+$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	if a.OIDCProviderARN == nil || a.OIDCIssuer == nil {
		errs = append(errs, errors.New("OIDCProviderARN and OIDCIssuer are required"))
	}
	if !labelRE.MatchString(a.Namespace) || !labelRE.MatchString(a.ServiceAccount) {
		errs = append(errs, fmt.Errorf("Namespace %q and ServiceAccount %q must be DNS labels", a.Namespace, a.ServiceAccount))
	}
	if len(a.Permissions) == 0 && len(a.ManagedPolicyARNs) == 0 {
		errs = append(errs, errors.New("Permissions: an app role with no permissions should not exist"))
	}
	for i, arn := range a.ManagedPolicyARNs {
		if !managedRE.MatchString(arn) || strings.HasSuffix(arn, "/AdministratorAccess") || strings.HasSuffix(arn, "/PowerUserAccess") {
			errs = append(errs, fmt.Errorf("ManagedPolicyARNs[%d] %q is not a job-specific AWS-managed policy ARN", i, arn))
		}
	}
	for i, p := range a.Permissions {
		if len(p.Actions) == 0 || len(p.Resources) == 0 {
			errs = append(errs, fmt.Errorf("Permissions[%d]: needs actions and resources", i))
		}
		if slices.Contains(p.Actions, "*") || slices.ContainsFunc(p.Actions, func(s string) bool { return strings.HasSuffix(s, ":*") && slices.Contains(p.Resources, "*") }) {
			errs = append(errs, fmt.Errorf("Permissions[%d]: wildcard actions on %v; name the actions (AWS-06)", i, p.Resources))
		}
	}
	return errors.Join(errs...)
}

// TrustPolicy lets exactly one service account assume the role, with the STS
// audience, through the cluster's OIDC provider.
func TrustPolicy(providerARN, issuer, namespace, serviceAccount string) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Action":    "sts:AssumeRoleWithWebIdentity",
			"Principal": map[string]any{"Federated": providerARN},
			"Condition": map[string]any{"StringEquals": map[string]any{
				issuer + ":sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
				issuer + ":aud": "sts.amazonaws.com",
			}},
		}},
	}
	b, _ := json.Marshal(doc) // maps of strings always marshal
	return string(b)
}

// PermissionPolicy is the role's inline policy.
func PermissionPolicy(perms []Statement) string {
	var sts []any
	for _, p := range perms {
		st := map[string]any{"Effect": "Allow", "Action": p.Actions, "Resource": p.Resources}
		if len(p.Condition) > 0 {
			st["Condition"] = p.Condition
		}
		sts = append(sts, st)
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": sts})
	return string(b)
}

// AppRole is a created role.
type AppRole struct {
	pulumi.ResourceState

	// ARN goes into the service account's eks.amazonaws.com/role-arn annotation.
	ARN pulumi.StringOutput `pulumi:"arn"`
}

// New creates the role and its policy.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*AppRole, error) {
	if args == nil {
		return nil, fmt.Errorf("app role %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("app role %q: %w", name, err)
	}
	r := &AppRole{}
	if err := ctx.RegisterComponentResource("intelliflow:aws:AppRole", name, r, opts...); err != nil {
		return nil, fmt.Errorf("app role %q: %w", name, err)
	}
	trust := pulumi.All(args.OIDCProviderARN, args.OIDCIssuer).ApplyT(func(v []any) string {
		return TrustPolicy(v[0].(string), strings.TrimPrefix(v[1].(string), "https://"), args.Namespace, args.ServiceAccount)
	}).(pulumi.StringOutput)
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.Sprintf("IRSA role of %s/%s", args.Namespace, args.ServiceAccount),
		AssumeRolePolicy: trust,
		Tags:             pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow"), "intelliflow.io/service-account": pulumi.String(args.Namespace + "/" + args.ServiceAccount)},
	}, pulumi.Parent(r))
	if err != nil {
		return nil, fmt.Errorf("app role %q: role: %w", name, err)
	}
	if len(args.Permissions) > 0 {
		if _, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
			Role: role.ID(), Policy: pulumi.String(PermissionPolicy(args.Permissions)),
		}, pulumi.Parent(r)); err != nil {
			return nil, fmt.Errorf("app role %q: policy: %w", name, err)
		}
	}
	for i, arn := range args.ManagedPolicyARNs {
		if _, err := iam.NewRolePolicyAttachment(ctx, fmt.Sprintf("%s-%d", name, i), &iam.RolePolicyAttachmentArgs{
			Role: role.Name, PolicyArn: pulumi.String(arn),
		}, pulumi.Parent(r)); err != nil {
			return nil, fmt.Errorf("app role %q: managed policy: %w", name, err)
		}
	}
	r.ARN = role.Arn
	if err := ctx.RegisterResourceOutputs(r, pulumi.Map{"arn": r.ARN}); err != nil {
		return nil, fmt.Errorf("app role %q: outputs: %w", name, err)
	}
	return r, nil
}
