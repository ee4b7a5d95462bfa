package jenkins

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/ci-cd/images"
	"github.com/intelliflow/platform/ci-cd/securitygate"
	"github.com/intelliflow/platform/components/falco"
	"github.com/intelliflow/platform/policy/rules"
	"github.com/intelliflow/platform/stacks"
	"gopkg.in/yaml.v3"
)

var stageRE = regexp.MustCompile(`stage\('([^']+)'\)`)

// block returns the body of the stage named name (to its matching brace).
func block(t *testing.T, src, name string) string {
	t.Helper()
	i := strings.Index(src, "stage('"+name+"')")
	require.NotEqual(t, -1, i, name)
	depth, start := 0, -1
	for j := i; j < len(src); j++ {
		switch src[j] {
		case '{':
			if depth == 0 {
				start = j
			}
			depth++
		case '}':
			depth--
			if depth == 0 {
				return src[start : j+1]
			}
		}
	}
	t.Fatalf("stage %s does not close", name)
	return ""
}

func TestPipelineStages(t *testing.T) {
	var got []string
	for _, m := range stageRE.FindAllStringSubmatch(Pipeline, -1) {
		got = append(got, m[1])
	}
	require.Equal(t, Stages, got, "the stages, in order")
	for _, src := range []string{Pipeline, Security, Agent} {
		require.Equal(t, strings.Count(src, "{"), strings.Count(src, "}"), "braces balance")
		require.Equal(t, strings.Count(src, "("), strings.Count(src, ")"), "parentheses balance")
	}
	require.Contains(t, block(t, Pipeline, "Preview"), "when { changeRequest() }", "preview on pull requests")
	require.Contains(t, block(t, Pipeline, "Preview"), "cmd/intelliflow preview", "the policy-checked preview")
	require.Contains(t, block(t, Pipeline, "Preview"), "pullRequest.comment")
	preview := block(t, Pipeline, "Preview")
	require.Less(t, strings.Index(preview, "make plugins STACK=${stack}"), strings.Index(preview, "cmd/intelliflow preview"), "the plugins before the preview")
	require.Contains(t, block(t, Pipeline, "Deploy staging"), "branch 'main'")
	require.Contains(t, block(t, Pipeline, "Approve prod"), "input message:")
	require.Contains(t, block(t, Pipeline, "Deploy prod"), "tag pattern:")
	require.Contains(t, block(t, Pipeline, "Scan"), "trivy image --exit-code 1")
	require.Contains(t, block(t, Pipeline, "Images"), "go run ./cmd/imagebuild", "no Docker daemon, no root")
	require.Contains(t, block(t, Pipeline, "Images"), "--digests digests")
	require.Contains(t, block(t, Pipeline, "Tests"), "make test")
	// SonarQube reads the coverage profile the same stage's tests wrote.
	tests := block(t, Pipeline, "Tests")
	require.Less(t, strings.Index(tests, "make test COVERAGE=coverage.out"), strings.Index(tests, "sonar.go.coverage.reportPaths=coverage.out"))
	require.Equal(t, 1, strings.Count(Pipeline, "sonar-scanner"), "one scan, after the tests")
	require.Contains(t, block(t, Pipeline, "Build and test"), "parallel")
	for _, name := range []string{"Dependencies", "Secrets and configuration", "Running images", "Web application scan", "Known exposures", "Cluster from a pod", "CIS node benchmark", "Falco rules", "Policy pack on every stack", "Security gate"} {
		block(t, Security, name)
	}
	// Every scan's JSON report reaches the gate, which alone fails the build.
	gate := block(t, Security, "Security gate")
	require.Contains(t, gate, "go run ./cmd/securitygate")
	for _, stash := range regexp.MustCompile(`stash name: '([^']+)'`).FindAllStringSubmatch(Security, -1) {
		require.Contains(t, gate, "unstash '"+stash[1]+"'")
	}
	require.NotContains(t, Security, "--exit-code 1", "the gate decides, not each scan")
	// The gate requires a report of every scanner it can read.
	tools := regexp.MustCompile(`--tools ([a-z,-]+)`).FindStringSubmatch(gate)
	require.NotNil(t, tools)
	require.ElementsMatch(t, securitygate.Tools(), strings.Split(tools[1], ","))
	require.Contains(t, block(t, Security, "CIS node benchmark"), "go run ./cmd/nodeauditreport --namespace "+stacks.FalcoNamespace)
	for _, tool := range strings.Split(tools[1], ",") {
		require.Regexp(t, regexp.QuoteMeta(tool)+`=(reports/|\$f)`, gate, "the gate reads %s's report", tool)
	}
	// Falco validates with the release the chart runs.
	require.Contains(t, CasC, "falcosecurity/falco:"+falco.AppVersion+"\n")
	require.Contains(t, block(t, Security, "Falco rules"), "intelliflow falco-rules --stack prod")
	require.Contains(t, block(t, Security, "Dependencies"), "govulncheck@v1.1.4 -json")
}

// TestScripts: every script the pipelines call exists, is executable and
// is valid bash. (deploy.sh's rollback runs for real in cmd/intelliflow's
// TestDeployRollsBack.)
func TestScripts(t *testing.T) {
	for _, s := range []string{"set-digests.sh", "deploy.sh", "smoke.sh", "smoke-api.sh"} {
		require.Regexp(t, `(ci-cd/jenkins|\$here)/`+regexp.QuoteMeta(s), Pipeline+readFile(t, "deploy.sh")+readFile(t, "smoke.sh"))
		info, err := os.Stat(s)
		require.NoError(t, err, s)
		require.NotZero(t, info.Mode()&0o111, "%s is executable", s)
		out, err := exec.Command("bash", "-n", s).CombinedOutput()
		require.NoError(t, err, "%s: %s", s, out)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

// TestCasC: the configuration parses, defines the agents the pipelines ask
// for, gets every credential from Vault, and creates both jobs.
func TestCasC(t *testing.T) {
	var c struct {
		Jenkins struct {
			Clouds []struct {
				Kubernetes struct {
					Templates []agentTemplate
				}
			}
		}
		Credentials struct {
			System struct {
				DomainCredentials []struct {
					Credentials []map[string]any
				} `yaml:"domainCredentials"`
			}
		}
		Jobs []struct{ Script string }
	}
	require.NoError(t, yaml.Unmarshal([]byte(CasC), &c))
	var labels []string
	for _, tmpl := range c.Jenkins.Clouds[0].Kubernetes.Templates {
		labels = append(labels, tmpl.Label)
		require.NotEmpty(t, tmpl.ServiceAccount, tmpl.Label)
		for _, ctr := range tmpl.pod(t).Spec.Containers {
			require.True(t, strings.HasPrefix(ctr.Image, "registry.intelliflow.internal/"), "%s: mirrored images only", ctr.Image)
			require.NotContains(t, ctr.Image, ":latest")
		}
	}
	require.ElementsMatch(t, AgentLabels, labels)
	for _, m := range regexp.MustCompile(`inheritFrom '([^']+)'`).FindAllStringSubmatch(Pipeline+Security+Agent, -1) {
		for _, l := range strings.Fields(m[1]) {
			require.True(t, slices.Contains(labels, l), "the pipelines use agent %q, which casc.yaml does not define", l)
		}
	}
	for _, d := range c.Credentials.System.DomainCredentials {
		for _, cred := range d.Credentials {
			for kind := range cred {
				require.True(t, strings.HasPrefix(kind, "vault"), "credential %s does not come from Vault", kind)
			}
		}
	}
	require.Contains(t, c.Jobs[0].Script, "multibranchPipelineJob('intelliflow')")
	require.Contains(t, c.Jobs[0].Script, "scriptPath('ci-cd/jenkins/Jenkinsfile.security')")
	require.Contains(t, c.Jobs[0].Script, "scriptPath('ci-cd/jenkins/Jenkinsfile.agent')")
	for _, id := range regexp.MustCompile(`(?:credentials|credentialsId)(?:\(|: )'([^']+)'`).FindAllStringSubmatch(Pipeline+Security+Agent+CasC, -1) {
		require.Contains(t, CasC, `id: "`+id[1]+`"`, "the pipelines read credential %s, which casc.yaml defines", id[1])
	}
}

// TestREADMEDocumentsTheStages: every stage is in the README's delivery
// section.
func TestREADMEDocumentsTheStages(t *testing.T) {
	readme := readFile(t, "../../README.md")
	for _, s := range Stages {
		require.Contains(t, readme, "**"+s+"**", "README documents stage %s", s)
	}
}

// TestImagesAreEveryService: the pipeline's image list, found the way the
// Jenkinsfile finds it, is every catalog service with code, and nothing
// else under apps/ (model-fetch is added by name).
func TestImagesAreEveryService(t *testing.T) {
	m := regexp.MustCompile(`script: '(for d in apps/\*/; do [^']+)'`).FindStringSubmatch(Pipeline)
	require.NotNil(t, m, "images() finds the services with a shell loop")
	cmd := exec.Command("bash", "-c", m[1])
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	require.NoError(t, err)
	found := strings.Fields(string(out))
	var withCode []string
	for _, svc := range catalog.Names() {
		if _, err := os.Stat(filepath.Join("..", "..", "apps", svc, "main.go")); err == nil {
			withCode = append(withCode, svc)
		}
	}
	require.ElementsMatch(t, withCode, found)
	require.Subset(t, found, []string{catalog.Gateway, catalog.Users, catalog.Transactions, catalog.Fraud})
	require.Contains(t, Pipeline, `out['model-fetch'] = './apps/fraud/cmd/model-fetch'`)
}

// agentTemplate is a pod template of casc.yaml's Kubernetes cloud.
type agentTemplate struct {
	Name              string `yaml:"name"`
	Label             string `yaml:"label"`
	ServiceAccount    string `yaml:"serviceAccount"`
	YAMLMergeStrategy string `yaml:"yamlMergeStrategy"`
	YAML              string `yaml:"yaml"`
	// Containers would be merged into the yaml's; the templates keep the
	// whole pod in yaml, so there are none.
	Containers []any `yaml:"containers"`
}

// pod is the pod the Kubernetes plugin starts for the template: its yaml,
// with the template's service account, and the workspace volume the plugin
// mounts in every container at the agent's working directory.
func (a agentTemplate) pod(t *testing.T) *corev1.Pod {
	t.Helper()
	require.Equal(t, "override", a.YAMLMergeStrategy, "%s: the yaml is the whole pod", a.Name)
	require.Empty(t, a.Containers, "%s: containers belong in the yaml", a.Name)
	var p corev1.Pod
	require.NoError(t, k8syaml.UnmarshalStrict([]byte(a.YAML), &p), a.Name)
	p.Name, p.Namespace = "agent-"+a.Name, AgentNamespace
	p.Spec.ServiceAccountName = a.ServiceAccount
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "workspace-volume", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	for i := range p.Spec.Containers {
		p.Spec.Containers[i].VolumeMounts = append(p.Spec.Containers[i].VolumeMounts, corev1.VolumeMount{Name: "workspace-volume", MountPath: "/home/jenkins/agent"})
	}
	return &p
}

// TestAgentsAreRestricted: every agent pod, as the plugin starts it, passes
// the CI namespace's restricted Pod Security and every mandatory rule of
// the policy pack (the same evaluator a preview runs: SEC-01 is Pod
// Security's own library). The images are pinned by tag, not digest: the
// pack's settings are staging's.
func TestAgentsAreRestricted(t *testing.T) {
	var c struct {
		Jenkins struct {
			Clouds []struct {
				Kubernetes struct {
					Namespace string          `yaml:"namespace"`
					Templates []agentTemplate `yaml:"templates"`
				}
			}
		}
	}
	require.NoError(t, yaml.Unmarshal([]byte(CasC), &c))
	require.Equal(t, AgentNamespace, c.Jenkins.Clouds[0].Kubernetes.Namespace)
	all := rules.All(rules.Settings{PodSecurityVersion: stacks.DefaultPodSecurityVersion, ImageRegistries: []string{"registry.intelliflow.internal"}})
	for _, tmpl := range c.Jenkins.Clouds[0].Kubernetes.Templates {
		p := tmpl.pod(t)
		res := asPodTemplate(t, p)
		var advisory []string
		for _, rule := range all {
			for _, f := range rules.Check([]rules.Rule{rule}, res)[rule.Name] {
				if rule.Level == policyx.EnforcementLevelMandatory {
					t.Errorf("agent %s: %s: %s", tmpl.Name, rule.Name, f.Message)
				} else {
					advisory = append(advisory, rule.Name)
				}
			}
		}
		t.Logf("agent %s: %d containers; advisory findings: %v", tmpl.Name, len(p.Spec.Containers), advisory)
	}
	// The check bites: the same pod with a root container fails it.
	bad := c.Jenkins.Clouds[0].Kubernetes.Templates[0]
	bad.YAML = strings.Replace(bad.YAML, "runAsUser: 10001", "runAsUser: 0", 1)
	require.NotEmpty(t, rules.Check(all, asPodTemplate(t, bad.pod(t)))["SEC-01-pod-security-restricted"])
}

// asPodTemplate is the agent pod as the pack sees a PodTemplate: Jenkins,
// not the stack, creates the pods from it.
func asPodTemplate(t *testing.T, p *corev1.Pod) policyx.AnalyzerResource {
	t.Helper()
	tmpl := corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		Template: corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}}
	b, err := json.Marshal(tmpl)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return policyx.AnalyzerResource{Type: "kubernetes:core/v1:PodTemplate", Name: p.Name, Properties: resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(m))}
}

// modVersion is the version the go.mod at path requires of module.
func modVersion(t *testing.T, path, module string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	mf, err := modfile.ParseLax(path, data, nil)
	require.NoError(t, err)
	for _, r := range mf.Require {
		if r.Mod.Path == module {
			return r.Mod.Version
		}
	}
	t.Fatalf("%s requires no %s", path, module)
	return ""
}

// TestAgentImageIsThePins: the go agent's image is the one
// Jenkinsfile.agent builds from the repository's pins, as the pipeline
// where downloads are allowed gets them: the CLI tools/go.mod pins, the
// kubernetes provider and the plugins at the releases of the SDKs go.mod
// pins. Moving a pin without naming the new image fails here.
func TestAgentImageIsThePins(t *testing.T) {
	cli := modVersion(t, "../../tools/go.mod", "github.com/pulumi/pulumi/pkg/v3")
	sdk := func(name, major string) string {
		return modVersion(t, "../../go.mod", "github.com/pulumi/pulumi-"+name+"/sdk/"+major)
	}
	k8s := sdk("kubernetes", "v4")
	pins := images.AgentPins(
		[]images.Tool{{Name: "pulumi", Version: cli}, {Name: "pulumi-resource-kubernetes", Version: k8s}},
		[]images.Plugin{{Name: "aws", Version: sdk("aws", "v6")}, {Name: "kubernetes", Version: k8s}, {Name: "random", Version: sdk("random", "v4")}, {Name: "vault", Version: sdk("vault", "v6")}})
	want := "registry.intelliflow.internal/intelliflow/" + images.AgentName + ":" + images.AgentTag(cli, pins)
	require.Contains(t, CasC, "image: "+want+"\n", "casc.yaml's go agent runs the image of the pins %v", pins)
	require.Contains(t, Agent, "go run ./cmd/imagebuild --agent")
	require.Contains(t, Agent, "make plugins STACK=prod")
}
