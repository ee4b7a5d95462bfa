package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/stacks"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want options
		err  string
	}{
		{name: "defaults", args: []string{"up"}, want: options{command: "up", stack: "dev"}},
		{name: "all flags", args: []string{"preview", "--stack", "prod", "--diff", "--json", "--root", "/r", "--policy-pack", "/p"},
			want: options{command: "preview", stack: "prod", diff: true, json: true, root: "/r", policyPack: "/p"}},
		{name: "no command", args: nil, err: "no command given"},
		{name: "unknown command", args: []string{"deploy"}, err: `unknown command "deploy"`},
		{name: "flag before command", args: []string{"--stack", "dev", "up"}, err: `unknown command "--stack"`},
		{name: "unknown flag", args: []string{"up", "--force"}, err: "flag provided but not defined: -force"},
		{name: "stray argument", args: []string{"up", "prod"}, err: `unexpected argument "prod"`},
		{name: "bad stack name", args: []string{"up", "--stack", "../prod"}, err: `--stack "../prod"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseArgs(tt.args, &bytes.Buffer{})
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// rootWith makes a project root with a Pulumi.yaml and one stack file.
func rootWith(t *testing.T, stack, stackYAML string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "Pulumi.yaml"), []byte("name: intelliflow\nruntime: go\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "Pulumi."+stack+".yaml"), []byte(stackYAML), 0o644))
	return root
}

// TestConfigErrorsBeforeTheEngine: bad stack config is reported with its key
// before the CLI or any tool is needed (the temp root has no bin/).
func TestConfigErrorsBeforeTheEngine(t *testing.T) {
	tests := []struct {
		name, stack, yaml, want string
	}{
		{"no stack file", "qa", "", "no stack file"},
		{"typo in a key", "dev", "config:\n  intelliflow:enviroment: dev\n", "unknown config key(s) intelliflow:enviroment"},
		{"bare key typo", "dev", "config:\n  renderdir: out\n", "unknown config key(s) intelliflow:renderdir"},
		{"bad environment", "dev", "config:\n  intelliflow:environment: qa\n", `config intelliflow:environment: unknown environment "qa"`},
		{"missing environment", "dev", "config:\n  intelliflow:renderDir: out\n", "config intelliflow:environment is required"},
		{"bad list", "dev", "config:\n  intelliflow:environment: dev\n  intelliflow:imageRegistries: registry.example.com\n", "config intelliflow:imageRegistries: want a list"},
		{"broken yaml", "dev", "config: [\n", "Pulumi.dev.yaml"},
		{"wrong passphrase for dev secrets", "dev", "config:\n  intelliflow:environment: dev\n  intelliflow:credentials:\n    secure: v1:abc:def\nencryptionsalt: v1:lcarNZndu9A=:v1:E8vqcDBcB3dxUBsS:vcYeE/K5zLKqcXOk9G2VRYAvD/xMrA==\n", "cannot decrypt"},
		{"prod without passphrase", "prod", "config:\n  intelliflow:environment: prod\n  intelliflow:renderDir: out\n", "set PULUMI_CONFIG_PASSPHRASE (the dev default is not allowed outside dev)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.stack
			if tt.name == "no stack file" {
				file = "dev"
			}
			root := rootWith(t, file, tt.yaml)
			var stdout, stderr bytes.Buffer
			getenv := func(string) string { return "" }
			err := run(context.Background(), []string{"preview", "--stack", tt.stack, "--root", root}, getenv, &stdout, &stderr)
			require.ErrorContains(t, err, tt.want)
			require.NoDirExists(t, filepath.Join(root, ".pulumi-state"), "nothing is written on bad config")
		})
	}
}

func TestMissingToolsSayHowToBuildThem(t *testing.T) {
	devStack, err := os.ReadFile(filepath.Join("..", "..", "Pulumi.dev.yaml"))
	require.NoError(t, err)
	root := rootWith(t, "dev", string(devStack))
	getenv := func(string) string { return "" }
	err = run(context.Background(), []string{"preview", "--root", root}, getenv, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "make policy")

	require.NoError(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "bin", "intelliflow-policy"), nil, 0o755))
	err = run(context.Background(), []string{"preview", "--root", root}, getenv, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "make tools")
}

func TestEngineEnv(t *testing.T) {
	dev, prod := stacks.Dev, stacks.Prod
	o := options{root: t.TempDir(), stack: "x"}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	got, err := engineEnv(o, dev, stacks.File{}, env(map[string]string{"PATH": "/usr/bin"}))
	require.NoError(t, err)
	require.Equal(t, stacks.DevPassphrase, got["PULUMI_CONFIG_PASSPHRASE"])
	require.Equal(t, filepath.Join(o.root, "bin")+":/usr/bin", got["PATH"])
	require.Equal(t, "file://"+filepath.Join(o.root, ".pulumi-state"), got["PULUMI_BACKEND_URL"])

	got, err = engineEnv(o, dev, stacks.File{}, env(map[string]string{"PULUMI_CONFIG_PASSPHRASE": "mine", "PULUMI_BACKEND_URL": "s3://b"}))
	require.NoError(t, err)
	require.Equal(t, "mine", got["PULUMI_CONFIG_PASSPHRASE"])
	require.Equal(t, "s3://b", got["PULUMI_BACKEND_URL"])

	_, err = engineEnv(o, prod, stacks.File{}, env(nil))
	require.ErrorContains(t, err, "PULUMI_CONFIG_PASSPHRASE")

	got, err = engineEnv(o, prod, stacks.File{}, env(map[string]string{"PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secrets/p"}))
	require.NoError(t, err)
	require.NotContains(t, got, "PULUMI_CONFIG_PASSPHRASE")

	got, err = engineEnv(o, prod, stacks.File{SecretsProvider: "awskms://alias/intelliflow-prod"}, env(nil))
	require.NoError(t, err, "a KMS secrets provider needs no passphrase")
	require.NotContains(t, got, "PULUMI_CONFIG_PASSPHRASE")
}

func TestFindRoot(t *testing.T) {
	root := rootWith(t, "dev", "")
	deep := filepath.Join(root, "a", "b")
	require.NoError(t, os.MkdirAll(deep, 0o755))
	got, err := findRoot(deep)
	require.NoError(t, err)
	require.Equal(t, root, got)
	_, err = findRoot(t.TempDir())
	require.ErrorContains(t, err, "no Pulumi.yaml")
}
