package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/intelliflow/platform/internal/rollout"
	"github.com/intelliflow/platform/stacks"
)

// driver runs one command on one stack.
type driver struct {
	o        options
	cfg      stacks.Config
	stack    auto.Stack
	stdout   io.Writer
	progress io.Writer
}

func newDriver(ctx context.Context, o options, program pulumi.RunFunc, getenv func(string) string, stdout, stderr io.Writer) (*driver, error) {
	cfg, env, err := loadStack(o, getenv)
	if err != nil {
		return nil, err
	}
	if state, ok := strings.CutPrefix(env["PULUMI_BACKEND_URL"], "file://"); ok {
		if err := os.MkdirAll(state, 0o700); err != nil {
			return nil, fmt.Errorf("state folder: %w", err)
		}
	}
	if cfg.Kubernetes.RenderDir != "" && cfg.AWS == nil {
		// A stack that only renders to a folder has nothing a crash could
		// strand (the next up renders every file again), so the engine
		// saves its state once at the end instead of after every step:
		// each of those checkpoints rewrites the whole state, which made
		// the charts stack's up of some 530 objects take ten minutes of
		// one core. A stack with a cluster or AWS keeps every checkpoint.
		env["PULUMI_SKIP_CHECKPOINTS"] = "true"
	}
	if o.command == "preview" || o.command == "up" {
		if _, err := os.Stat(o.policyPack); err != nil {
			return nil, fmt.Errorf("policy pack %s: %w; build it with `make policy`", o.policyPack, err)
		}
	}
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: o.root})
	if err != nil {
		return nil, fmt.Errorf("pulumi CLI in %s: %w; build it with `make tools`", filepath.Join(o.root, "bin"), err)
	}
	if o.command != "outputs" {
		if err := checkPlugins(ctx, o, cfg, env); err != nil {
			return nil, err
		}
	}
	ws, err := auto.NewLocalWorkspace(ctx,
		auto.WorkDir(o.root),
		auto.Program(program),
		auto.Pulumi(cli),
		auto.EnvVars(env),
	)
	if err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	var st auto.Stack
	if o.command == "up" || o.command == "preview" {
		st, err = auto.UpsertStack(ctx, o.stack, ws) // created on first use
	} else {
		st, err = auto.SelectStack(ctx, o.stack, ws)
	}
	if err != nil {
		return nil, fmt.Errorf("stack %q: %w", o.stack, err)
	}

	d := &driver{o: o, cfg: cfg, stack: st, stdout: stdout, progress: stdout}
	if o.json {
		d.progress = stderr
	}
	return d, nil
}

// loadStack reads the stack's file, decrypts its secrets and validates
// it; env is what the engine runs with.
func loadStack(o options, getenv func(string) string) (stacks.Config, map[string]string, error) {
	file := filepath.Join(o.root, "Pulumi."+o.stack+".yaml")
	sf, err := stacks.ReadFile(file)
	if err != nil {
		return stacks.Config{}, nil, err
	}
	if err := stacks.CheckKeys(sf.Keys()); err != nil {
		return stacks.Config{}, nil, fmt.Errorf("%s: %w", file, err)
	}
	environment := stacks.Environment(rawEnvironment(sf))
	if !slices.Contains(stacks.Environments, environment) {
		// The secrets setup depends on the environment: report it first.
		_, err := stacks.Parse(o.stack, sf.Lookup)
		return stacks.Config{}, nil, fmt.Errorf("%s: %w", file, err)
	}
	env, err := engineEnv(o, environment, sf, getenv)
	if err != nil {
		return stacks.Config{}, nil, err
	}
	if sf.UsesPassphrase() {
		if sf, err = sf.Decrypt(passphrase(env)); err != nil {
			return stacks.Config{}, nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	cfg, err := stacks.Parse(o.stack, sf.Lookup)
	if err != nil {
		return stacks.Config{}, nil, fmt.Errorf("%s: %w", file, err)
	}
	return cfg, env, nil
}

// rawEnvironment is the stack's environment as written, before validation:
// it decides whether the dev passphrase may be used.
func rawEnvironment(sf stacks.File) string {
	v, _ := sf.Lookup("environment")
	return v
}

// passphrase is the one the CLI will use, read from the file when given so.
func passphrase(env map[string]string) string {
	if p, ok := env["PULUMI_CONFIG_PASSPHRASE"]; ok {
		return p
	}
	if f, ok := env["PULUMI_CONFIG_PASSPHRASE_FILE"]; ok {
		if b, err := os.ReadFile(f); err == nil {
			return strings.TrimRight(string(b), "\r\n")
		}
	}
	return ""
}

// engineEnv is the environment the pulumi CLI runs with.
func engineEnv(o options, environment stacks.Environment, sf stacks.File, getenv func(string) string) (map[string]string, error) {
	bin := filepath.Join(o.root, "bin")
	env := map[string]string{
		// The kubernetes provider is used from bin/ as an ambient plugin.
		"PATH":                     bin + string(os.PathListSeparator) + getenv("PATH"),
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		// Nothing can be downloaded here; fail with a clear error instead.
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
	}
	for _, k := range []string{"PULUMI_HOME", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_ACCESS_TOKEN"} {
		if v := getenv(k); v != "" {
			env[k] = v
		}
	}
	_, hasPass := env["PULUMI_CONFIG_PASSPHRASE"]
	_, hasPassFile := env["PULUMI_CONFIG_PASSPHRASE_FILE"]
	if sf.UsesPassphrase() && !hasPass && !hasPassFile {
		if environment != stacks.Dev {
			return nil, fmt.Errorf("stack %q (environment %q) uses passphrase secrets: set PULUMI_CONFIG_PASSPHRASE (the dev default is not allowed outside dev)", o.stack, environment)
		}
		env["PULUMI_CONFIG_PASSPHRASE"] = stacks.DevPassphrase
	}
	backend := getenv("PULUMI_BACKEND_URL")
	if backend == "" {
		backend = "file://" + filepath.Join(o.root, ".pulumi-state")
	}
	env["PULUMI_BACKEND_URL"] = backend
	return env, nil
}

func (d *driver) run(ctx context.Context) error {
	start := time.Now()
	rep := newReport(d.o, d.cfg)
	evs := make(chan events.EngineEvent)
	collected := make(chan struct{})
	go func() {
		for e := range evs {
			rep.observe(e)
		}
		close(collected)
	}()

	var err error
	switch d.o.command {
	case "preview":
		opts := []optpreview.Option{
			optpreview.PolicyPacks(d.o.policyPack),
			optpreview.ProgressStreams(d.progress),
			optpreview.EventStreams(evs),
		}
		if d.o.diff {
			opts = append(opts, optpreview.Diff())
		}
		_, err = d.stack.Preview(ctx, opts...)
	case "up":
		opts := []optup.Option{
			optup.PolicyPacks(d.o.policyPack),
			optup.ProgressStreams(d.progress),
			optup.EventStreams(evs),
		}
		if d.o.diff {
			opts = append(opts, optup.Diff())
		}
		_, err = d.stack.Up(ctx, opts...)
	case "destroy":
		if d.cfg.Environment != stacks.Dev && !d.o.yes {
			close(evs)
			return fmt.Errorf("destroy on %s stack %q needs --yes", d.cfg.Environment, d.o.stack)
		}
		opts := []optdestroy.Option{optdestroy.ProgressStreams(d.progress), optdestroy.EventStreams(evs)}
		if d.o.diff {
			opts = append(opts, optdestroy.Diff())
		}
		_, err = d.stack.Destroy(ctx, opts...)
	case "refresh":
		opts := []optrefresh.Option{optrefresh.ProgressStreams(d.progress), optrefresh.EventStreams(evs)}
		if d.o.diff {
			opts = append(opts, optrefresh.Diff())
		}
		_, err = d.stack.Refresh(ctx, opts...)
	case "outputs":
		close(evs)
		<-collected
		return d.printOutputs(ctx)
	}
	<-collected
	if err == nil && d.o.command == "up" && d.cfg.Kubernetes.Kubeconfig != "" {
		err = d.settle(ctx, rep)
	}
	rep.finish(time.Since(start), err)
	if d.o.command == "up" || d.o.command == "destroy" {
		outs, oerr := d.stack.Outputs(ctx)
		if oerr == nil {
			rep.setOutputs(outs)
		}
	}
	rep.countManifests(d.o.root)
	if perr := rep.print(d.stdout, d.o.json); perr != nil {
		return perr
	}
	if err != nil {
		if rep.Policy.Mandatory > 0 {
			return fmt.Errorf("%s blocked by %d mandatory policy violation(s): %w", d.o.command, rep.Policy.Mandatory, errReported)
		}
		if errors.Is(err, errNotRunning) {
			return fmt.Errorf("%s: %w", d.o.command, err)
		}
		if len(rep.Diagnostics) > 0 {
			// The summary listed the engine's errors; the CLI's full output adds nothing.
			return fmt.Errorf("%s failed: %w", d.o.command, errReported)
		}
		return fmt.Errorf("%s: %s", d.o.command, rep.Error)
	}
	return nil
}

// errNotRunning: the update went through but some Deployment does not run
// its minimum; the report lists why.
var errNotRunning = errors.New("some Deployments are not rolled out or below their minimum")

// settle waits, after an update into a cluster, until every Deployment of
// the stack's namespaces runs its HPA's minimum, bounded by the stack's
// rolloutTimeoutSeconds, and reports those that do not.
func (d *driver) settle(ctx context.Context, rep *Report) error {
	client, err := clusterClient(d.o.root, d.cfg.Kubernetes)
	if err != nil {
		return err
	}
	short, err := rollout.Wait(ctx, client, d.cfg.Namespaces(), time.Duration(d.cfg.RolloutTimeoutSeconds)*time.Second)
	if err != nil {
		return fmt.Errorf("checking the rollout: %w", err)
	}
	for _, s := range short {
		rep.NotRunning = append(rep.NotRunning, s.String())
	}
	if len(short) > 0 {
		return fmt.Errorf("%d Deployment(s) not rolled out or below their minimum after %ds (intelliflow:rolloutTimeoutSeconds): %w", len(short), d.cfg.RolloutTimeoutSeconds, errNotRunning)
	}
	return nil
}

// clusterClient reaches the stack's cluster: the kubeconfig is a path
// (relative to the project root) or its contents, as the provider reads it.
func clusterClient(root string, k stacks.Kubernetes) (kubernetes.Interface, error) {
	var raw []byte
	if strings.Contains(k.Kubeconfig, "apiVersion") {
		raw = []byte(k.Kubeconfig)
	} else {
		path := k.Kubeconfig
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		var err error
		if raw, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
	}
	cc, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*cc, &clientcmd.ConfigOverrides{CurrentContext: k.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return kubernetes.NewForConfig(cfg)
}

func (d *driver) printOutputs(ctx context.Context) error {
	outs, err := d.stack.Outputs(ctx)
	if err != nil {
		return fmt.Errorf("outputs: %w", err)
	}
	plain := plainOutputs(outs)
	if d.o.json {
		enc := json.NewEncoder(d.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(plain)
	}
	for _, k := range slices.Sorted(maps.Keys(plain)) {
		b, _ := json.Marshal(plain[k])
		fmt.Fprintf(d.stdout, "%-20s %s\n", k, b)
	}
	return nil
}
