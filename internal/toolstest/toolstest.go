// Package toolstest runs tools/install.sh (make tools) in a fresh
// repository folder, so a test sees which source each tool comes from
// without touching its own clone's bin/.
package toolstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// files are what install.sh reads: itself, provide.sh, and the go.mod
// files that pin the tools' versions (the program's pins the kubernetes
// SDK, whose release an installed or downloaded provider must be).
var files = []string{"go.mod", "go.sum", "tools/install.sh", "tools/provide.sh", "tools/go.mod", "tools/go.sum", "tools/kubernetes/go.mod", "tools/kubernetes/go.sum"}

// Clone copies those files of the repository at repo into a new folder
// and returns it.
func Clone(t testing.TB, repo string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(repo, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Install runs root's install.sh and returns what it printed. Its
// environment is a clean one (PATH and HOME as this process has them, an
// empty tool cache and plugin folder), then env, which may override any
// of it.
func Install(t testing.TB, root string, env ...string) string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(root, "tools", "install.sh"))
	cmd.Env = append([]string{
		"HOME=" + os.Getenv("HOME"),
		"PATH=" + os.Getenv("PATH"),
		"GOFLAGS=-mod=mod",
		"INTELLIFLOW_TOOL_CACHE=" + t.TempDir(),
		"PULUMI_HOME=" + t.TempDir(),
		"PULUMI_SKIP_UPDATE_CHECK=true",
	}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tools/install.sh: %v\n%s", err, out)
	}
	return string(out)
}
