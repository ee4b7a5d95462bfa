package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/intelliflow/platform/stacks"
)

// The engine runs every stack with automatic plugin downloads off (here
// nothing could be downloaded, and an update must not fetch a provider
// behind review). So the provider plugins a stack needs are installed
// before, at the versions the program's SDKs pin: by `intelliflow plugins`
// where downloads are allowed (the CI agents), and checked before every
// engine run so a missing one is named up front, with its fix.
//
// The kubernetes provider is the exception: it is bin/'s (make tools), which
// the engine uses as an ambient plugin.

// plugin is one provider plugin at the version the program's SDK pins.
type plugin struct{ name, version string }

func (p plugin) String() string { return p.name + " " + p.version }

// stackPlugins are the plugins cfg's program needs besides bin/'s
// kubernetes provider, at the versions of their SDKs compiled into this
// driver (the program runs inline, so those SDKs are the ones that ask the
// engine for a plugin; go.mod pins them).
func stackPlugins(cfg stacks.Config) ([]plugin, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil, errors.New("this binary carries no module information")
	}
	var out []plugin
	for _, name := range cfg.Providers() {
		if name == "kubernetes" {
			continue
		}
		// The SDK of provider NAME is github.com/pulumi/pulumi-NAME/sdk/vN;
		// its release is the plugin release it asks the engine for.
		i := slices.IndexFunc(info.Deps, func(m *debug.Module) bool {
			return strings.HasPrefix(m.Path, "github.com/pulumi/pulumi-"+name+"/sdk/")
		})
		if i < 0 {
			return nil, fmt.Errorf("no SDK for the %s provider is compiled in", name)
		}
		out = append(out, plugin{name, info.Deps[i].Version})
	}
	return out, nil
}

// missingPlugins are those of want the CLI does not list as installed.
func missingPlugins(ctx context.Context, root string, env map[string]string, want []plugin) ([]plugin, error) {
	if len(want) == 0 {
		return nil, nil
	}
	out, err := pulumiCLI(ctx, root, env, "plugin", "ls", "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("pulumi plugin ls: %w", err)
	}
	var installed []struct{ Name, Kind, Version string }
	if err := json.Unmarshal(out, &installed); err != nil {
		return nil, fmt.Errorf("pulumi plugin ls: %w", err)
	}
	var missing []plugin
	for _, p := range want {
		if !slices.ContainsFunc(installed, func(i struct{ Name, Kind, Version string }) bool {
			return i.Kind == "resource" && i.Name == p.name && "v"+strings.TrimPrefix(i.Version, "v") == p.version
		}) {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// pulumiCLI is bin/'s CLI with the engine's environment over this process's.
func pulumiCLI(ctx context.Context, root string, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "pulumi"), args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// checkPlugins fails an engine run that would stop on a missing plugin,
// naming each and how to install them.
func checkPlugins(ctx context.Context, o options, cfg stacks.Config, env map[string]string) error {
	want, err := stackPlugins(cfg)
	if err != nil {
		return err
	}
	missing, err := missingPlugins(ctx, o.root, env, want)
	if err != nil || len(missing) == 0 {
		return err
	}
	return fmt.Errorf("stack %q needs the provider plugins %s, not installed in %s: install them where downloads are allowed with `make plugins STACK=%s` (go run ./cmd/intelliflow plugins --stack %s)",
		o.stack, joinPlugins(missing), pluginDir(env), o.stack, o.stack)
}

// runPlugins is the plugins command. The plugins a stack needs follow from
// its shape (AWS or not, Vault configured or not), never from its secrets,
// so it runs without the passphrase: a pipeline installs prod's plugins
// without prod's secrets.
func runPlugins(ctx context.Context, o options, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := stackShape(o)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(o.root, "bin", "pulumi")); err != nil {
		return fmt.Errorf("pulumi CLI in %s: %w; build it with `make tools`", filepath.Join(o.root, "bin"), err)
	}
	env := map[string]string{"PULUMI_SKIP_UPDATE_CHECK": "true"}
	if h := getenv("PULUMI_HOME"); h != "" {
		env["PULUMI_HOME"] = h
	}
	return installPlugins(ctx, o, cfg, env, stdout, stderr)
}

// stackShape is the stack's config without its secrets (stacks.ParseShape).
func stackShape(o options) (stacks.Config, error) {
	file := filepath.Join(o.root, "Pulumi."+o.stack+".yaml")
	sf, err := stacks.ReadFile(file)
	if err != nil {
		return stacks.Config{}, err
	}
	if err := stacks.CheckKeys(sf.Keys()); err != nil {
		return stacks.Config{}, fmt.Errorf("%s: %w", file, err)
	}
	cfg, err := stacks.ParseShape(o.stack, sf)
	if err != nil {
		return stacks.Config{}, fmt.Errorf("%s: %w", file, err)
	}
	return cfg, nil
}

// installPlugins is the plugins command: the CLI downloads each plugin the
// stack lacks (from server, a mirror of the plugin releases, when given).
func installPlugins(ctx context.Context, o options, cfg stacks.Config, env map[string]string, stdout, stderr io.Writer) error {
	want, err := stackPlugins(cfg)
	if err != nil {
		return err
	}
	missing, err := missingPlugins(ctx, o.root, env, want)
	if err != nil {
		return err
	}
	for _, p := range want {
		if !slices.Contains(missing, p) {
			fmt.Fprintf(stdout, "plugins: %s already installed\n", p)
		}
	}
	for _, p := range missing {
		args := []string{"plugin", "install", "resource", p.name, p.version}
		if o.pluginServer != "" {
			args = append(args, "--server", o.pluginServer)
		}
		cmd := pulumiCLI(ctx, o.root, env, args...)
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("installing the %s plugin: %w (see the CLI's message above)", p, err)
		}
		fmt.Fprintf(stdout, "plugins: %s installed in %s\n", p, pluginDir(env))
	}
	fmt.Fprintf(stdout, "plugins: stack %q has every provider plugin it needs: kubernetes from bin/%s\n", o.stack, listSuffix(want))
	return nil
}

func joinPlugins(ps []plugin) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func listSuffix(ps []plugin) string {
	if len(ps) == 0 {
		return ""
	}
	return ", " + joinPlugins(ps)
}

// pluginDir is where the CLI keeps plugins for env.
func pluginDir(env map[string]string) string {
	if h := env["PULUMI_HOME"]; h != "" {
		return filepath.Join(h, "plugins")
	}
	if h := os.Getenv("PULUMI_HOME"); h != "" {
		return filepath.Join(h, "plugins")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".pulumi", "plugins")
}
