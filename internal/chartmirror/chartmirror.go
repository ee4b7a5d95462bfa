// Package chartmirror finds, for tests, the chart mirror the charts stack
// reads: INTELLIFLOW_CHART_MIRROR when set, else the folder
// Pulumi.charts.yaml names (file://../shared/charts, beside the clone on
// our build machines).
package chartmirror

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/stacks"
)

// Env names a chart mirror folder explicitly; when set it must hold one.
const Env = "INTELLIFLOW_CHART_MIRROR"

// Dir returns the absolute folder of the chart mirror for the repository
// at repo. A clone with no mirror beside it skips (saying where it looked);
// a mirror named by Env that is not there fails.
func Dir(t testing.TB, repo string) string {
	t.Helper()
	if dir := os.Getenv(Env); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "index.yaml")); err != nil {
			t.Fatalf("%s=%s holds no chart repository: %v", Env, dir, err)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	f, err := stacks.ReadFile(filepath.Join(repo, "Pulumi.charts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := f.Lookup("chartRepository")
	rel, ok := chart.LocalDir(url)
	if !ok {
		t.Fatalf("Pulumi.charts.yaml: chartRepository %q is not a file:// folder", url)
	}
	dir, err := filepath.Abs(filepath.Join(repo, rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.yaml")); err != nil {
		t.Skipf("no chart mirror at %s (Pulumi.charts.yaml's %s); set %s to one", dir, url, Env)
	}
	return dir
}
