package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/infra"
	"github.com/intelliflow/platform/stacks"
)

// stackCfg parses the repository's stack file as the engine would, with
// credentials set for the keys a team sets itself (staging and prod keep
// none in the file).
func stackCfg(t *testing.T, stack string) stacks.Config {
	t.Helper()
	f, err := stacks.ReadFile(filepath.Join(repoDir(t), "Pulumi."+stack+".yaml"))
	require.NoError(t, err)
	creds := map[string]string{}
	for _, k := range append(stacks.CredentialKeys(), stacks.PlatformCredentialKeys...) {
		creds[k] = "test-" + k
	}
	credJSON, _ := json.Marshal(creds)
	cfg, err := stacks.Parse(stack, func(k string) (string, bool) {
		if k == "credentials" {
			return string(credJSON), true
		}
		return f.Lookup(k)
	})
	require.NoError(t, err)
	return cfg
}

// Staging and prod need the aws, random and vault plugins at the versions
// go.mod pins their SDKs; the dev stack only bin/'s kubernetes provider.
func TestStackPlugins(t *testing.T) {
	for _, stack := range []string{"staging", "prod"} {
		got, err := stackPlugins(stackCfg(t, stack))
		require.NoError(t, err)
		require.Equal(t, []plugin{{"aws", "v6.83.4"}, {"random", "v4.19.0"}, {"vault", "v6.1.0"}}, got, stack)
	}
	for _, stack := range []string{"dev", "local", "charts"} {
		got, err := stackPlugins(stackCfg(t, stack))
		require.NoError(t, err)
		require.Empty(t, got, stack)
	}
}

// An engine run of a stack whose plugins are not installed stops before the
// engine, naming each missing plugin and the command that installs them;
// once the CLI lists them, it goes on. `plugins` downloads what is missing
// and fails on a download that fails, installing nothing for it.
func TestPluginsCheckedBeforeTheEngine(t *testing.T) {
	engineRoot(t) // skips without bin/pulumi, unless make test runs it
	repo := repoDir(t)
	cfg := stackCfg(t, "staging")
	home := t.TempDir()
	env := map[string]string{"PULUMI_HOME": home, "PULUMI_SKIP_UPDATE_CHECK": "true"}
	o := options{command: "preview", stack: "staging", root: repo}
	ctx := context.Background()

	err := checkPlugins(ctx, o, cfg, env)
	require.EqualError(t, err, `stack "staging" needs the provider plugins aws v6.83.4, random v4.19.0, vault v6.1.0, not installed in `+filepath.Join(home, "plugins")+": install them where downloads are allowed with `make plugins STACK=staging` (go run ./cmd/intelliflow plugins --stack staging)")

	// A mirror that lacks the aws release: plugins fails on it, naming it.
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.NotFound(w, r)
	}))
	defer srv.Close()
	// The command as a pipeline runs it: no passphrase, no credentials.
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err = run(ctx, []string{"plugins", "--stack", "staging", "--root", repo, "--server", srv.URL}, getenv, &stdout, &stderr)
	require.ErrorContains(t, err, "installing the aws v6.83.4 plugin")
	require.Positive(t, asked.Load(), "the CLI asked the mirror")
	missing, err := missingPlugins(ctx, repo, env, []plugin{{"aws", "v6.83.4"}})
	require.NoError(t, err)
	require.Len(t, missing, 1, "a failed download installs nothing")

	// Installed as the CLI installs a plugin from a file (what a download
	// unpacks to), every plugin at its version: the check passes, and
	// plugins has nothing to do. The file's content is not run here.
	exe := filepath.Join(t.TempDir(), "provider")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\nexit 1\n"), 0o755))
	for _, p := range []plugin{{"aws", "v6.83.4"}, {"random", "v4.19.0"}, {"vault", "v6.1.0"}} {
		out, err := pulumiCLI(ctx, repo, env, "plugin", "install", "resource", p.name, p.version, "--file", exe).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	require.NoError(t, checkPlugins(ctx, o, cfg, env))
	stdout.Reset()
	require.NoError(t, installPlugins(ctx, o, cfg, env, &stdout, &stderr))
	require.Equal(t, "plugins: aws v6.83.4 already installed\nplugins: random v4.19.0 already installed\nplugins: vault v6.1.0 already installed\n"+
		`plugins: stack "staging" has every provider plugin it needs: kubernetes from bin/, aws v6.83.4, random v4.19.0, vault v6.1.0`+"\n", stdout.String())

	// Another version of one is not the one pinned.
	require.NoError(t, os.RemoveAll(filepath.Join(home, "plugins", "resource-vault-v6.1.0")))
	out, err := pulumiCLI(ctx, repo, env, "plugin", "install", "resource", "vault", "v6.2.0", "--file", exe).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.ErrorContains(t, checkPlugins(ctx, o, cfg, env), "needs the provider plugins vault v6.1.0, not installed")
}

// falco-rules prints the rules file the stack deploys, its networks in the
// list the rules read, without the stack's secrets.
func TestFalcoRulesCommand(t *testing.T) {
	repo := repoDir(t)
	var stdout bytes.Buffer
	getenv := func(string) string { return "" }
	require.NoError(t, run(context.Background(), []string{"falco-rules", "--stack", "prod", "--root", repo}, getenv, &stdout, &bytes.Buffer{}))
	cfg := stackCfg(t, "prod")
	want, err := infra.FalcoRules(cfg)
	require.NoError(t, err)
	require.Equal(t, want, stdout.String())
	require.Contains(t, stdout.String(), "list: intelliflow_allowed_networks")
	require.Contains(t, stdout.String(), cfg.AWS.VPCCIDR)
	require.ErrorContains(t, run(context.Background(), []string{"falco-rules", "--stack", "qa", "--root", repo}, getenv, &stdout, &bytes.Buffer{}), "Pulumi.qa.yaml")
}
