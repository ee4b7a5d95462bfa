// Package golden compares a value with a reviewed JSON file under testdata/,
// refreshed with `go test -update`, the way the standard library keeps its
// printer output honest.
package golden

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// RequireJSON fails unless got, as indented JSON, equals testdata/<name>.
// With -update it writes the file first; review the diff before committing.
func RequireJSON(t testing.TB, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	require.NoError(t, err)
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "%s is missing; run the test with -update and review the file", path)
	require.JSONEq(t, string(want), string(b))
}
