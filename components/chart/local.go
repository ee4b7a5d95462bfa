package chart

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/intelliflow/platform/internal/filedigest"
)

// LocalPrefix marks a chart repository that is a folder on this machine:
// a static Helm repository (index.yaml and the packaged charts it lists),
// as Helm spells local chart paths in a chart's dependencies. Build machines
// and air-gapped sites use it; the production path is the mirror's URL.
const LocalPrefix = "file://"

// LocalDir returns the folder of a file:// repository, and false for a
// remote one.
func LocalDir(repository string) (string, bool) {
	dir, ok := strings.CutPrefix(repository, LocalPrefix)
	return dir, ok && dir != ""
}

// ResolveLocal makes a file:// repository's relative folder absolute
// against root (the project root), so the program and the provider, which
// run in different folders, read the same charts. Remote repositories are
// returned unchanged.
func ResolveLocal(repository, root string) string {
	dir, ok := LocalDir(repository)
	if !ok || filepath.IsAbs(dir) {
		return repository
	}
	return LocalPrefix + filepath.Join(root, dir)
}

// index is the part of a Helm repository's index.yaml that locating a
// chart reads.
type index struct {
	Entries map[string][]struct {
		Version string   `json:"version"`
		Digest  string   `json:"digest"`
		URLs    []string `json:"urls"`
	} `json:"entries"`
}

// Locate finds chart name at version in the static repository in dir and
// returns its archive's path, after checking the archive against the
// index's digest: a pin that the repository does not hold, or an archive
// that is not the one indexed, is an error naming what is there instead.
func Locate(dir, name, version string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "index.yaml"))
	if err != nil {
		return "", fmt.Errorf("chart repository %s: %w", dir, err)
	}
	var idx index
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return "", fmt.Errorf("chart repository %s: index.yaml: %w", dir, err)
	}
	entries, ok := idx.Entries[name]
	if !ok {
		return "", fmt.Errorf("chart repository %s has no chart %q (it has %s)", dir, name, strings.Join(slices.Sorted(maps.Keys(idx.Entries)), ", "))
	}
	var versions []string
	for _, e := range entries {
		if e.Version != version {
			versions = append(versions, e.Version)
			continue
		}
		if len(e.URLs) == 0 || strings.Contains(e.URLs[0], "://") {
			// A mirror on disk holds its archives; a URL would be a download.
			return "", fmt.Errorf("chart repository %s: %s %s is not an archive in the folder (urls %v)", dir, name, version, e.URLs)
		}
		archive := filepath.Join(dir, filepath.FromSlash(e.URLs[0]))
		sum, err := filedigest.SHA256(archive)
		if err != nil {
			return "", fmt.Errorf("chart repository %s: %s %s: %w", dir, name, version, err)
		}
		if e.Digest != "" && sum != e.Digest {
			return "", fmt.Errorf("chart repository %s: %s has sha256 %s, the index says %s", dir, archive, sum, e.Digest)
		}
		return archive, nil
	}
	return "", fmt.Errorf("chart repository %s has no %s %s (it has %s)", dir, name, version, strings.Join(versions, ", "))
}
