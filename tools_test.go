package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/toolstest"
)

// builtTools are this clone's bin/ binaries (make tools puts them there
// first); the test skips without them unless the engine tests must run.
func builtTools(t *testing.T) (cli, provider string) {
	t.Helper()
	cli, provider = filepath.Join("bin", "pulumi"), filepath.Join("bin", "pulumi-resource-kubernetes")
	for _, b := range []string{cli, provider} {
		if _, err := os.Stat(b); err != nil {
			if os.Getenv("INTELLIFLOW_REQUIRE_ENGINE") != "" {
				t.Fatalf("%s is missing: run make tools", b)
			}
			t.Skipf("%s is missing: run make tools", b)
		}
	}
	cli, _ = filepath.Abs(cli)
	provider, _ = filepath.Abs(provider)
	return cli, provider
}

// stamp is the version install.sh recorded for a binary in root's bin/.
func stamp(t *testing.T, root, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "bin", "."+name+".version"))
	require.NoError(t, err)
	return strings.TrimSpace(string(data))
}

// sdkRelease is the kubernetes SDK version the program pins: the provider
// release an installed or downloaded plugin must be.
func sdkRelease(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/pulumi/pulumi-kubernetes/sdk/v4").Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// A machine that has the pinned CLI on PATH and the kubernetes plugin at
// the SDK's release in its plugin folder builds nothing: make tools takes
// both and says so.
func TestToolsTakeInstalled(t *testing.T) {
	cli, provider := builtTools(t)
	release := sdkRelease(t)
	path := t.TempDir()
	require.NoError(t, os.Symlink(cli, filepath.Join(path, "pulumi")))
	home := t.TempDir()
	plugin := filepath.Join(home, "plugins", "resource-kubernetes-"+release)
	require.NoError(t, os.MkdirAll(plugin, 0o755))
	require.NoError(t, os.Symlink(provider, filepath.Join(plugin, "pulumi-resource-kubernetes")))

	root := toolstest.Clone(t, ".")
	out := toolstest.Install(t, root, "PATH="+path+":"+os.Getenv("PATH"), "PULUMI_HOME="+home)
	t.Log(out)
	require.NotContains(t, out, "building")
	require.Contains(t, out, "tools: pulumi v3.274.1 from "+filepath.Join(path, "pulumi")+" (installed, nothing built)")
	require.Contains(t, out, "tools: pulumi-resource-kubernetes "+release+" from "+filepath.Join(plugin, "pulumi-resource-kubernetes")+" (installed plugin, nothing built)")
	require.Equal(t, release, stamp(t, root, "pulumi-resource-kubernetes"))

	// A second run keeps what bin/ has.
	out = toolstest.Install(t, root, "PATH="+path+":"+os.Getenv("PATH"), "PULUMI_HOME="+home)
	require.Contains(t, out, "tools: pulumi v3.274.1 already in bin/pulumi")
	require.Contains(t, out, "tools: pulumi-resource-kubernetes "+release+" already in bin/pulumi-resource-kubernetes")
}

// Where downloads are allowed, the pinned CLI downloads the plugin release
// (here from a plugin server on loopback serving the provider this clone
// built, packed as a release is) and make tools takes it; a CLI or plugin at
// another version is never taken, and the build cache serves instead.
func TestToolsDownloadThePluginAndRefuseOtherVersions(t *testing.T) {
	cli, provider := builtTools(t)
	release := sdkRelease(t)
	asset := "pulumi-resource-kubernetes-" + release + "-" + runtime.GOOS + "-" + runtime.GOARCH + ".tar.gz"
	var served atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimPrefix(r.URL.Path, "/") != asset {
			http.NotFound(w, r)
			return
		}
		served.Store(true)
		writePluginTarball(t, w, provider)
	}))
	defer srv.Close()

	// The CLI comes from the cache (as a build would leave it), the
	// provider from the server.
	cache := t.TempDir()
	cached := filepath.Join(cache, "pulumi-v3.274.1", "pulumi")
	require.NoError(t, os.MkdirAll(filepath.Dir(cached), 0o755))
	require.NoError(t, os.Symlink(cli, cached))
	root := toolstest.Clone(t, ".")
	out := toolstest.Install(t, root, "INTELLIFLOW_TOOL_CACHE="+cache, "INTELLIFLOW_PLUGIN_DOWNLOAD=1", "INTELLIFLOW_PLUGIN_SERVER="+srv.URL)
	t.Log(out)
	require.True(t, served.Load(), "the plugin server was never asked for %s", asset)
	require.Contains(t, out, "tools: pulumi v3.274.1 -> bin/pulumi")
	require.Contains(t, out, "(downloaded plugin, nothing built) -> bin/pulumi-resource-kubernetes")
	require.Equal(t, release, stamp(t, root, "pulumi-resource-kubernetes"))

	// Another machine: a pulumi on PATH at another version and the plugin
	// at another release; without downloads, both come from the cache.
	path := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(path, "pulumi"), []byte("#!/bin/sh\necho v3.200.0\n"), 0o755))
	home := t.TempDir()
	other := filepath.Join(home, "plugins", "resource-kubernetes-v4.1.0")
	require.NoError(t, os.MkdirAll(other, 0o755))
	require.NoError(t, os.Symlink(provider, filepath.Join(other, "pulumi-resource-kubernetes")))
	builtVersion := stamp(t, ".", "pulumi-resource-kubernetes")
	require.NoError(t, os.MkdirAll(filepath.Join(cache, "pulumi-resource-kubernetes-"+builtVersion), 0o755))
	require.NoError(t, os.Symlink(provider, filepath.Join(cache, "pulumi-resource-kubernetes-"+builtVersion, "pulumi-resource-kubernetes")))
	root = toolstest.Clone(t, ".")
	out = toolstest.Install(t, root, "PATH="+path+":"+os.Getenv("PATH"), "PULUMI_HOME="+home, "INTELLIFLOW_TOOL_CACHE="+cache)
	t.Log(out)
	require.NotContains(t, out, "installed")
	require.Contains(t, out, "tools: pulumi v3.274.1 -> bin/pulumi")
	require.Contains(t, out, "tools: pulumi-resource-kubernetes "+builtVersion+" -> bin/pulumi-resource-kubernetes")
}

// writePluginTarball packs the provider as a plugin release is packed (the
// binary at the archive's root) and serves it with its length, which the
// CLI checks the download against.
func writePluginTarball(t *testing.T, w http.ResponseWriter, provider string) {
	data, err := os.ReadFile(provider)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "pulumi-resource-kubernetes", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}))
	_, err = tw.Write(data)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}
