// Command imagebuild builds every image of the repository (ci-cd/images)
// and pushes each to REGISTRY/<name>:<tag>, writing its digest to
// <digests>/<name>: the pipeline's Images stage, without a Docker daemon
// or root.
//
//	imagebuild --registry registry.example.com/intelliflow [--tag T]
//	  [--base REF | --ca-bundle FILE] [--source URL] [--revision SHA]
//	  [--created UNIX] [--digests DIR] [--insecure] [--only a,b]
//
// With --cluster DIR it loads the images into the real node of the local
// cluster in DIR (make cluster ARGS=--real-node) instead of pushing them,
// as <registry>/<name>:<tag> (registry default: intelliflow.local), for
// pods that run them with imagePullPolicy Never:
//
//	imagebuild --cluster .cluster [--only fraud,model-fetch]
//
// With --agent it builds the CI agent image instead (images.Agent): --base
// (the Go toolchain's image) with make tools' binaries from --tools (bin/)
// and the provider plugins of --plugins (a PULUMI_HOME/plugins folder that
// `make plugins STACK=prod` filled); its tag defaults to images.AgentTag.
//
// Without --base the base image is made here (images.Base) from the CA
// bundle. --revision and --created default to the checkout's HEAD and its
// commit time, so the same commit builds the same digests. Registry
// credentials come from the Docker config ($DOCKER_CONFIG/config.json), as
// every registry client reads them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/intelliflow/platform/internal/devcluster"
	"github.com/intelliflow/platform/internal/flaghelp"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/intelliflow/platform/ci-cd/images"
)

func main() {
	if err := run(context.Background(), os.Args[1:], ".", os.Stdout); err != nil {
		flaghelp.Exit("imagebuild", err, 1)
	}
}

// options are the command line's.
type options struct {
	registry, tag, base, caBundle, source, revision, digests, only string
	created                                                        int64
	insecure                                                       bool
	agent                                                          bool
	tools, plugins                                                 string
	cluster                                                        string
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("imagebuild", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.registry, "registry", "", "where the images go: host[:port]/path (required, unless --cluster)")
	fs.StringVar(&o.cluster, "cluster", "", "load the images into the real node of the local cluster in this folder (make cluster ARGS=--real-node) instead of pushing them, named <registry>/<image>:<tag> (registry default: intelliflow.local)")
	fs.StringVar(&o.tag, "tag", "", "the tag every image gets (default: the revision)")
	fs.StringVar(&o.base, "base", "", "base image reference (default: one made here from --ca-bundle)")
	fs.StringVar(&o.caBundle, "ca-bundle", images.CABundle, "CA certificates (PEM) for the base image made here")
	fs.StringVar(&o.source, "source", "", "the repository's URL, for the org.opencontainers.image.source label")
	fs.StringVar(&o.revision, "revision", "", "the commit built (default: git rev-parse HEAD)")
	fs.Int64Var(&o.created, "created", 0, "the images' creation time, Unix seconds (default: the commit's time)")
	fs.StringVar(&o.digests, "digests", "", "folder to write each image's digest to, one file per image")
	fs.BoolVar(&o.insecure, "insecure", false, "the registry speaks plain HTTP (a loopback test registry)")
	fs.StringVar(&o.only, "only", "", "comma-separated images to build (default: all)")
	fs.BoolVar(&o.agent, "agent", false, "build the CI agent image (the Go image of --base with the pinned pulumi tools) instead")
	fs.StringVar(&o.tools, "tools", "bin", "with --agent: the folder make tools filled")
	fs.StringVar(&o.plugins, "plugins", "", "with --agent: the provider plugin folder to carry (default: $PULUMI_HOME/plugins or ~/.pulumi/plugins)")
	if err := flaghelp.Parse(fs, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.cluster != "" && o.registry == "" {
		o.registry = "intelliflow.local"
	}
	if o.registry == "" {
		return o, errors.New("--registry is required (or --cluster)")
	}
	if o.cluster != "" && (o.agent || o.insecure || o.digests != "") {
		return o, errors.New("--cluster loads the service images into a local node: no --agent, --insecure or --digests")
	}
	if o.created < 0 {
		return o, fmt.Errorf("--created %d: want Unix seconds", o.created)
	}
	if o.agent && (o.base == "" || o.only != "") {
		return o, errors.New("--agent needs --base (the Go toolchain's image) and builds one image: no --only")
	}
	return o, nil
}

// git runs git in dir and returns its trimmed output.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// run builds and pushes the images of the repository at root.
func run(ctx context.Context, args []string, root string, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	if o.revision == "" {
		if o.revision, err = git(root, "rev-parse", "HEAD"); err != nil {
			return fmt.Errorf("--revision not given: %w", err)
		}
	}
	if o.created == 0 {
		ct, err := git(root, "log", "-1", "--format=%ct", o.revision)
		if err != nil {
			return fmt.Errorf("--created not given: %w", err)
		}
		if o.created, err = strconv.ParseInt(ct, 10, 64); err != nil {
			return fmt.Errorf("commit time %q: %w", ct, err)
		}
	}
	if o.tag == "" && !o.agent {
		o.tag = o.revision
	}
	var nameOpts []name.Option
	if o.insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	meta := images.Meta{Source: o.source, Revision: o.revision, Created: time.Unix(o.created, 0).UTC()}
	var base v1.Image
	if o.base != "" {
		ref, err := name.ParseReference(o.base, nameOpts...)
		if err != nil {
			return fmt.Errorf("--base: %w", err)
		}
		if base, err = remote.Image(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("--base: %w", err)
		}
	} else {
		ca, err := os.ReadFile(o.caBundle)
		if err != nil {
			return fmt.Errorf("--ca-bundle: %w", err)
		}
		if base, err = images.Base(ca, meta.Created); err != nil {
			return err
		}
	}
	if o.agent {
		return buildAgent(ctx, o, base, meta, nameOpts, out)
	}
	bins := images.Binaries()
	if o.only != "" {
		want := strings.Split(o.only, ",")
		bins = slices.DeleteFunc(bins, func(b images.Binary) bool { return !slices.Contains(want, b.Name) })
		if len(bins) != len(want) {
			return fmt.Errorf("--only %s: images are %v", o.only, bins)
		}
	}
	if o.digests != "" {
		if err := os.MkdirAll(o.digests, 0o755); err != nil {
			return err
		}
	}
	var node *devcluster.Cluster
	if o.cluster != "" {
		if node, err = devcluster.Running(o.cluster, filepath.Join(root, "bin", "cluster")); err != nil {
			return err
		}
	}
	for _, b := range bins {
		start := time.Now()
		img, err := images.Build(ctx, root, b, base, meta)
		if err != nil {
			return err
		}
		var ref name.Reference
		var digest v1.Hash
		if node != nil {
			ref, digest, err = load(node, o, b.Name, img)
		} else {
			ref, digest, err = push(ctx, o, b.Name, img, nameOpts)
		}
		if err != nil {
			return err
		}
		if o.digests != "" {
			if err := os.WriteFile(filepath.Join(o.digests, b.Name), []byte(digest.String()+"\n"), 0o644); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "%s@%s (%s)\n", ref, digest, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// load imports img into the cluster's real node as <registry>/<name>:<tag>.
func load(node *devcluster.Cluster, o options, image string, img v1.Image) (name.Reference, v1.Hash, error) {
	ref, err := name.ParseReference(strings.TrimSuffix(o.registry, "/") + "/" + image + ":" + o.tag)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	if err := node.Import(ref.String(), img); err != nil {
		return nil, v1.Hash{}, err
	}
	digest, err := img.Digest()
	return ref, digest, err
}

// push writes img to the registry as <name>:<tag>.
func push(ctx context.Context, o options, image string, img v1.Image, nameOpts []name.Option) (name.Reference, v1.Hash, error) {
	ref, err := name.ParseReference(strings.TrimSuffix(o.registry, "/")+"/"+image+":"+o.tag, nameOpts...)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return nil, v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	digest, err := img.Digest()
	return ref, digest, err
}

// agentTools are the binaries make tools put in dir, at the versions it
// recorded beside them.
func agentTools(dir string) ([]images.Tool, error) {
	var out []images.Tool
	for _, n := range []string{"pulumi", "pulumi-resource-kubernetes"} {
		v, err := os.ReadFile(filepath.Join(dir, "."+n+".version"))
		if err != nil {
			return nil, fmt.Errorf("--tools: %w (run make tools)", err)
		}
		out = append(out, images.Tool{Name: n, Version: strings.TrimSpace(string(v)), Path: filepath.Join(dir, n)})
	}
	return out, nil
}

// buildAgent builds and pushes the CI agent image.
func buildAgent(ctx context.Context, o options, base v1.Image, meta images.Meta, nameOpts []name.Option, out io.Writer) error {
	start := time.Now()
	tools, err := agentTools(o.tools)
	if err != nil {
		return err
	}
	if o.plugins == "" {
		home := os.Getenv("PULUMI_HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return err
			}
			home = filepath.Join(h, ".pulumi")
		}
		o.plugins = filepath.Join(home, "plugins")
	}
	plugins, err := images.ReadPlugins(o.plugins)
	if err != nil {
		return fmt.Errorf("--plugins: %w", err)
	}
	if o.tag == "" {
		o.tag = images.AgentTag(tools[0].Version, images.AgentPins(tools, plugins))
	}
	work, err := os.MkdirTemp("", "imagebuild-agent-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	img, err := images.Agent(base, tools, o.plugins, filepath.Join(work, "layer.tar"), meta)
	if err != nil {
		return err
	}
	ref, digest, err := push(ctx, o, images.AgentName, img, nameOpts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s@%s (%s)\n", ref, digest, time.Since(start).Round(100*time.Millisecond))
	return nil
}
