package chart

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// mirror writes a static repository holding vault 0.30.1 (and 0.30.0 only
// in the index), its archive indexed with digest.
func mirror(t *testing.T, digest string, url string) string {
	t.Helper()
	dir := t.TempDir()
	archive := []byte("not really a chart, but bytes with a checksum")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vault-0.30.1.tgz"), archive, 0o644))
	if digest == "" {
		sum := sha256.Sum256(archive)
		digest = hex.EncodeToString(sum[:])
	}
	index := `apiVersion: v1
entries:
  vault:
  - name: vault
    version: 0.30.0
    urls: [vault-0.30.0.tgz]
  - name: vault
    version: 0.30.1
    digest: ` + digest + `
    urls: [` + url + `]
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.yaml"), []byte(index), 0o644))
	return dir
}

func TestLocate(t *testing.T) {
	dir := mirror(t, "", "vault-0.30.1.tgz")
	got, err := Locate(dir, "vault", "0.30.1")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "vault-0.30.1.tgz"), got)

	_, err = Locate(dir, "vault", "0.31.0")
	require.ErrorContains(t, err, "has no vault 0.31.0 (it has 0.30.0, 0.30.1)")
	_, err = Locate(dir, "falco", "9.1.0")
	require.ErrorContains(t, err, `has no chart "falco" (it has vault)`)
	_, err = Locate(dir, "vault", "0.30.0")
	require.ErrorContains(t, err, "no such file", "indexed, but the archive is missing")
	_, err = Locate(t.TempDir(), "vault", "0.30.1")
	require.ErrorContains(t, err, "index.yaml")

	tampered := mirror(t, strings.Repeat("ab", 32), "vault-0.30.1.tgz")
	_, err = Locate(tampered, "vault", "0.30.1")
	require.ErrorContains(t, err, "the index says abab")

	remote := mirror(t, "", "https://charts.example/vault-0.30.1.tgz")
	_, err = Locate(remote, "vault", "0.30.1")
	require.ErrorContains(t, err, "not an archive in the folder", "a folder mirror never downloads")
}

func TestLocalRepositories(t *testing.T) {
	require.NoError(t, ValidRepository("file://../shared/charts"))
	require.NoError(t, ValidRepository("file:///srv/charts"))
	require.Error(t, ValidRepository("file://"))

	dir, ok := LocalDir("file://../shared/charts")
	require.True(t, ok)
	require.Equal(t, "../shared/charts", dir)
	_, ok = LocalDir("https://charts.intelliflow.internal")
	require.False(t, ok)

	require.Equal(t, "file:///work/shared/charts", ResolveLocal("file://../shared/charts", "/work/main"))
	require.Equal(t, "file:///srv/charts", ResolveLocal("file:///srv/charts", "/work/main"))
	require.Equal(t, "https://charts.intelliflow.internal", ResolveLocal("https://charts.intelliflow.internal", "/work/main"))
}
