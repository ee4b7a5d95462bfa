package rules

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
)

// validate runs every resource policy of a pack on one resource.
func validate(t *testing.T, policies []policyx.Policy, r policyx.AnalyzerResource) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range policies {
		rp, ok := p.(policyx.ResourceValidationPolicy)
		if !ok {
			continue
		}
		rec := &recorder{}
		require.NoError(t, rp.Validate(context.Background(), policyx.ResourceValidationArgs{Manager: rec, Resource: r}))
		if len(rec.messages) > 0 {
			out[p.Name()] = rec.messages
		}
	}
	return out
}

func TestExceptionsWaiveButStayVisible(t *testing.T) {
	hostNet := asResource(t, deploymentType, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.HostNetwork = true }))
	hostNet.Name = "falco"
	rules := []Rule{SEC09NoHostNamespaces()}

	got := validate(t, Policies(Pack{Rules: rules}), hostNet)
	require.Len(t, got["SEC-09-no-host-namespaces"], 1, "without an exception the rule reports")

	waived := Pack{Rules: rules, Exceptions: []Exception{{Rule: "SEC-09", Type: deploymentType, Name: "falco", Reason: "Falco reads host syscalls"}}}
	got = validate(t, Policies(waived), hostNet)
	require.Empty(t, got["SEC-09-no-host-namespaces"], "the exception waives the mandatory finding")
	require.Len(t, got[ExceptedPolicy], 1)
	require.Contains(t, got[ExceptedPolicy][0], "SEC-09-no-host-namespaces waived (Falco reads host syscalls)")

	other := hostNet
	other.Name = "fraud"
	got = validate(t, Policies(waived), other)
	require.Len(t, got["SEC-09-no-host-namespaces"], 1, "an exception covers only its resource")
}

func TestUncheckedSaysWhetherTheUpdateLooksAgain(t *testing.T) {
	r := withUnknown(asResource(t, deploymentType, goodDeployment()), "spec", "template")
	preview := validate(t, Policies(Pack{Rules: []Rule{SEC02NoPrivileged()}, DryRun: true}), r)[UncheckedPolicy]
	require.Len(t, preview, 1)
	require.Contains(t, preview[0], "the update checks it again")
	update := validate(t, Policies(Pack{Rules: []Rule{SEC02NoPrivileged()}}), r)[UncheckedPolicy]
	require.Contains(t, update[0], "still unknown during the update")
}

func TestEveryPolicyHasItsOwnLevel(t *testing.T) {
	for _, p := range Policies(Pack{Rules: All(Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}}), StackRules: AllStack()}) {
		require.Contains(t, []policyx.EnforcementLevel{policyx.EnforcementLevelMandatory, policyx.EnforcementLevelAdvisory}, p.EnforcementLevel(), p.Name())
		require.NotEmpty(t, p.Description(), p.Name())
	}
}

// FuzzRulesNeverPanic feeds arbitrary property maps, under every resource type
// the rules know, to every rule: a policy pack that panics fails the whole
// preview. The corpus seeds run in every `go test`; `go test -fuzz` explores.
func FuzzRulesNeverPanic(f *testing.F) {
	f.Add([]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":5}]}}}}`), uint8(0))
	f.Add([]byte(`{"spec":{"template":{"spec":{"containers":"x","volumes":[null]}}}}`), uint8(1))
	f.Add([]byte(`{"metadata":{"labels":[1,2]},"rules":[{"verbs":"*"}]}`), uint8(7))
	f.Add([]byte(`{"spec":{"strategy":{"rollingUpdate":{"maxUnavailable":{"a":1}}},"replicas":"two"}}`), uint8(0))
	f.Add([]byte(`{"spec":{"minReplicas":-1,"metrics":[{"type":7}]}}`), uint8(3))
	f.Add([]byte(`{"assumeRolePolicy":"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"Federated\":[\"oidc-provider\"]}}}"}`), uint8(17))
	f.Add([]byte(`{"chart":"vault","values":{"server":[1],"global":{"tlsDisable":"no"}}}`), uint8(23))
	f.Add([]byte(`{"ingress":[{"cidrBlocks":"0.0.0.0/0"},7],"vpcConfig":{"publicAccessCidrs":[1]}}`), uint8(22))
	types := []string{
		deploymentType, statefulSetType, "kubernetes:batch/v1:CronJob", "kubernetes:core/v1:Pod", hpaType,
		"kubernetes:core/v1:Service", "kubernetes:networking.k8s.io/v1:Ingress", "kubernetes:rbac.authorization.k8s.io/v1:Role",
		"kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "kubernetes:core/v1:Namespace", "kubernetes:core/v1:ConfigMap",
		"kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:helm.sh/v3:Release",
		eksClusterType, eksNodeGroupType, launchTemplateType, iamRoleType, "aws:iam/policy:Policy", ecrRepositoryType,
		rdsInstanceType, kmsKeyType, "aws:ec2/securityGroup:SecurityGroup", "kubernetes:helm.sh/v4:Chart", bucketType, publicBlock,
	}
	all := All(Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, RequireImageDigests: true})
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		pm := resource.NewPropertyMapFromMap(m)
		r := policyx.AnalyzerResource{Type: types[int(pick)%len(types)], Name: "fuzz", Properties: resource.FromResourcePropertyMap(pm)}
		for _, rule := range all {
			for _, f := range rule.Check(r) { // not safeCheck: a panic must fail the fuzz test
				require.NotEmpty(t, f.Message)
			}
		}
		for _, rule := range AllStack() {
			rule.Check([]policyx.AnalyzerResource{r, r})
		}
	})
}
