package falco

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

// fromDefaults are the macros and lists of Falco's default rules file our
// rules build on; it is loaded before ours.
var fromDefaults = []string{"spawned_process", "container", "open_write", "open_read", "outbound", "shell_binaries"}

// operators and keywords of Falco's condition language.
var keywords = []string{"and", "or", "not", "in", "startswith", "endswith", "contains", "icontains", "exists", "pmatch", "glob", "intersects"}

var priorities = []string{"EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "DEBUG"}

type entry struct {
	Rule, Macro, List string
	Desc, Condition   string
	Output, Priority  string
	Tags              []string
	Items             []string
}

func parse(t *testing.T) []entry {
	t.Helper()
	src, err := Rules([]string{"10.30.0.0/16", "172.20.0.0/16"})
	require.NoError(t, err)
	var out []entry
	require.NoError(t, yaml.Unmarshal([]byte(src), &out))
	return out
}

var (
	quoted     = regexp.MustCompile(`"[^"]*"`)
	identifier = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_.\[\]/-]*`)
)

// TestRulesAreWellFormed: every rule has what Falco requires, a known
// priority and our tag; every macro and list a condition names is defined
// before it (in our file, or in Falco's defaults), as Falco requires.
func TestRulesAreWellFormed(t *testing.T) {
	entries := parse(t)
	defined := slices.Clone(fromDefaults)
	var ruleNames []string
	for _, e := range entries {
		switch {
		case e.List != "":
			require.NotEmpty(t, e.Items, e.List)
			defined = append(defined, e.List)
		case e.Macro != "":
			requireNamesDefined(t, e.Macro, e.Condition, defined)
			defined = append(defined, e.Macro)
		case e.Rule != "":
			require.NotEmpty(t, e.Desc, e.Rule)
			require.NotEmpty(t, e.Output, e.Rule)
			require.Contains(t, priorities, e.Priority, e.Rule)
			require.Contains(t, e.Tags, "intelliflow", e.Rule)
			requireNamesDefined(t, e.Rule, e.Condition, defined)
			for _, field := range regexp.MustCompile(`%([a-z0-9_.]+)`).FindAllStringSubmatch(e.Output, -1) {
				require.Regexp(t, `^(proc|user|container|k8s|fd|evt)\.`, field[1], e.Rule)
			}
			ruleNames = append(ruleNames, e.Rule)
		default:
			t.Fatalf("an entry that is neither rule, macro nor list: %+v", e)
		}
	}
	// The four detections.
	require.ElementsMatch(t, []string{
		"IntelliFlow shell in a service container",
		"IntelliFlow write below binary dirs",
		"IntelliFlow unexpected outbound connection from the payment path",
		"IntelliFlow service account token read",
	}, ruleNames)
	require.Equal(t, "intelliflow_allowed_networks", entries[0].List, "the generated list comes first")
	require.Equal(t, []string{"10.30.0.0/16", "172.20.0.0/16"}, entries[0].Items)
}

// requireNamesDefined checks the bare names of a condition (not fields,
// operators, quoted strings or literal list members) are defined.
func requireNamesDefined(t *testing.T, who, condition string, defined []string) {
	t.Helper()
	cond := quoted.ReplaceAllString(condition, "")
	// Literal lists: "(a, b)" after in; their members are values.
	cond = regexp.MustCompile(`in \(([^()]*,[^()]*)\)`).ReplaceAllString(cond, "in ()")
	for _, id := range identifier.FindAllString(cond, -1) {
		if strings.ContainsAny(id, "./[") || slices.Contains(keywords, id) || regexp.MustCompile(`^[0-9]`).MatchString(id) {
			continue
		}
		require.Contains(t, defined, id, "%s: %q is not a defined macro or list", who, id)
	}
}

// TestPaymentPathRule: the outbound rule is scoped to the payment pods and
// the stack's networks, and excepts only the model fetch over HTTPS.
func TestPaymentPathRule(t *testing.T) {
	for _, e := range parse(t) {
		if e.Rule == "IntelliFlow unexpected outbound connection from the payment path" {
			require.Contains(t, e.Condition, "not fd.snet in (intelliflow_allowed_networks)")
			require.Contains(t, e.Condition, "intelliflow_payment_pod")
			require.Equal(t, "CRITICAL", e.Priority)
		}
		if e.List == "intelliflow_payment_apps" {
			require.Equal(t, []string{"fraud", "transactions"}, e.Items)
		}
	}
}

func args() *Args {
	return &Args{
		NamespaceReady: pulumi.String(Namespace), ChartRepository: "https://charts.intelliflow.internal", ImageRegistry: "registry.intelliflow.internal",
		ArtifactIndex: "https://charts.intelliflow.internal/falcoctl/index.yaml", AllowedNetworks: []string{"10.30.0.0/16"},
		Alertmanager: "http://alertmanager-operated.intelliflow-monitoring:9093", MonitoringNamespace: "intelliflow-monitoring",
		TolerateTaints: []string{"nvidia.com/gpu"},
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, args().Validate())
	a := args()
	a.AllowedNetworks, a.Alertmanager, a.ArtifactIndex = []string{"0.0.0.0/0"}, "alertmanager", ""
	err := a.Validate()
	require.ErrorContains(t, err, `AllowedNetworks[0] "0.0.0.0/0"`)
	require.ErrorContains(t, err, "Alertmanager")
	require.ErrorContains(t, err, "ArtifactIndex")
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "falco", args())
		return err
	})
	require.NoError(t, err)
	chart, ok := mocks.Find("kubernetes:helm.sh/v4:Chart", Release)
	require.True(t, ok)
	require.Equal(t, ChartVersion, chart.Get("version"))
	v := func(path string) any { return chart.Get("values." + path) }
	require.Equal(t, "modern_ebpf", v("driver.kind"))
	require.Equal(t, true, v("driver.modernEbpf.leastPrivileged"), "capabilities, not privileged")
	require.Equal(t, "registry.intelliflow.internal", v("image.registry"))
	require.Equal(t, false, v("falcoctl.artifact.follow.enabled"), "rules change by review, not by a sidecar")
	require.Equal(t, "https://charts.intelliflow.internal/falcoctl/index.yaml", v("falcoctl.config.indexes.0.url"))
	require.Equal(t, true, v("falcosidekick.enabled"))
	require.Equal(t, "http://alertmanager-operated.intelliflow-monitoring:9093", v("falcosidekick.config.alertmanager.hostport"))
	require.Equal(t, "nvidia.com/gpu", v("tolerations.0.key"), "GPU nodes are watched too")
	custom := v("customRules").(map[string]any)[RulesFile].(string)
	require.Contains(t, custom, "intelliflow_allowed_networks")
	require.Contains(t, custom, "- 10.30.0.0/16")
	require.Len(t, mocks.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy"), 2)

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"}, Production: true})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), "%s %s", a.Type, a.Name)
	}
}
