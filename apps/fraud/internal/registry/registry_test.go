package registry

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// addVersion copies the committed model files into dir/version, keeping
// only the named ones, optionally damaging one.
func addVersion(t *testing.T, dir, version string, files []string, damage func(name string, b []byte) []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, version), 0o755))
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join("..", "..", "model", name))
		require.NoError(t, err)
		if damage != nil {
			b = damage(name, b)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, version, name), b, 0o644))
	}
}

var trees = []string{"model.json", "reference.json", "metrics.json"}

func TestOpenAndSwitch(t *testing.T) {
	dir := t.TempDir()
	addVersion(t, dir, "2026-11-01", trees, nil)
	r, err := Open(dir, features.Count, quiet)
	require.NoError(t, err)
	require.Equal(t, "2026-11-01", r.Current().Version)
	require.Equal(t, "xgboost", r.Current().Kind)
	require.InDelta(t, 0.3106, r.Current().PRAUC, 1e-9, "from metrics.json")

	switched, err := r.Reload()
	require.NoError(t, err)
	require.False(t, switched, "nothing new")

	addVersion(t, dir, "2026-11-15", []string{"model-lr.json", "reference.json"}, nil)
	switched, err = r.Reload()
	require.NoError(t, err)
	require.True(t, switched)
	require.Equal(t, "2026-11-15", r.Current().Version)
	require.Equal(t, "logistic", r.Current().Kind)
}

func TestBadVersionsAreRefusedAndTheOldModelServes(t *testing.T) {
	dir := t.TempDir()
	addVersion(t, dir, "v1", trees, nil)
	r, err := Open(dir, features.Count, quiet)
	require.NoError(t, err)
	old := r.Current()

	for _, bad := range []struct {
		version string
		files   []string
		damage  func(string, []byte) []byte
		want    string
	}{
		{"v2", trees, func(n string, b []byte) []byte {
			if n == "model.json" {
				return b[:len(b)/3]
			}
			return b
		}, "truncated or corrupt"},
		{"v3", []string{"reference.json"}, nil, "no model.json or model-lr.json"},
		{"v4", []string{"model.json"}, nil, "reference predictions"},
		{"v5", trees, func(n string, b []byte) []byte {
			if n == "reference.json" {
				return []byte(`{"features": [[1,2,3,4,5,6,7,8,9,10,11,12]], "probability": [0.5]}`)
			}
			return b
		}, "does not match its reference"},
	} {
		addVersion(t, dir, bad.version, bad.files, bad.damage)
		switched, err := r.Reload()
		require.False(t, switched, bad.version)
		require.ErrorContains(t, err, bad.want, bad.version)
		require.Same(t, old, r.Current(), "%s: the old model keeps serving", bad.version)
		require.NoError(t, os.RemoveAll(filepath.Join(dir, bad.version)))
	}
}

func TestOpenSkipsBadNewestAndFailsWithNone(t *testing.T) {
	dir := t.TempDir()
	addVersion(t, dir, "v1", trees, nil)
	addVersion(t, dir, "v2", []string{"reference.json"}, nil)
	r, err := Open(dir, features.Count, quiet)
	require.NoError(t, err)
	require.Equal(t, "v1", r.Current().Version, "falls back to the newest valid version")

	_, err = Open(t.TempDir(), features.Count, quiet)
	require.ErrorContains(t, err, "has no versions")
	_, err = Open(filepath.Join(t.TempDir(), "missing"), features.Count, quiet)
	require.ErrorContains(t, err, "model folder")
	_, err = Open(dir, features.Count+1, quiet)
	require.ErrorContains(t, err, "model takes 12 features, the server computes 13")
}

// TestSwapUnderLoad: scoring goes on, without errors or races, while
// versions switch (run with -race).
func TestSwapUnderLoad(t *testing.T) {
	dir := t.TempDir()
	addVersion(t, dir, "v1", trees, nil)
	r, err := Open(dir, features.Count, quiet)
	require.NoError(t, err)
	x := make([]float64, features.Count)
	x[features.Amount] = 42
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				m := r.Current()
				if _, err := m.Predict(x); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for _, v := range []string{"v2", "v3", "v4"} {
		files := trees
		if v == "v3" {
			files = []string{"model-lr.json", "reference.json"}
		}
		addVersion(t, dir, v, files, nil)
		switched, err := r.Reload()
		require.NoError(t, err)
		require.True(t, switched)
	}
	close(stop)
	wg.Wait()
	require.Equal(t, "v4", r.Current().Version)
}
