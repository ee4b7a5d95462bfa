package irsa

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

const (
	providerARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
	issuer      = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"
)

func fraudArgs() *Args {
	return &Args{
		OIDCProviderARN: pulumi.String(providerARN), OIDCIssuer: pulumi.String(issuer),
		Namespace: "intelliflow-prod", ServiceAccount: "fraud",
		Permissions: []Statement{{Actions: []string{"s3:GetObject"}, Resources: []string{"arn:aws:s3:::intelliflow-prod-models/fraud/*"}}},
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"admin", func(a *Args) { a.Permissions = []Statement{{Actions: []string{"*"}, Resources: []string{"*"}}} }, "wildcard actions"},
		{"service wildcard on everything", func(a *Args) { a.Permissions = []Statement{{Actions: []string{"s3:*"}, Resources: []string{"*"}}} }, "wildcard actions"},
		{"no permissions", func(a *Args) { a.Permissions = nil }, "should not exist"},
		{"bad account", func(a *Args) { a.ServiceAccount = "*" }, "must be DNS labels"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := fraudArgs()
			tt.mutate(a)
			require.ErrorContains(t, a.Validate(), tt.want)
		})
	}
}

func TestRolePassesAWS06(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "fraud", fraudArgs())
		return err
	})
	require.NoError(t, err)
	role, ok := mocks.Find("aws:iam/role:Role", "fraud")
	require.True(t, ok)
	trust := role.Get("assumeRolePolicy").(string)
	require.Contains(t, trust, `"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub":"system:serviceaccount:intelliflow-prod:fraud"`)
	require.Contains(t, trust, `"oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud":"sts.amazonaws.com"`)

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, Production: true})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), a.Name)
	}
	// The rule would catch a trust policy that any account could use.
	loose := policyx.AnalyzerResource{Type: "aws:iam/role:Role", Name: "loose", Properties: resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(map[string]any{
		"assumeRolePolicy": `{"Statement":[{"Effect":"Allow","Principal":{"Federated":"` + providerARN + `"},"Condition":{"StringEquals":{}}}]}`,
	}))}
	require.NotEmpty(t, rules.Check(all, loose)["AWS-06-irsa"])
}

// TestManagedPoliciesAndConditions: add-on roles attach their one AWS-managed
// policy; conditions narrow a grant; broad managed policies are refused.
func TestManagedPoliciesAndConditions(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "cni", &Args{
			OIDCProviderARN: pulumi.String(providerARN), OIDCIssuer: pulumi.String(issuer), Namespace: "kube-system", ServiceAccount: "aws-node",
			ManagedPolicyARNs: []string{"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
		})
		return err
	})
	require.NoError(t, err)
	require.Empty(t, mocks.OfType("aws:iam/rolePolicy:RolePolicy"), "no inline policy without Permissions")
	att, ok := mocks.Find("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cni-0")
	require.True(t, ok)
	require.Equal(t, "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy", att.Get("policyArn"))

	a := fraudArgs()
	a.ManagedPolicyARNs = []string{"arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::111122223333:policy/mine"}
	err = a.Validate()
	require.ErrorContains(t, err, "ManagedPolicyARNs[0]")
	require.ErrorContains(t, err, "ManagedPolicyARNs[1]")

	doc := PermissionPolicy([]Statement{{Actions: []string{"kms:Decrypt"}, Resources: []string{"arn:aws:kms:eu-west-1:111122223333:key/*"},
		Condition: map[string]map[string]string{"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}}})
	require.Contains(t, doc, `"Condition":{"StringEquals":{"kms:ViaService":"s3.eu-west-1.amazonaws.com"}}`)
}
