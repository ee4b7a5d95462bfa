package rules

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/intelliflow/platform/internal/golden"
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
	all := All(Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, RequireImageDigests: true})
	// Every type a rule examines, and a few it does not.
	types := []string{"kubernetes:core/v1:Namespace", "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:policy/v1:PodDisruptionBudget"}
	for _, rule := range all {
		for _, typ := range rule.Types {
			if !slices.Contains(types, typ) {
				types = append(types, typ)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		pm := resource.NewPropertyMapFromMap(m)
		r := policyx.AnalyzerResource{Type: types[int(pick)%len(types)], Name: "fuzz", Properties: resource.FromResourcePropertyMap(pm)}
		for _, rule := range all {
			for _, f := range rule.run(r) { // not safeCheck: a panic must fail the fuzz test
				require.NotEmpty(t, f.Message)
			}
		}
		for _, rule := range AllStack() {
			rule.Check([]policyx.AnalyzerResource{r, r})
		}
	})
}

// TestPackInventory pins the pack's policies, each with its level and the
// types it examines, to testdata/policies.golden, so a rule dropped from the
// pack or moved to advisory shows in review (refresh with -update); it also
// checks that every RULES.md id has a policy and prints the rules by family
// (go test -v -run Inventory ./policy/rules).
func TestPackInventory(t *testing.T) {
	type entry struct {
		Level string   `json:"level"`
		Types []string `json:"types,omitempty"`
	}
	level := map[policyx.EnforcementLevel]string{policyx.EnforcementLevelMandatory: "mandatory", policyx.EnforcementLevelAdvisory: "advisory"}
	inventory := map[string]entry{}
	counts := map[string]map[string]int{}
	ids := map[string]bool{}
	add := func(name string, lvl policyx.EnforcementLevel, types []string) {
		require.NotContains(t, inventory, name, "two policies named %s", name)
		inventory[name] = entry{Level: level[lvl], Types: types}
		family := name[:strings.Index(name, "-")]
		if counts[family] == nil {
			counts[family] = map[string]int{}
		}
		counts[family][level[lvl]]++
		ids[strings.Join(strings.SplitN(name, "-", 3)[:2], "-")] = true
	}
	for _, r := range All(Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}}) {
		add(r.Name, r.Level, r.Types)
	}
	for _, r := range AllStack() {
		add(r.Name, r.Level, r.Types)
	}
	golden.RequireJSON(t, "policies.golden", inventory)
	for _, family := range slices.Sorted(maps.Keys(counts)) {
		t.Logf("%-5s mandatory %2d  advisory %d", family, counts[family]["mandatory"], counts[family]["advisory"])
	}
	want := []string{"SEC-01", "SEC-02", "SEC-03", "SEC-04", "SEC-05", "SEC-06", "SEC-07", "SEC-08", "SEC-09", "SEC-10", "SEC-11", "SEC-12",
		"SEC-13", "SEC-14", "SEC-15", "SEC-16", "SEC-17", "SEC-18", "SEC-19", "SEC-20", "SEC-21", "REL-01", "REL-02", "REL-03", "REL-04",
		"REL-05", "REL-06", "NET-01", "NET-02", "NET-03", "RBAC-01", "RBAC-02", "K8S-01", "K8S-02", "AWS-01", "AWS-02", "AWS-03", "AWS-04",
		"AWS-05", "AWS-06", "AWS-07", "AWS-08", "AWS-09", "AWS-10", "VLT-01"}
	for _, id := range want {
		require.True(t, ids[id], "RULES.md %s has no policy", id)
	}
	t.Logf("%d RULES.md ids, %d policies", len(want), len(inventory))
}
