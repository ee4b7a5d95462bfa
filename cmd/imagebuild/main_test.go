package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/ci-cd/images"
	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
)

const (
	revision = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"
	source   = "https://git.intelliflow.internal/platform"
	created  = "1796200000"
)

// TestImages builds every image as the pipeline does (run, the base image
// made here), pushes them to a registry on loopback, and checks each as a
// node would get it: pulled by the digest the build wrote, its config
// (user, entrypoint, labels, platform), its filesystem (CA certificates,
// the binary, the SBOM), and its binary run from that filesystem,
// read-only, as the image's user, with the image's environment. A second
// build of the same commit gives the same digest.
func TestImages(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/intelliflow"
	digests := t.TempDir()
	args := []string{"--registry", repo, "--insecure", "--source", source, "--revision", revision, "--created", created}
	var out bytes.Buffer
	start := time.Now()
	require.NoError(t, run(context.Background(), append(args, "--digests", digests), root, &out))
	t.Logf("built and pushed %d images in %s:\n%s", len(images.Binaries()), time.Since(start).Round(time.Second), out.String())

	ca, err := os.ReadFile(images.CABundle)
	require.NoError(t, err)
	for _, b := range images.Binaries() {
		d, err := os.ReadFile(filepath.Join(digests, b.Name))
		require.NoError(t, err, b.Name)
		ref, err := name.ParseReference(repo+"/"+b.Name+"@"+strings.TrimSpace(string(d)), name.Insecure)
		require.NoError(t, err)
		img, err := remote.Image(ref)
		require.NoError(t, err, "pull %s by its digest", b.Name)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		require.Equal(t, "10001:10001", cf.Config.User, b.Name)
		require.Equal(t, []string{"/app/" + b.Name}, cf.Config.Entrypoint)
		require.Equal(t, map[string]string{"org.opencontainers.image.title": b.Name, "org.opencontainers.image.source": source,
			"org.opencontainers.image.revision": revision, "org.opencontainers.image.created": "2026-12-02T08:26:40Z"}, cf.Config.Labels)
		require.Equal(t, "linux", cf.OS)
		require.Equal(t, "amd64", cf.Architecture)
		layers, err := img.Layers()
		require.NoError(t, err)
		require.Len(t, cf.RootFS.DiffIDs, len(layers), "%s: a diffID for each layer, or containerd refuses the image", b.Name)
		for i, l := range layers {
			id, err := l.DiffID()
			require.NoError(t, err)
			require.Equal(t, id, cf.RootFS.DiffIDs[i], "%s: layer %d", b.Name, i)
		}
		m, err := img.Manifest()
		require.NoError(t, err)
		require.Len(t, m.Layers, 2, "the base and the binary")

		fs := unpack(t, img)
		bundle, err := os.ReadFile(filepath.Join(fs, images.CABundle))
		require.NoError(t, err)
		require.Equal(t, ca, bundle, "the CA certificates")
		st, err := os.Stat(filepath.Join(fs, "app", b.Name))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o755), st.Mode().Perm())
		requireSBOM(t, filepath.Join(fs, "sbom", b.Name+".cdx.json"), b.Name)
		runFrom(t, fs, cf, b.Name)
	}

	// Reproducible: the same commit, built again, is the same image.
	again := t.TempDir()
	require.NoError(t, run(context.Background(), append(args, "--digests", again, "--only", "gateway,model-fetch"), root, io.Discard))
	for _, n := range []string{"gateway", "model-fetch"} {
		first, _ := os.ReadFile(filepath.Join(digests, n))
		second, _ := os.ReadFile(filepath.Join(again, n))
		require.Equal(t, string(first), string(second), "%s rebuilt", n)
	}
}

// unpack writes an image's flattened filesystem to a folder.
func unpack(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		require.NoError(t, err)
		path := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			require.NoError(t, os.MkdirAll(path, 0o755))
			require.NoError(t, os.Chmod(path, os.FileMode(h.Mode)&os.ModePerm|modeBits(h.Mode)))
		case tar.TypeReg:
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&os.ModePerm)
			require.NoError(t, err)
			_, err = io.Copy(f, tr)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		case tar.TypeSymlink:
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.Symlink(h.Linkname, path))
		default:
			t.Fatalf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
	}
}

// modeBits keeps the sticky bit of a tar mode (/tmp's).
func modeBits(mode int64) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// requireSBOM: the image's CycloneDX SBOM names it and the modules in it.
func requireSBOM(t *testing.T, path, name string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct{ Name, Version, Purl string } `json:"component"`
		} `json:"metadata"`
		Components []struct{ Type, Name, Version, Purl string } `json:"components"`
	}
	require.NoError(t, json.Unmarshal(data, &bom))
	require.Equal(t, "CycloneDX", bom.BOMFormat)
	require.Equal(t, name, bom.Metadata.Component.Name)
	require.Equal(t, "pkg:golang/github.com/intelliflow/platform@"+revision, bom.Metadata.Component.Purl)
	require.True(t, slices.ContainsFunc(bom.Components, func(c struct{ Type, Name, Version, Purl string }) bool {
		return c.Type == "platform" && strings.HasPrefix(c.Version, "go1.")
	}), "the toolchain")
	require.NotEmpty(t, slices.DeleteFunc(slices.Clone(bom.Components), func(c struct{ Type, Name, Version, Purl string }) bool {
		return c.Type != "library" || !strings.HasPrefix(c.Purl, "pkg:golang/"+c.Name+"@")
	}), "%s: the modules compiled in", name)
}

// runFrom runs the image's entrypoint with --help from its unpacked
// filesystem as a node would: the filesystem bound read-only, chrooted,
// as the image's user, with only the image's environment. Every binary
// starts and speaks (its usage, or what its config lacks) and exits.
func runFrom(t *testing.T, fs string, cf *v1.ConfigFile, name string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("INTELLIFLOW_REQUIRE_CLUSTER") != "" {
			t.Fatal("running an image's binary as its user needs root (chroot, setuid)")
		}
		t.Skip("running an image's binary as its user needs root")
	}
	require.NoError(t, syscall.Mount(fs, fs, "", syscall.MS_BIND, ""))
	defer func() { require.NoError(t, syscall.Unmount(fs, 0)) }()
	require.NoError(t, syscall.Mount("", fs, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""))
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(fs, &st))
	require.NotZero(t, st.Flags&1, "ST_RDONLY")

	uid, gid, ok := strings.Cut(cf.Config.User, ":")
	require.True(t, ok)
	u, err := strconv.ParseUint(uid, 10, 32)
	require.NoError(t, err)
	g, err := strconv.ParseUint(gid, 10, 32)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cf.Config.Entrypoint[0], "--help")
	cmd.Env = cf.Config.Env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: fs, Credential: &syscall.Credential{Uid: uint32(u), Gid: uint32(g)}}
	output, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil {
		require.ErrorAs(t, err, &exit, "%s did not start: %s", name, output)
		require.True(t, exit.Exited(), "%s was killed (%v): %s", name, err, output)
	}
	require.Contains(t, string(output), name, "%s speaks", name)
	t.Logf("%s as %s, read-only: exit %d: %.120s", name, cf.Config.User, cmd.ProcessState.ExitCode(), strings.ReplaceAll(string(output), "\n", " | "))
}

// TestBadFlags: what cannot build says so before anything is built.
func TestBadFlags(t *testing.T) {
	ctx := context.Background()
	require.ErrorContains(t, run(ctx, nil, ".", io.Discard), "--registry is required (or --cluster)")
	require.ErrorContains(t, run(ctx, []string{"--cluster", ".cluster", "--agent", "--base", "b"}, ".", io.Discard), "no --agent, --insecure or --digests")
	require.ErrorContains(t, run(ctx, []string{"--cluster", t.TempDir(), "--revision", revision, "--created", created, "--ca-bundle", os.Args[0]}, ".", io.Discard), "no cluster is up in")
	require.ErrorContains(t, run(ctx, []string{"--registry", "r/x", "--created", "-5"}, ".", io.Discard), "want Unix seconds")
	require.ErrorContains(t, run(ctx, []string{"--registry", "r/x", "extra"}, ".", io.Discard), `unexpected arguments ["extra"]`)
	require.ErrorContains(t, run(ctx, []string{"--registry", "r/x", "--revision", revision, "--created", created, "--only", "ledger"}, ".", io.Discard), "--only ledger")
	require.ErrorContains(t, run(ctx, []string{"--registry", "r/x", "--revision", revision, "--created", created, "--ca-bundle", "/nonexistent"}, ".", io.Discard), "--ca-bundle")
	require.ErrorContains(t, run(ctx, []string{"--registry", "r/x", "--revision", "no-such-commit"}, t.TempDir(), io.Discard), "--created not given")
}

// TestImagesIntoTheRealNode: with --cluster the images go into the local
// cluster's real node instead of a registry, under <registry>/<name>:<tag>
// with the digests the build gives, where a pod runs them without a pull.
func TestImagesIntoTheRealNode(t *testing.T) {
	c, _, _ := devclustertest.Start(t, 1, 0, devclustertest.RealNode)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	var out bytes.Buffer
	start := time.Now()
	require.NoError(t, run(context.Background(), []string{"--cluster", c.Dir, "--only", "gateway,model-fetch", "--tag", "local",
		"--source", source, "--revision", revision, "--created", created}, root, &out))
	t.Logf("built and loaded in %s:\n%s", time.Since(start).Round(100*time.Millisecond), out.String())
	list, err := c.Ctr("images", "ls")
	require.NoError(t, err, "%s", list)
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		ref, digest, ok := strings.Cut(strings.Fields(line)[0], "@")
		require.True(t, ok, line)
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(ref)+`\s+\S+\s+`+regexp.QuoteMeta(digest)+`\s`, string(list), "%s in the node's images", ref)
	}
	require.Contains(t, out.String(), "intelliflow.local/gateway:local@sha256:")
}
