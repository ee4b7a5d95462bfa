package main

// Real-engine tests: the pinned pulumi CLI, the kubernetes provider and the
// policy pack from bin/ (make test builds them) run the dev stack end to end
// in a temporary project root, backend and output folder.

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1sdk "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	k8sappsv1 "k8s.io/api/apps/v1"
	k8scorev1 "k8s.io/api/core/v1"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/infra"
	"github.com/intelliflow/platform/internal/golden"
	"github.com/intelliflow/platform/stacks"
)

// repoDir is the repository's folder (this package's is cmd/intelliflow).
func repoDir(t testing.TB) string {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return repo
}

// engineRoot prepares a project root in a temporary folder: the project and
// dev stack files, and links to the built tools. It skips when the tools are
// not built, unless INTELLIFLOW_REQUIRE_ENGINE is set (make test sets it, so
// CI can never pass without running the engine).
func engineRoot(t testing.TB) (root string, getenv func(string) string) {
	t.Helper()
	repo := repoDir(t)
	tools := []string{"pulumi", "pulumi-resource-kubernetes", "intelliflow-policy"}
	for _, tool := range tools {
		if _, err := os.Stat(filepath.Join(repo, "bin", tool)); err != nil {
			if os.Getenv("INTELLIFLOW_REQUIRE_ENGINE") != "" {
				t.Fatalf("bin/%s is missing; run `make tools policy`", tool)
			}
			t.Skipf("bin/%s is missing; `make test` builds it", tool)
		}
	}
	root = t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	for _, tool := range tools {
		require.NoError(t, os.Symlink(filepath.Join(repo, "bin", tool), filepath.Join(root, "bin", tool)))
	}
	for _, f := range []string{"Pulumi.yaml", "Pulumi.dev.yaml"} {
		data, err := os.ReadFile(filepath.Join(repo, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(root, f), data, 0o644))
	}
	env := map[string]string{
		"PATH":               os.Getenv("PATH"),
		"HOME":               os.Getenv("HOME"),
		"PULUMI_HOME":        filepath.Join(root, ".pulumi-home"),
		"PULUMI_BACKEND_URL": "file://" + filepath.Join(root, "state"),
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "state"), 0o700))
	return root, func(k string) string { return env[k] }
}

// engine runs one driver command on the dev stack with --json and returns
// its report.
func engine(t *testing.T, program pulumi.RunFunc, root string, getenv func(string) string, args ...string) (Report, error) {
	t.Helper()
	return engineOn(t, "dev", program, root, getenv, args...)
}

// engineOn runs one driver command on stack with --json and returns its
// report.
func engineOn(t *testing.T, stack string, program pulumi.RunFunc, root string, getenv func(string) string, args ...string) (Report, error) {
	t.Helper()
	// The charts stack's up renders some 530 objects at about a second
	// each; everything else takes a fraction of this.
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args = append(args, "--stack", stack, "--json", "--root", root)
	start := time.Now()
	err := runProgram(ctx, program, args, getenv, &stdout, &stderr)
	t.Logf("intelliflow %s: %v in %s", args[0], err, time.Since(start).Round(time.Millisecond))
	var rep Report
	if args[0] != "outputs" {
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
	}
	if err != nil {
		t.Logf("stderr (%d bytes):\n%s", stderr.Len(), lastLines(stderr.String(), 40))
	}
	return rep, err
}

// renderedObjects decodes every rendered manifest strictly into k8s.io/api
// types, keyed by "Kind namespace/name".
func renderedObjects(t *testing.T, dir string) map[string]any {
	t.Helper()
	objs := map[string]any{}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, doc := range strings.Split(string(data), "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			key, obj, err := decodeStrict([]byte(doc))
			require.NoError(t, err, "%s", path)
			require.NotContains(t, objs, key, "%s rendered twice", key)
			objs[key] = obj
		}
		return nil
	})
	require.NoError(t, err)
	return objs
}

func TestEngineDevStack(t *testing.T) {
	root, getenv := engineRoot(t)
	out := filepath.Join(root, "out", "dev")

	rep, err := engine(t, infra.Run, root, getenv, "up")
	require.NoError(t, err)
	require.True(t, rep.OK)
	require.Zero(t, rep.Policy.Mandatory, "violations: %+v", rep.Policy.Violations)
	require.Contains(t, rep.Policy.Packs, "intelliflow")
	require.Greater(t, rep.Policy.Checked, 0, "the policy pack must analyze resources")
	require.Equal(t, "out/dev", rep.Manifests.Dir)

	objs := renderedObjects(t, out)
	require.Equal(t, len(objs), rep.Manifests.Files)
	for _, ns := range []string{"intelliflow-dev", "intelliflow-monitoring", "intelliflow-security"} {
		o, ok := objs["Namespace /"+ns]
		require.True(t, ok, "namespace %s not rendered; have %v", ns, slices.Sorted(maps.Keys(objs)))
		require.Equal(t, "restricted", o.(interface{ GetLabels() map[string]string }).GetLabels()["pod-security.kubernetes.io/enforce"])
		require.Contains(t, objs, "NetworkPolicy "+ns+"/default-deny")
		require.Contains(t, objs, "NetworkPolicy "+ns+"/allow-dns")
	}
	for _, svc := range catalog.Names() {
		for _, kind := range []string{"Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"} {
			require.Contains(t, objs, kind+" intelliflow-dev/"+svc)
		}
		d := objs["Deployment intelliflow-dev/"+svc].(*k8sappsv1.Deployment)
		require.Nil(t, d.Spec.Replicas, "%s: the HPA owns replicas", svc)
		require.Equal(t, svc, d.Spec.Template.Spec.ServiceAccountName)
	}
	require.Contains(t, objs, "PriorityClass /intelliflow-critical")
	require.Contains(t, objs, "Ingress intelliflow-dev/public")
	requireGolden(t, objs)
	require.Contains(t, objs, "ResourceQuota intelliflow-dev/quota")
	require.Equal(t, rep.Changes["create"], len(rep.Steps), "every created resource is a step")
	kinds := map[string]int{}
	for key := range objs {
		kinds[strings.SplitN(key, " ", 2)[0]]++
	}
	t.Logf("rendered %d objects %v; %d resources created", len(objs), kinds, rep.Changes["create"])

	// A second up changes nothing.
	rep, err = engine(t, infra.Run, root, getenv, "up")
	require.NoError(t, err)
	require.Empty(t, rep.Steps, "second up must change nothing")
	for op, n := range rep.Changes {
		require.True(t, op == "same" || n == 0, "second up: %d %s", n, op)
	}

	rep, err = engine(t, infra.Run, root, getenv, "preview")
	require.NoError(t, err)
	require.Empty(t, rep.Steps, "preview after up must show no changes")

	_, err = engine(t, infra.Run, root, getenv, "outputs")
	require.NoError(t, err)

	rep, err = engine(t, infra.Run, root, getenv, "destroy")
	require.NoError(t, err)
	require.Positive(t, rep.Changes["delete"])
	require.Empty(t, renderedObjects(t, out), "destroy removes the rendered manifests")
}

// withExtra is the real program plus one resource an engineer might add.
func withExtra(add func(ctx *pulumi.Context, p *infra.Platform) error) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := stacks.Load(ctx)
		if err != nil {
			return err
		}
		platform, err := infra.Deploy(ctx, cfg)
		if err != nil {
			return err
		}
		return add(ctx, platform)
	}
}

// rogueDeployment is a Deployment in the dev namespace; tweak breaks it.
func rogueDeployment(image string, privileged bool) func(ctx *pulumi.Context, p *infra.Platform) error {
	return func(ctx *pulumi.Context, p *infra.Platform) error {
		labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("rogue")}
		_, err := appsv1.NewDeployment(ctx, "rogue", &appsv1.DeploymentArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("rogue"), Namespace: pulumi.String("intelliflow-dev")},
			Spec: &appsv1.DeploymentSpecArgs{
				Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
				Template: &corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{Labels: labels},
					Spec: &corev1.PodSpecArgs{Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name: pulumi.String("app"), Image: pulumi.String(image),
						SecurityContext: &corev1.SecurityContextArgs{Privileged: pulumi.Bool(privileged)},
					}}},
				},
			},
		}, pulumi.Provider(p.Kubernetes))
		return err
	}
}

// TestEngineMandatoryViolationsBlock: one unsafe change per rule family
// fails both preview and up through the real engine, naming the rule.
func TestEngineMandatoryViolationsBlock(t *testing.T) {
	root, getenv := engineRoot(t)
	tests := []struct {
		name string
		add  func(ctx *pulumi.Context, p *infra.Platform) error
		want []string
	}{
		{"image: latest tag", rogueDeployment("registry.intelliflow.internal/unsafe:latest", false), []string{"SEC-17-image-tag"}},
		{"workload: privileged container", rogueDeployment("registry.intelliflow.internal/unsafe:1.0", true), []string{"SEC-02-no-privileged", "SEC-01-pod-security-restricted"}},
		{"network: namespace without default-deny", func(ctx *pulumi.Context, p *infra.Platform) error {
			// Labelled for Pod Security like the stack's own, so only NET-01
			// (a whole-stack rule, run after the resources) objects.
			_, err := corev1.NewNamespace(ctx, "sandbox", &corev1.NamespaceArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("intelliflow-sandbox"), Labels: pulumi.ToStringMap(namespace.Labels(
					"intelliflow-sandbox", namespace.PodSecurity{Level: namespace.Restricted, Version: stacks.DefaultPodSecurityVersion}, nil))},
			}, pulumi.Provider(p.Kubernetes))
			return err
		}, []string{"NET-01-network-policies"}},
		{"network: LoadBalancer for an internal service", func(ctx *pulumi.Context, p *infra.Platform) error {
			_, err := corev1.NewService(ctx, "users-public", &corev1.ServiceArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("users-public"), Namespace: pulumi.String("intelliflow-dev")},
				Spec: &corev1.ServiceSpecArgs{
					Type:     pulumi.String("LoadBalancer"),
					Selector: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("users")},
					Ports:    corev1.ServicePortArray{&corev1.ServicePortArgs{Port: pulumi.Int(80)}},
				},
			}, pulumi.Provider(p.Kubernetes))
			return err
		}, []string{"NET-02-service-types", "NET-03-tls"}},
		{"rbac: cluster-admin for an app", func(ctx *pulumi.Context, p *infra.Platform) error {
			_, err := rbacv1sdk.NewClusterRoleBinding(ctx, "users-admin", &rbacv1sdk.ClusterRoleBindingArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("users-admin")},
				RoleRef:  &rbacv1sdk.RoleRefArgs{ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("ClusterRole"), Name: pulumi.String("cluster-admin")},
				Subjects: rbacv1sdk.SubjectArray{&rbacv1sdk.SubjectArgs{Kind: pulumi.String("ServiceAccount"), Name: pulumi.String("users"), Namespace: pulumi.String("intelliflow-dev")}},
			}, pulumi.Provider(p.Kubernetes))
			return err
		}, []string{"RBAC-02-no-escalation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cmd := range []string{"preview", "up"} {
				rep, err := engine(t, withExtra(tt.add), root, getenv, cmd)
				require.Error(t, err, cmd)
				require.ErrorContains(t, err, "mandatory policy violation")
				require.False(t, rep.OK)
				got := map[string]bool{}
				for _, v := range rep.Policy.Violations {
					if v.Level == "mandatory" {
						got[v.Policy] = true
					}
				}
				for _, w := range tt.want {
					require.True(t, got[w], "%s: %s not among %v", cmd, w, got)
				}
			}
			// Resource policies stop the unsafe object before it exists.
			require.NotContains(t, renderedObjects(t, filepath.Join(root, "out", "dev")), "Deployment intelliflow-dev/rogue")
			_, err := engine(t, infra.Run, root, getenv, "up")
			require.NoError(t, err, "the plain program recovers the stack")
		})
	}
}

// requireGolden compares the rendered objects with testdata/dev-rendered.golden
// (`go test ./cmd/intelliflow -run TestEngineDevStack -update` refreshes it).
// Secret values are redacted: the golden file is reviewed, not decrypted.
func requireGolden(t *testing.T, objs map[string]any) {
	t.Helper()
	redacted := map[string]any{}
	for k, o := range objs {
		if s, ok := o.(*k8scorev1.Secret); ok {
			c := s.DeepCopy()
			for key := range c.Data {
				c.Data[key] = []byte("REDACTED")
			}
			for key := range c.StringData {
				c.StringData[key] = "REDACTED"
			}
			o = c
		}
		redacted[k] = o
	}
	golden.RequireJSON(t, "dev-rendered.golden", redacted)
}
