package infra

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/logging"
	"github.com/intelliflow/platform/internal/chartmirror"
	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/golden"
	"github.com/intelliflow/platform/internal/loopbackca"
	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/pack"
	"github.com/intelliflow/platform/policy/rules"
	"github.com/intelliflow/platform/stacks"
)

// runStack runs the program under mocks with the config of the repository's
// own Pulumi.<stack>.yaml.
func runStack(t *testing.T, stack string, dryRun bool) (*pulumitest.Mocks, stacks.Config) {
	t.Helper()
	values, cfg := stackConfig(t, stack)
	return runValues(t, stack, values, cfg, dryRun), cfg
}

// runValues runs the program on stack under mocks with config values; cfg
// (their parse) picks the AWS mocks. The program parses values itself, so
// a bad value fails here.
func runValues(t *testing.T, stack string, values map[string]string, cfg stacks.Config, dryRun bool) *pulumitest.Mocks {
	t.Helper()
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: stack, Config: values, DryRun: dryRun, Mocks: mocksFor(cfg), RootDirectory: repoRoot(t)}, Run)
	require.NoError(t, err)
	return mocks
}

// repoRoot is the repository's folder, the stacks' project root.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	return root
}

// stackConfig reads and parses the repository's Pulumi.<stack>.yaml, its
// dev secrets decrypted, as the engine would pass it.
func stackConfig(t *testing.T, stack string) (map[string]string, stacks.Config) {
	t.Helper()
	f, err := stacks.ReadFile(filepath.Join("..", "Pulumi."+stack+".yaml"))
	require.NoError(t, err)
	require.NoError(t, stacks.CheckKeys(f.Keys()))
	f, err = f.Decrypt(stacks.DevPassphrase)
	require.NoError(t, err)
	values := f.Values()
	if stack == "charts" {
		// Its mirror folder, wherever this clone finds it.
		values["intelliflow:chartRepository"] = chart.LocalPrefix + chartmirror.Dir(t, repoRoot(t))
	}
	if _, ok := values["intelliflow:trustedCAFile"]; ok {
		// The stores' CA, which `intelliflow stores` writes when it starts
		// them: one made for the test.
		ca, err := loopbackca.New("test stores CA", time.Hour)
		require.NoError(t, err)
		file := filepath.Join(t.TempDir(), "ca.pem")
		require.NoError(t, os.WriteFile(file, ca.PEM, 0o644))
		values["intelliflow:trustedCAFile"] = file
	}
	if _, ok := values["intelliflow:credentials"]; !ok {
		// Teams set staging and prod credentials themselves (README),
		// less those the stack generates.
		values["intelliflow:credentials"] = testCredentials(stacks.GeneratedCredentialKeys...)
	}
	cfg, err := stacks.Parse(stack, func(k string) (string, bool) {
		v, ok := values[stacks.Namespace+":"+k]
		return v, ok
	})
	require.NoError(t, err)
	return values, cfg
}

// mocksFor answers the AWS invokes for stacks with a foundation.
func mocksFor(cfg stacks.Config) *pulumitest.Mocks {
	if cfg.AWS == nil {
		return nil
	}
	return pulumitest.NewAWSMocks(pulumitest.AWS{Region: cfg.AWS.Region, Zones: []string{cfg.AWS.Region + "a", cfg.AWS.Region + "b", cfg.AWS.Region + "c", cfg.AWS.Region + "d"}})
}

// testCredentials sets every credential key but those left to generate.
func testCredentials(generated ...string) string {
	creds := map[string]string{}
	for _, k := range append(stacks.CredentialKeys(), stacks.PlatformCredentialKeys...) {
		if !slices.Contains(generated, k) {
			creds[k] = "test-" + k
		}
	}
	b, _ := json.Marshal(creds)
	return string(b)
}

func TestStacks(t *testing.T) {
	for _, stack := range []string{"dev", "charts", "staging", "prod"} {
		for _, dry := range []bool{false, true} {
			name := stack
			if dry {
				name += "/preview"
			}
			t.Run(name, func(t *testing.T) {
				mocks, cfg := runStack(t, stack, dry)

				providers := mocks.OfType("pulumi:providers:kubernetes")
				require.Len(t, providers, 1)
				if cfg.AWS == nil {
					require.Equal(t, "out/"+stack, providers[0].Get("renderYamlToDirectory"))
				} else if !dry {
					requireClusterKubeconfig(t, providers[0], cfg)
				}
				require.Contains(t, []any{"true", true}, providers[0].Get("enableConfigMapMutable"), "ConfigMaps update in place")

				var got []string
				for _, ns := range mocks.OfType("kubernetes:core/v1:Namespace") {
					got = append(got, ns.Get("metadata.name").(string))
					labels := ns.Get("metadata.labels").(map[string]any)
					if reason, ok := map[string]string{stacks.FalcoNamespace: nodeAgentsException, stacks.ShipperNamespace: logging.ShipperException}[ns.Get("metadata.name").(string)]; ok {
						require.Equal(t, "privileged", labels["pod-security.kubernetes.io/enforce"])
						require.Equal(t, reason, ns.Get("metadata.annotations").(map[string]any)["intelliflow.io/pod-security-exception"], "a node agent's namespace names its reason")
					} else {
						require.Equal(t, "restricted", labels["pod-security.kubernetes.io/enforce"])
					}
					require.Equal(t, cfg.PodSecurityVersion, labels["pod-security.kubernetes.io/enforce-version"])
					require.Equal(t, string(cfg.Environment), labels["intelliflow.io/environment"])
					require.Contains(t, ns.Provider, "pulumi:providers:kubernetes::kubernetes", "namespace %s must use the stack's provider", ns.Name)
				}
				want := []string{"intelliflow-" + string(cfg.Environment), "intelliflow-monitoring", "intelliflow-security"}
				if cfg.Charts {
					want = append(want, "gatekeeper-system", "falco", "elastic-system", "log-shipper", "intelliflow-ci", "cert-manager", "ingress-nginx") // charts: not in dev
				}
				require.ElementsMatch(t, want, got)
				requireWorkloadsComplete(t, mocks, cfg.Environment.AppNamespace())
			})
		}
	}
}

// requireWorkloadsComplete checks what every Deployment must come with.
func requireWorkloadsComplete(t *testing.T, mocks *pulumitest.Mocks, ns string) {
	t.Helper()
	byName := func(typ string) map[string]pulumitest.Resource {
		out := map[string]pulumitest.Resource{}
		for _, r := range mocks.OfType(typ) {
			if r.Get("metadata.namespace") == ns {
				out[r.Get("metadata.name").(string)] = r
			}
		}
		return out
	}
	deployments := byName("kubernetes:apps/v1:Deployment")
	require.Len(t, deployments, len(catalog.Names()))
	hpas, pdbs, netpols := byName("kubernetes:autoscaling/v2:HorizontalPodAutoscaler"), byName("kubernetes:policy/v1:PodDisruptionBudget"), byName("kubernetes:networking.k8s.io/v1:NetworkPolicy")
	for name, d := range deployments {
		require.Contains(t, hpas, name, "HPA for %s", name)
		require.Contains(t, pdbs, name, "PDB for %s", name)
		require.Contains(t, netpols, name, "NetworkPolicy for %s", name)
		require.Equal(t, name, hpas[name].Get("spec.scaleTargetRef.name"))
		require.Nil(t, d.Get("spec.replicas"), "%s: the HPA owns replicas", name)
		sa := d.Get("spec.template.spec.serviceAccountName")
		require.NotEmpty(t, sa, name)
		require.NotEqual(t, "default", sa, name)
		for _, list := range []string{"containers", "initContainers"} {
			cs, _ := d.Get("spec.template.spec." + list).([]any)
			for i := range cs {
				c := fmt.Sprintf("spec.template.spec.%s.%d.resources.", list, i)
				for _, k := range []string{"requests.cpu", "requests.memory", "limits.cpu", "limits.memory"} {
					require.NotEmpty(t, d.Get(c+k), "%s %s %s", name, list, k)
				}
			}
		}
	}
}

// TestProdSeedFigures asserts the seed's production figures on what the
// prod stack registers.
func TestProdSeedFigures(t *testing.T) {
	mocks, _ := runStack(t, "prod", false)
	get := func(typ, name string) pulumitest.Resource {
		r, ok := mocks.Find(typ, name)
		require.True(t, ok, "%s %s", typ, name)
		return r
	}
	const c0 = "spec.template.spec.containers.0."
	users := get("kubernetes:apps/v1:Deployment", "users-deployment")
	require.Equal(t, map[string]any{"cpu": "250m", "memory": "512Mi", "ephemeral-storage": "64Mi"}, users.Get(c0+"resources.requests"))
	require.Equal(t, "1", users.Get(c0+"resources.limits.cpu"))
	require.Equal(t, "1Gi", users.Get(c0+"resources.limits.memory"))
	require.Equal(t, 3.0, get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "users-hpa").Get("spec.minReplicas"))

	tx := get("kubernetes:apps/v1:Deployment", "transactions-deployment")
	require.Equal(t, "500m", tx.Get(c0+"resources.requests.cpu"))
	require.Equal(t, "1Gi", tx.Get(c0+"resources.requests.memory"))
	require.Equal(t, "2", tx.Get(c0+"resources.limits.cpu"))
	require.Equal(t, "2Gi", tx.Get(c0+"resources.limits.memory"))
	require.Equal(t, "kubernetes.io/hostname", tx.Get("spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution.0.topologyKey"))
	require.Equal(t, "intelliflow-critical", tx.Get("spec.template.spec.priorityClassName"))
	txHPA := get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "transactions-hpa")
	require.Equal(t, 5.0, txHPA.Get("spec.minReplicas"))
	require.Equal(t, 50.0, txHPA.Get("spec.maxReplicas"))
	require.Equal(t, 60.0, txHPA.Get("spec.metrics.0.resource.target.averageUtilization"))
	require.Equal(t, "transaction_processing_rate", txHPA.Get("spec.metrics.1.pods.metric.name"))
	require.Equal(t, "200", txHPA.Get("spec.metrics.1.pods.target.averageValue"))
	require.Equal(t, "sqs_queue_depth", txHPA.Get("spec.metrics.2.external.metric.name"))
	require.Equal(t, "50", txHPA.Get("spec.metrics.2.external.target.averageValue"))

	fraud := get("kubernetes:apps/v1:Deployment", "fraud-deployment")
	require.Equal(t, "1", fraud.Get(c0+"resources.requests.cpu"))
	require.Equal(t, "2Gi", fraud.Get(c0+"resources.requests.memory"))
	require.Equal(t, "4", fraud.Get(c0+"resources.limits.cpu"))
	require.Equal(t, "4Gi", fraud.Get(c0+"resources.limits.memory"))
	require.Equal(t, "1", fraud.Get(c0 + "resources.limits").(map[string]any)["nvidia.com/gpu"])
	require.Equal(t, 4.0, get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "fraud-hpa").Get("spec.minReplicas"))
	require.Equal(t, "model-fetch", fraud.Get("spec.template.spec.initContainers.0.name"))
	require.Contains(t, fraud.Get(c0+"image"), "@sha256:", "prod images are pinned by digest")
}

func TestBadConfigFailsBeforeAnyResource(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Config: map[string]string{
		"intelliflow:environment": "qa",
	}}, Run)
	require.ErrorContains(t, err, `config intelliflow:environment: unknown environment "qa"`)
	for _, r := range mocks.Resources() {
		require.Equal(t, "pulumi:pulumi:Stack", r.Type, "no resource may be registered on bad config")
	}
}

func TestBadIngressFailsBeforeAnyResource(t *testing.T) {
	f, err := stacks.ReadFile(filepath.Join("..", "Pulumi.dev.yaml"))
	require.NoError(t, err)
	f, err = f.Decrypt(stacks.DevPassphrase)
	require.NoError(t, err)
	values := f.Values()
	values["intelliflow:ingress"] = `{"rateLimitPerMinute": 0, "corsOrigins": ["*"]}`
	mocks, err := pulumitest.Run(t, pulumitest.Options{Config: values}, Run)
	require.ErrorContains(t, err, "config intelliflow:ingress: RateLimitPerMinute: 0")
	require.ErrorContains(t, err, `CORSOrigins[0]: "*" is not an https origin`)
	for _, r := range mocks.Resources() {
		require.Contains(t, []string{"pulumi:pulumi:Stack", "pulumi:providers:kubernetes"}, r.Type)
	}
}

func TestUnknownPeerIsAnError(t *testing.T) {
	cfg, err := stacks.Parse("dev", func(k string) (string, bool) {
		v, ok := map[string]string{"environment": "dev", "credentials": testCredentials(),
			"fraudModel": `{"uri": "s3://models-bucket/m.json", "sha256": "` + strings.Repeat("0", 64) + `"}`}[k]
		return v, ok
	})
	require.NoError(t, err)
	svc, err := catalog.Get(catalog.Users)
	require.NoError(t, err)
	svc.Calls = []string{"ledger"}
	_, err = serviceArgs(cfg, nil, svc, pulumi.String("intelliflow-dev"))
	require.ErrorContains(t, err, `service "users" calls unknown service "ledger"`)
}

// TestStacksPassPolicy runs every rule on every resource each stack
// registers: the program must never trip its own policy pack.
func TestStacksPassPolicy(t *testing.T) {
	for _, stack := range []string{"dev", "local", "realnode", "charts", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, cfg := runStack(t, stack, false)
			// The pack exactly as the policy binary builds it for this stack.
			p := pack.For(cfg, false)
			all := p.Rules
			analyzed := mocks.Analyzed()
			waived := 0
			for _, a := range analyzed {
				found := rules.Check(all, a)
				for policy := range found {
					if rules.Waived(p.Exceptions, policy, a.Type, a.Name) {
						delete(found, policy)
						waived++
					}
				}
				require.Empty(t, found, "%s %s", a.Type, a.Name)
			}
			want := 0
			if cfg.GPUNodeGroup != "" {
				want += 4 // the device plugin's
			}
			if cfg.Charts {
				want += 5 // kube-bench's, among the node agents
			}
			require.Equal(t, want, waived, "the device plugin's and kube-bench's named exceptions, and nothing else")
			require.Greater(t, len(analyzed), 50)
			// The plugins the driver checks for before an engine run are the
			// packages of what the program registers.
			packages := map[string]bool{}
			for _, r := range mocks.Resources() {
				pkg, rest, _ := strings.Cut(r.Type, ":")
				if pkg == "pulumi" {
					pkg, _ = strings.CutPrefix(rest, "providers:")
				}
				if pkg != "intelliflow" && pkg != "pulumi:Stack" {
					packages[pkg] = true
				}
			}
			require.ElementsMatch(t, cfg.Providers(), slices.Collect(maps.Keys(packages)))
			// Zero findings of any level: the stacks carry no accepted advisories.
			t.Logf("%s: %d resources through %d rules and %d stack rules: 0 mandatory, 0 advisory", stack, len(analyzed), len(all), len(rules.AllStack()))
			for _, sr := range p.StackRules {
				require.Empty(t, sr.Check(analyzed), sr.Name)
			}
			// Negative control: without the PDBs and NetworkPolicies the
			// whole-stack rules fire for every service.
			var stripped []policyx.AnalyzerResource
			for _, a := range analyzed {
				if a.Type != "kubernetes:policy/v1:PodDisruptionBudget" && a.Type != "kubernetes:networking.k8s.io/v1:NetworkPolicy" {
					stripped = append(stripped, a)
				}
			}
			exporters := 0
			if cfg.Vault != nil && cfg.AWS != nil {
				exporters = 2 // the store exporters, two replicas each
			}
			require.Len(t, rules.REL02DisruptionBudgets().Check(stripped), len(catalog.Names())+exporters)
			agents := exporters
			if cfg.GPUNodeGroup != "" {
				agents++ // the device plugin, in kube-system
			}
			if cfg.Vault != nil && cfg.AWS != nil {
				agents++ // Vault's snapshot CronJob, which backs up to S3
			}
			if cfg.Charts {
				agents++ // the log indices' lifecycle Job
				agents++ // kube-bench's CronJob, among the node agents
			}
			require.Len(t, rules.NET01NetworkPolicies().Check(stripped), len(catalog.Names())+2*len(cfg.Namespaces())+agents)
		})
	}
}

// TestPodTemplatesPassPodSecurityRestricted evaluates every Deployment's pod
// template with the reference evaluator (through SEC-01), and proves the
// check bites by making one template privileged.
func TestPodTemplatesPassPodSecurityRestricted(t *testing.T) {
	for _, stack := range []string{"dev", "local", "charts", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, cfg := runStack(t, stack, false)
			rule := []rules.Rule{rules.SEC01PodSecurityRestricted(cfg.PodSecurityVersion)}
			deployments := mocks.OfType("kubernetes:apps/v1:Deployment")
			want := len(catalog.Names())
			if cfg.Vault != nil && cfg.AWS != nil {
				want += 2 // the store exporters, which read the managed stores
			}
			require.Len(t, deployments, want)
			for _, d := range deployments {
				r := policyx.AnalyzerResource{Type: d.Type, Name: d.Name, Properties: resource.FromResourcePropertyMap(d.Inputs)}
				require.Empty(t, rules.Check(rule, r), d.Name)

				// Negative control: the same template, privileged, fails.
				bad := d.Inputs.Copy()
				c0 := bad["spec"].ObjectValue()["template"].ObjectValue()["spec"].ObjectValue()["containers"].ArrayValue()[0].ObjectValue()
				c0["securityContext"].ObjectValue()["privileged"] = resource.NewBoolProperty(true)
				r.Properties = resource.FromResourcePropertyMap(bad)
				require.NotEmpty(t, rules.Check(rule, r)["SEC-01-pod-security-restricted"], d.Name)
			}
		})
	}
}

// TestDevGolden pins every resource the dev stack registers with its inputs;
// refresh with `go test ./infra -update` and review the diff.
func TestDevGolden(t *testing.T) {
	mocks, _ := runStack(t, "dev", false)
	type entry struct {
		Type   string         `json:"type"`
		Name   string         `json:"name"`
		Inputs map[string]any `json:"inputs,omitempty"`
	}
	var entries []entry
	for _, r := range mocks.Resources() {
		entries = append(entries, entry{Type: r.Type, Name: r.Name, Inputs: pulumitest.Redacted(r.Inputs)})
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].Type != entries[j].Type {
			return entries[i].Type < entries[j].Type
		}
		return entries[i].Name < entries[j].Name
	})
	golden.RequireJSON(t, "dev.golden", entries)
}

// TestGoldenFilesHoldNoCredential: the golden files are committed and
// reviewed, so not one of the dev stack's credentials (dev-only as they are)
// may appear in them in clear, base64 or not.
func TestGoldenFilesHoldNoCredential(t *testing.T) {
	_, cfg := stackConfig(t, "dev")
	require.NotEmpty(t, cfg.Credentials)
	for _, path := range []string{filepath.Join("testdata", "dev.golden"), filepath.Join("..", "cmd", "intelliflow", "testdata", "dev-rendered.golden")} {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		for key, value := range cfg.Credentials {
			require.NotContains(t, string(b), value, "%s holds %s in clear", path, key)
			require.NotContains(t, string(b), base64.StdEncoding.EncodeToString([]byte(value)), "%s holds %s in base64", path, key)
		}
	}
}

// TestStackFilesPinTheCommittedModel: every stack's fraudModel.sha256 is
// the checksum of the model in the repository (apps/fraud/model/model.json),
// the file the release pipeline uploads under fraudModel.uri; model-fetch
// refuses any other.
func TestStackFilesPinTheCommittedModel(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "apps", "fraud", "model", "model.json"))
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	for _, stack := range []string{"dev", "local", "realnode", "staging", "prod"} {
		_, cfg := stackConfig(t, stack)
		require.Equal(t, hex.EncodeToString(sum[:]), cfg.FraudModel.SHA256, "Pulumi.%s.yaml intelliflow:fraudModel.sha256 (make fraud-model prints the new one)", stack)
		require.True(t, strings.HasSuffix(cfg.FraudModel.URI, "/model.json"), cfg.FraudModel.URI)
	}
}

// platformKeys every pod gets whether or not its code reads them: who it
// is, the AWS region the SDKs look for, and the trusted CA file Go's TLS
// reads its roots from.
var platformKeys = []string{"SERVICE_NAME", "ENVIRONMENT", "AWS_REGION", "SSL_CERT_FILE"}

// notYetRead are keys a stack gives a service that its code does not read
// yet, each with why; TestServicesGetWhatTheyRead fails on any other.
var notYetRead = map[string][]string{
	// The orchestrator reloads each fraud pod by its address (a Service
	// would pick one at random), and does not read analytics yet: live
	// accuracy and drift come next.
	catalog.Orchestrator: {"FRAUD_URL", "ANALYTICS_URL"},
}

// TestServicesGetWhatTheyRead holds every stack's wiring of each service
// that has code to what the code reads (apps/<service>/testdata/env.golden):
// every key the service cannot start without is in its ConfigMap, its
// Secret or a Vault-rendered file (KEY_FILE), and the stack gives it
// nothing it never reads.
func TestServicesGetWhatTheyRead(t *testing.T) {
	checked := 0
	for _, stack := range []string{"dev", "local", "realnode", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, _ := runStack(t, stack, false)
			for _, svc := range catalog.Names() {
				b, err := os.ReadFile(filepath.Join("..", "apps", svc, "testdata", "env.golden"))
				if os.IsNotExist(err) {
					continue // no code yet: nothing reads anything
				}
				require.NoError(t, err)
				var contract envconfig.Contract
				require.NoError(t, json.Unmarshal(b, &contract))
				provided := map[string]bool{}
				cm, ok := mocks.Find("kubernetes:core/v1:ConfigMap", svc+"-config")
				require.True(t, ok, svc)
				for k := range cm.Get("data").(map[string]any) {
					provided[k] = true
				}
				d, ok := mocks.Find("kubernetes:apps/v1:Deployment", svc+"-deployment")
				require.True(t, ok, svc)
				for _, c := range d.Get("spec.template.spec.containers").([]any) {
					if c.(map[string]any)["name"] != svc {
						continue
					}
					env, _ := c.(map[string]any)["env"].([]any)
					for _, e := range env {
						name := e.(map[string]any)["name"].(string)
						if !slices.Contains(platformKeys, name) {
							name = strings.TrimSuffix(name, "_FILE")
						}
						provided[name] = true
					}
				}
				for _, k := range contract.Requires {
					require.True(t, provided[k], "%s: %s needs %s, which the stack does not give it (ConfigMap, Secret or Vault file)", stack, svc, k)
				}
				for k := range provided {
					require.True(t, slices.Contains(contract.Reads, k) || slices.Contains(platformKeys, k) || slices.Contains(notYetRead[svc], k),
						"%s: the stack gives %s %s, which its code never reads", stack, svc, k)
				}
				checked++
			}
		})
	}
	require.GreaterOrEqual(t, checked, 20, "four services in five stacks")
}

// TestVaultDatabaseAccessIsTheCatalogs: a service gets a dynamic database
// user exactly when its catalog entry names PostgreSQL and the
// DATABASE_PASSWORD its code reads; nobody else holds a database role.
func TestVaultDatabaseAccessIsTheCatalogs(t *testing.T) {
	for _, svc := range catalog.All() {
		usesPostgres := slices.Contains(svc.Stores, catalog.Postgres)
		hasSecret := slices.ContainsFunc(svc.Secrets, func(s catalog.Secret) bool { return s.Key == databasePasswordKey })
		require.Equal(t, usesPostgres, databaseRoles[svc.Name] != "", "%s: database role %q, stores %v", svc.Name, databaseRoles[svc.Name], svc.Stores)
		require.Equal(t, usesPostgres, hasSecret, "%s: stores %v, secrets %v", svc.Name, svc.Stores, svc.Secrets)
	}
}

// TestKubernetesAPICallersReachTheAPIServer: the services that mount their
// token (fraud reviews callers' tokens, the orchestrator runs Jobs) may
// reach the API server's endpoints through the namespace's default-deny;
// no other service may.
func TestKubernetesAPICallersReachTheAPIServer(t *testing.T) {
	mocks, cfg := runStack(t, "staging", false)
	for _, svc := range catalog.All() {
		np, ok := mocks.Find("kubernetes:networking.k8s.io/v1:NetworkPolicy", svc.Name+"-netpol")
		require.True(t, ok, svc.Name)
		b, _ := json.Marshal(np.Get("spec.egress"))
		api := `{"ports":[{"port":443,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"` + cfg.AWS.VPCCIDR + `"}}`
		require.Equal(t, svc.CallsKubernetesAPI, strings.Contains(string(b), api), "%s: %s", svc.Name, b)
	}
}

// TestChartPinsAreInTheMirror: every chart staging and prod install, at
// its pinned version, is in the chart mirror, byte for byte as its index
// says; a pin the mirror lacks fails here, not at a first real `up`.
func TestChartPinsAreInTheMirror(t *testing.T) {
	mirror := chartmirror.Dir(t, repoRoot(t))
	pins := map[string]bool{}
	for _, stack := range []string{"staging", "prod"} {
		mocks, cfg := runStack(t, stack, false)
		for _, c := range mocks.OfType("kubernetes:helm.sh/v4:Chart") {
			name, version := c.Get("chart").(string), c.Get("version").(string)
			require.Equal(t, cfg.ChartRepository, c.Get("repositoryOpts.repo"), c.Name)
			pins[name+" "+version] = true
			_, err := chart.Locate(mirror, name, version)
			require.NoError(t, err, "%s: %s %s", stack, name, version)
		}
	}
	t.Logf("%d pinned charts, all in %s: %v", len(pins), mirror, slices.Sorted(maps.Keys(pins)))
	require.Len(t, pins, 13, "Vault, Gatekeeper, Falco, cert-manager, kube-prometheus-stack, prometheus-adapter, ECK, Logstash, Jenkins; ingress-nginx, metrics-server, the AWS Load Balancer Controller, cluster-autoscaler")

	// Negative control: a version the mirror does not hold is named.
	_, err := chart.Locate(mirror, "falco", "9.1.1")
	require.ErrorContains(t, err, "has no falco 9.1.1 (it has 9.1.0)")
	_, err = chart.Locate(mirror, "no-such-chart", "1.0.0")
	require.ErrorContains(t, err, `has no chart "no-such-chart"`)
}

// TestRealNodeStack: the realnode stack puts every service on the real
// node (its selector and the node's taint tolerated), every container
// trusts the stores' CA through one auto-named ConfigMap, and the S3
// endpoint and MongoDB mechanism reach the services that read them.
func TestRealNodeStack(t *testing.T) {
	mocks, _ := runStack(t, "realnode", false)
	cms := mocks.OfType("kubernetes:core/v1:ConfigMap")
	var ca string
	for _, cm := range cms {
		if data, _ := cm.Get("data").(map[string]any); data != nil && data["ca.pem"] != nil {
			require.Empty(t, ca, "one trusted-ca ConfigMap")
			require.Contains(t, data["ca.pem"], "-----BEGIN CERTIFICATE-----")
			require.Equal(t, true, cm.Get("immutable"))
			ca = cm.Name
		}
	}
	require.NotEmpty(t, ca)
	deps := mocks.OfType("kubernetes:apps/v1:Deployment")
	require.Len(t, deps, len(catalog.Names()))
	for _, d := range deps {
		spec := d.Get("spec.template.spec").(map[string]any)
		require.Equal(t, map[string]any{"kubernetes.io/hostname": "real-0"}, spec["nodeSelector"], d.Name)
		require.Contains(t, spec["tolerations"], map[string]any{"key": "intelliflow.io/real-node", "operator": "Exists", "effect": "NoSchedule"}, d.Name)
		b, _ := json.Marshal(spec["volumes"])
		require.Contains(t, string(b), `{"configMap":{"name":"`, d.Name)
		containers := append(spec["containers"].([]any), func() []any { ic, _ := spec["initContainers"].([]any); return ic }()...)
		for _, c := range containers {
			b, _ := json.Marshal(c)
			require.Contains(t, string(b), `{"name":"SSL_CERT_FILE","value":"/etc/intelliflow/trusted-ca/ca.pem"}`, d.Name)
			require.Contains(t, string(b), `"mountPath":"/etc/intelliflow/trusted-ca","name":"trusted-ca","readOnly":true`, d.Name)
			if c.(map[string]any)["name"] == "model-fetch" {
				require.Contains(t, string(b), `"--endpoint","https://10.88.0.1:9000"`)
			}
		}
	}
	config := func(svc string) map[string]any {
		cm, ok := mocks.Find("kubernetes:core/v1:ConfigMap", svc+"-config")
		require.True(t, ok, svc)
		return cm.Get("data").(map[string]any)
	}
	require.Equal(t, "https://10.88.0.1:9000", config(catalog.Fraud)["S3_ENDPOINT"])
	require.Equal(t, "https://10.88.0.1:9000", config(catalog.Orchestrator)["S3_ENDPOINT"])
	require.Equal(t, "PLAIN", config(catalog.Analytics)["MONGODB_AUTH_MECHANISM"])
	require.Equal(t, "10.88.0.1", config(catalog.Users)["DATABASE_HOST"])
}
