// Package images builds the platform's container images without a Docker
// daemon and without root: each service binary, and the fraud pods' model
// fetcher, compiled static by the Go toolchain and laid on a base image as
// one layer, configured to run as UID 10001, labelled with its source and
// revision, with a CycloneDX SBOM of the modules compiled in; pushed with
// go-containerregistry. Reproducible: the same commit, base and created
// time give the same digest. The pipeline runs it (cmd/imagebuild) on the
// `go` agent; the tests run the same code against a base image they make
// (Base) and a registry on loopback.
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/intelliflow/platform/apps/catalog"
)

// UID and GID the images run as: not root, above any host's system users
// (SEC-05), the same as every Deployment's securityContext.
const UID, GID = 10001, 10001

// CABundle is where the images keep the CA certificates (Debian's path,
// which Go's crypto/x509 reads first).
const CABundle = "/etc/ssl/certs/ca-certificates.crt"

// Binary is one image: its name and the Go package of its main.
type Binary struct {
	Name, Package string
}

// Binaries are the images this repository builds: every service of the
// catalog, and model-fetch (the fraud pods' init container).
func Binaries() []Binary {
	var out []Binary
	for _, name := range catalog.Names() {
		out = append(out, Binary{Name: name, Package: "./apps/" + name})
	}
	return append(out, Binary{Name: "model-fetch", Package: "./apps/fraud/cmd/model-fetch"})
}

// file is one entry of a layer.
type file struct {
	path string
	mode int64
	data []byte
	dir  bool
}

// layer makes a reproducible OCI layer: entries in the order given, owned
// by root, every time set to created.
func layer(files []file, created time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: strings.TrimPrefix(f.path, "/"), Mode: f.mode, ModTime: created, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(f.data))}
		if f.dir {
			h.Typeflag, h.Size, h.Name = tar.TypeDir, 0, h.Name+"/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// Base makes the smallest image the binaries need, as distroless's static
// image has it: the CA certificates (caBundle, PEM), a passwd and group
// naming the non-root user, and a /tmp. The pipeline may use a mirrored
// base instead (cmd/imagebuild --base); the tests use this one.
func Base(caBundle []byte, created time.Time) (v1.Image, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, GID)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID)
	l, err := layer([]file{
		{path: "/etc", mode: 0o755, dir: true},
		{path: "/etc/passwd", mode: 0o644, data: []byte(passwd)},
		{path: "/etc/group", mode: 0o644, data: []byte(group)},
		{path: "/etc/ssl", mode: 0o755, dir: true},
		{path: "/etc/ssl/certs", mode: 0o755, dir: true},
		{path: CABundle, mode: 0o644, data: caBundle},
		{path: "/home", mode: 0o755, dir: true},
		{path: "/home/nonroot", mode: 0o700, dir: true},
		{path: "/tmp", mode: 0o1777, dir: true},
	}, created)
	if err != nil {
		return nil, err
	}
	// The configuration first, then the layer: configuring after
	// appending replaced the rootfs with one that lacked the layer's
	// diffID, which containerd refuses to import.
	img, err := mutate.ConfigFile(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), &v1.ConfigFile{
		Architecture: "amd64", OS: "linux", Created: v1.Time{Time: created},
		RootFS: v1.RootFS{Type: "layers"},
		Config: v1.Config{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + CABundle}},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "images.Base: CA certificates, passwd, /tmp"}})
}

// Meta is what every image of one build says about where it comes from.
type Meta struct {
	// Source is the repository's URL; Revision the commit built.
	Source, Revision string
	// Created is the commit's time: a fixed time keeps builds
	// reproducible.
	Created time.Time
}

// Build compiles b's package in the repository at root (static, trimmed,
// no build ID, no VCS stamp: the same commit gives the same bytes) and
// lays it on base at /app/<name>, with its SBOM at /sbom/<name>.cdx.json.
func Build(ctx context.Context, root string, b Binary, base v1.Image, m Meta) (v1.Image, error) {
	tmp, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, b.Name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", bin, b.Package)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", b.Package, err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	sbom, err := SBOM(bin, b, m)
	if err != nil {
		return nil, err
	}
	l, err := layer([]file{
		{path: "/app", mode: 0o755, dir: true},
		{path: "/app/" + b.Name, mode: 0o755, data: exe},
		{path: "/sbom", mode: 0o755, dir: true},
		{path: "/sbom/" + b.Name + ".cdx.json", mode: 0o644, data: sbom},
	}, m.Created)
	if err != nil {
		return nil, err
	}
	return appendLayer(base, l, "images.Build "+b.Package, b.Name, m, func(c *v1.Config) {
		c.Entrypoint = []string{"/app/" + b.Name}
		c.Cmd = nil
		c.WorkingDir = "/"
	})
}

// appendLayer lays l on base and configures the result as every image of
// the repository is: created at the commit's time, run as UID:GID,
// labelled with its title, source and revision; then edit.
func appendLayer(base v1.Image, l v1.Layer, createdBy, title string, m Meta, edit func(*v1.Config)) (v1.Image, error) {
	img, err := mutate.Append(base, mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: m.Created}, CreatedBy: createdBy}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: m.Created}
	cf.Config.User = strconv.Itoa(UID) + ":" + strconv.Itoa(GID)
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    title,
		"org.opencontainers.image.source":   m.Source,
		"org.opencontainers.image.revision": m.Revision,
		"org.opencontainers.image.created":  m.Created.UTC().Format(time.RFC3339),
	}
	edit(&cf.Config)
	return mutate.ConfigFile(img, cf)
}

// SBOM is the CycloneDX bill of materials of a Go binary: its main module
// and every module compiled in, as the binary's build information records
// them, and the Go toolchain.
func SBOM(binary string, b Binary, m Meta) ([]byte, error) {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", binary, err)
	}
	purl := func(path, version string) string { return "pkg:golang/" + path + "@" + version }
	main := cdx.Component{Type: cdx.ComponentTypeApplication, Name: b.Name, Version: m.Revision,
		BOMRef: purl(info.Main.Path, m.Revision), PackageURL: purl(info.Main.Path, m.Revision)}
	components := []cdx.Component{{Type: cdx.ComponentTypePlatform, Name: "go", Version: info.GoVersion, BOMRef: "golang-toolchain"}}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		c := cdx.Component{Type: cdx.ComponentTypeLibrary, Name: d.Path, Version: d.Version, BOMRef: purl(d.Path, d.Version), PackageURL: purl(d.Path, d.Version)}
		if d.Sum != "" {
			// go.sum's h1: hash, a digest of the module's file tree: no
			// CycloneDX hash algorithm names it.
			c.Properties = &[]cdx.Property{{Name: "golang:module:sum", Value: d.Sum}}
		}
		components = append(components, c)
	}
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{Timestamp: m.Created.UTC().Format(time.RFC3339), Component: &main}
	bom.Components = &components
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	if err := enc.Encode(bom); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Static makes an image of one static binary: the binary at /<name>, its
// entrypoint, run as the nobody user (65535) unless a pod says otherwise.
// The local cluster's pod sandbox (internal/devcluster/pause) and its
// network check (internal/devcluster/netcheck) are such images.
func Static(name string, binary []byte, created time.Time) (v1.Image, error) {
	l, err := layer([]file{{path: "/" + name, mode: 0o755, data: binary}}, created)
	if err != nil {
		return nil, err
	}
	img, err := mutate.ConfigFile(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), &v1.ConfigFile{
		Architecture: "amd64", OS: "linux", Created: v1.Time{Time: created},
		RootFS: v1.RootFS{Type: "layers"},
		Config: v1.Config{Entrypoint: []string{"/" + name}, User: "65535:65535"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "images.Static: /" + name}})
}
