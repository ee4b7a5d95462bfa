package images

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The CI agent image (the `go` pod template of casc.yaml) is the Go
// toolchain's image with the pinned Pulumi tools in it, so that no pipeline
// run builds or downloads them: make tools finds the CLI and the kubernetes
// provider in its cache folder, and the engine the other provider plugins
// in its plugin folder.
const (
	// AgentName is the image's name in the registry.
	AgentName = "ci-agent"
	// AgentToolCache is make tools' cache in the image
	// (INTELLIFLOW_TOOL_CACHE): <name>-<version>/<name>.
	AgentToolCache = "/opt/intelliflow/tools"
	// AgentPulumiHome is PULUMI_HOME in the image: plugins/ comes with it;
	// the pod mounts writable folders on workspaces/ and logs/, the only
	// ones the CLI writes during a run, so the root stays read-only.
	AgentPulumiHome = "/opt/pulumi"
)

// Tool is one binary make tools provides, at the version it records.
type Tool struct{ Name, Version, Path string }

// Plugin is one provider plugin of the agent's plugin folder.
type Plugin struct{ Name, Version string }

// AgentTag names an agent image by what it carries: the CLI's version and a
// digest of every tool's and plugin's name and version, so a pin that moves
// names another image, and casc.yaml's reference says which pins it has.
func AgentTag(cli string, pins []string) string {
	pins = slices.Sorted(slices.Values(pins))
	sum := sha256.Sum256([]byte(strings.Join(pins, "\n")))
	return cli + "-" + hex.EncodeToString(sum[:6])
}

// AgentPins are the name and version lines AgentTag digests.
func AgentPins(tools []Tool, plugins []Plugin) []string {
	var pins []string
	for _, t := range tools {
		pins = append(pins, t.Name+" "+t.Version)
	}
	for _, p := range plugins {
		pins = append(pins, "plugin "+p.Name+" "+p.Version)
	}
	return pins
}

// ReadPlugins lists the resource plugins of a plugin folder
// (resource-<name>-v<version>/), skipping those the CLI is still writing.
func ReadPlugins(dir string) ([]Plugin, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Plugin
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "resource-")
		i := strings.LastIndex(rest, "-v")
		if !ok || !e.IsDir() || i < 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name()+".partial")); err == nil {
			continue
		}
		out = append(out, Plugin{Name: rest[:i], Version: rest[i+1:]})
	}
	return out, nil
}

// Agent lays tools (at AgentToolCache/<name>-<version>/<name>, pulumi also
// linked from /usr/local/bin) and the plugin folder plugins (at
// AgentPulumiHome/plugins) on base, as one layer, configured to find them,
// to run as UID 10001, and labelled like the service images. The layer is
// written to layerFile, which the image reads until it is pushed.
func Agent(base v1.Image, tools []Tool, plugins, layerFile string, m Meta) (v1.Image, error) {
	pl, err := ReadPlugins(plugins)
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	tmp, err := os.Create(layerFile)
	if err != nil {
		return nil, err
	}
	w := &treeWriter{tw: tar.NewWriter(tmp), created: m.Created, dirs: map[string]bool{}}
	for _, t := range tools {
		dst := path.Join(AgentToolCache, t.Name+"-"+t.Version, t.Name)
		w.file(dst, t.Path, 0o755)
		if t.Name == "pulumi" {
			w.link("/usr/local/bin/pulumi", dst)
		}
	}
	for _, p := range pl {
		dir := "resource-" + p.Name + "-" + p.Version
		w.tree(path.Join(AgentPulumiHome, "plugins", dir), filepath.Join(plugins, dir))
	}
	w.dir(path.Join(AgentPulumiHome, "workspaces"))
	w.dir(path.Join(AgentPulumiHome, "logs"))
	if w.err == nil {
		w.err = w.tw.Close()
	}
	if err := firstErr(w.err, tmp.Close()); err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromFile(tmp.Name(), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	return appendLayer(base, l, "images.Agent: the pinned pulumi tools and provider plugins", AgentName, m, func(c *v1.Config) {
		c.Env = append(slices.DeleteFunc(c.Env, func(e string) bool {
			return strings.HasPrefix(e, "INTELLIFLOW_TOOL_CACHE=") || strings.HasPrefix(e, "PULUMI_HOME=")
		}), "INTELLIFLOW_TOOL_CACHE="+AgentToolCache, "PULUMI_HOME="+AgentPulumiHome, "PULUMI_SKIP_UPDATE_CHECK=true")
		c.Labels["io.intelliflow.tools"] = strings.Join(slices.Sorted(slices.Values(AgentPins(tools, pl))), ", ")
	})
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// treeWriter streams host files into a reproducible layer (root-owned,
// every time created) with their parent folders, keeping the first error:
// the provider plugins are hundreds of megabytes, too many to hold in
// memory as layer does.
type treeWriter struct {
	tw      *tar.Writer
	created time.Time
	dirs    map[string]bool
	err     error
}

func (w *treeWriter) header(h *tar.Header) {
	if w.err != nil {
		return
	}
	h.Name = strings.TrimPrefix(h.Name, "/")
	h.ModTime, h.Format = w.created, tar.FormatPAX
	w.err = w.tw.WriteHeader(h)
}

// dir writes p and each of its parents not written yet.
func (w *treeWriter) dir(p string) {
	if p == "/" || w.dirs[p] {
		return
	}
	w.dir(path.Dir(p))
	w.dirs[p] = true
	w.header(&tar.Header{Name: p + "/", Mode: 0o755, Typeflag: tar.TypeDir})
}

func (w *treeWriter) link(p, target string) {
	w.dir(path.Dir(p))
	w.header(&tar.Header{Name: p, Mode: 0o777, Typeflag: tar.TypeSymlink, Linkname: target})
}

func (w *treeWriter) file(p, src string, mode int64) {
	w.dir(path.Dir(p))
	if w.err != nil {
		return
	}
	f, err := os.Open(src)
	if err != nil {
		w.err = err
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		w.err = err
		return
	}
	w.header(&tar.Header{Name: p, Mode: mode, Size: st.Size(), Typeflag: tar.TypeReg})
	if w.err == nil {
		_, w.err = io.Copy(w.tw, f)
	}
}

// tree copies the folder src to p: folders, regular files at their
// executable bit, in name order.
func (w *treeWriter) tree(p, src string) {
	if w.err != nil {
		return
	}
	w.err = filepath.WalkDir(src, func(host string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, host)
		dst := path.Join(p, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			w.dir(dst)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if info.Mode()&0o100 != 0 {
				mode = 0o755
			}
			w.file(dst, host, mode)
		}
		return w.err
	})
}
