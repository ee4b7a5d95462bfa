package stacks

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func lookupOf(m map[string]string) Lookup {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name  string
		stack string
		raw   map[string]string
		want  Config
	}{
		{
			name:  "dev renders to out/<stack> by default",
			stack: "dev",
			raw:   map[string]string{"environment": "dev"},
			want: Config{
				Stack: "dev", Environment: Dev,
				Kubernetes:         Kubernetes{RenderDir: "out/dev"},
				PodSecurityVersion: DefaultPodSecurityVersion,
				ImageRegistries:    []string{"registry.intelliflow.internal"},
			},
		},
		{
			name:  "dev with a kubeconfig deploys there instead",
			stack: "alice",
			raw:   map[string]string{"environment": "dev", "kubeconfig": "/home/alice/.kube/config", "kubeContext": "kind"},
			want: Config{
				Stack: "alice", Environment: Dev,
				Kubernetes:         Kubernetes{Kubeconfig: "/home/alice/.kube/config", Context: "kind"},
				PodSecurityVersion: DefaultPodSecurityVersion,
				ImageRegistries:    []string{"registry.intelliflow.internal"},
			},
		},
		{
			name:  "prod requires digests by default",
			stack: "prod",
			raw: map[string]string{
				"environment": "prod", "renderDir": "out/prod",
				"imageRegistries": `["123456789012.dkr.ecr.eu-west-1.amazonaws.com"]`,
			},
			want: Config{
				Stack: "prod", Environment: Prod,
				Kubernetes:          Kubernetes{RenderDir: "out/prod"},
				PodSecurityVersion:  DefaultPodSecurityVersion,
				ImageRegistries:     []string{"123456789012.dkr.ecr.eu-west-1.amazonaws.com"},
				RequireImageDigests: true,
			},
		},
		{
			name:  "explicit settings win over defaults",
			stack: "prod",
			raw: map[string]string{
				"environment": "prod", "kubeconfig": "kc", "requireImageDigests": "false",
				"podSecurityVersion": "v1.30", "imageRegistries": `["registry.example.com:5000/team"]`,
			},
			want: Config{
				Stack: "prod", Environment: Prod,
				Kubernetes:         Kubernetes{Kubeconfig: "kc"},
				PodSecurityVersion: "v1.30",
				ImageRegistries:    []string{"registry.example.com:5000/team"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.stack, lookupOf(tt.raw))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		raw  map[string]string
		want []string // substrings of the error
	}{
		{"missing environment", map[string]string{}, []string{"intelliflow:environment is required", "pulumi config set intelliflow:environment"}},
		{"unknown environment", map[string]string{"environment": "qa", "renderDir": "x"}, []string{"intelliflow:environment", `unknown environment "qa"`}},
		{"staging without a target", map[string]string{"environment": "staging"}, []string{"intelliflow:kubeconfig", "no Kubernetes target"}},
		{"both targets", map[string]string{"environment": "dev", "renderDir": "x", "kubeconfig": "y"}, []string{"intelliflow:renderDir", "not both"}},
		{"context without kubeconfig", map[string]string{"environment": "dev", "kubeContext": "kind"}, []string{"intelliflow:kubeContext", "needs kubeconfig"}},
		{"latest PSS version", map[string]string{"environment": "dev", "podSecurityVersion": "latest"}, []string{"intelliflow:podSecurityVersion", `"latest" is not allowed`}},
		{"registries not a list", map[string]string{"environment": "dev", "imageRegistries": "registry.example.com"}, []string{"intelliflow:imageRegistries", "want a list"}},
		{"empty registries", map[string]string{"environment": "dev", "imageRegistries": "[]"}, []string{"intelliflow:imageRegistries", "at least one"}},
		{"registry with scheme", map[string]string{"environment": "dev", "imageRegistries": `["https://registry.example.com"]`}, []string{"intelliflow:imageRegistries", "not a registry host"}},
		{"digest flag not boolean", map[string]string{"environment": "prod", "renderDir": "x", "requireImageDigests": "yes"}, []string{"intelliflow:requireImageDigests", `want true or false, got "yes"`}},
		{
			"every problem at once",
			map[string]string{"environment": "qa", "podSecurityVersion": "1.33", "imageRegistries": "[]"},
			[]string{"intelliflow:environment", "intelliflow:podSecurityVersion", "intelliflow:imageRegistries", "intelliflow:kubeconfig"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("dev", lookupOf(tt.raw))
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestCheckKeys(t *testing.T) {
	require.NoError(t, CheckKeys([]string{"intelliflow:environment", "kubernetes:context", "aws:region"}))
	err := CheckKeys([]string{"intelliflow:enviroment", "intelliflow:renderDir", "intelliflow:imageRegistry"})
	require.ErrorContains(t, err, "unknown config key(s) intelliflow:enviroment, intelliflow:imageRegistry")
	require.ErrorContains(t, err, "intelliflow:environment")
}

func TestNamespaces(t *testing.T) {
	for _, env := range Environments {
		c := Config{Environment: env}
		require.Equal(t, []string{"intelliflow-" + string(env), MonitoringNamespace, SecurityNamespace}, c.Namespaces())
	}
}
