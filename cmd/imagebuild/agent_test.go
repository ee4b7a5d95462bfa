package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/ci-cd/images"
	"github.com/intelliflow/platform/internal/toolstest"
)

// TestAgentImage builds the CI agent image as the agent pipeline does, from
// this clone's bin/ (make tools) and a plugin folder, pushes it to a
// registry on loopback, and checks that what it carries is what a pipeline
// run needs: make tools, pointed at the image's tool cache, takes both tools
// from it and builds nothing, and the CLI, given the image's PULUMI_HOME,
// lists its plugins. The base is the one made here (the pipeline's is the
// Go toolchain's image).
func TestAgentImage(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	bin := filepath.Join(root, "bin")
	for _, n := range []string{"pulumi", "pulumi-resource-kubernetes"} {
		if _, err := os.Stat(filepath.Join(bin, "."+n+".version")); err != nil {
			if os.Getenv("INTELLIFLOW_REQUIRE_ENGINE") != "" {
				t.Fatalf("bin/%s is missing: run make tools", n)
			}
			t.Skipf("bin/%s is missing: run make tools", n)
		}
	}
	// A plugin folder as `make plugins` leaves it; installed from a file,
	// whose content nothing here runs.
	home := t.TempDir()
	exe := filepath.Join(t.TempDir(), "provider")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\nexit 1\n"), 0o755))
	pulumi := func(home string, args ...string) string {
		cmd := exec.Command(filepath.Join(bin, "pulumi"), args...)
		cmd.Env = append(os.Environ(), "PULUMI_HOME="+home, "PULUMI_SKIP_UPDATE_CHECK=true")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	pulumi(home, "plugin", "install", "resource", "random", "v4.19.0", "--file", exe)

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/intelliflow"
	baseRef := repo + "/base:test"
	ca, err := os.ReadFile(images.CABundle)
	require.NoError(t, err)
	secs, err := strconv.ParseInt(created, 10, 64)
	require.NoError(t, err)
	base, err := images.Base(ca, time.Unix(secs, 0).UTC())
	require.NoError(t, err)
	ref, err := name.ParseReference(baseRef, name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, base))

	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"--agent", "--registry", repo, "--insecure", "--base", baseRef,
		"--tools", bin, "--plugins", filepath.Join(home, "plugins"), "--source", source, "--revision", revision, "--created", created}, root, &out))
	t.Log(strings.TrimSpace(out.String()))
	pushed := strings.Fields(out.String())[0]
	require.Contains(t, pushed, "/intelliflow/ci-agent:v3.274.1-", "tagged by the CLI's version and the pins' digest")

	r, err := name.ParseReference(pushed, name.Insecure)
	require.NoError(t, err)
	img, err := remote.Image(r)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	require.Equal(t, "10001:10001", cf.Config.User)
	require.Subset(t, cf.Config.Env, []string{"INTELLIFLOW_TOOL_CACHE=/opt/intelliflow/tools", "PULUMI_HOME=/opt/pulumi"})
	require.Contains(t, cf.Config.Labels["io.intelliflow.tools"], "plugin random v4.19.0")
	require.Contains(t, cf.Config.Labels["io.intelliflow.tools"], "pulumi v3.274.1")

	fs := unpack(t, img)
	link, err := os.Readlink(filepath.Join(fs, "usr/local/bin/pulumi"))
	require.NoError(t, err)
	require.Equal(t, "/opt/intelliflow/tools/pulumi-v3.274.1/pulumi", link)
	for _, d := range []string{"workspaces", "logs"} {
		require.DirExists(t, filepath.Join(fs, "opt/pulumi", d), "a mount point for the pod's writable folder")
	}

	// make tools in a fresh clone on this agent: everything from the
	// image's cache, nothing built.
	tools := toolstest.Install(t, toolstest.Clone(t, root), "INTELLIFLOW_TOOL_CACHE="+filepath.Join(fs, images.AgentToolCache))
	t.Log(strings.TrimSpace(tools))
	require.NotContains(t, tools, "building")
	require.Contains(t, tools, "tools: pulumi v3.274.1 -> bin/pulumi")

	require.Contains(t, pulumi(filepath.Join(fs, images.AgentPulumiHome), "plugin", "ls"), "random")
}
