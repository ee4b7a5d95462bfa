// Command intelliflow deploys the IntelliFlow platform through the Pulumi
// Automation API, with the program inline (infra.Run) and the policy pack
// always on:
//
//	intelliflow preview|up|destroy|refresh|outputs [--stack dev] [--diff] [--json]
//	intelliflow plugins [--stack staging] [--server URL]
//	intelliflow falco-rules [--stack prod]
//	intelliflow stores --stack realnode
//
// It needs the pulumi CLI and the kubernetes provider in <root>/bin (make
// tools) and the policy pack at <root>/bin/intelliflow-policy (make policy).
// State goes to a file backend under the project root unless
// PULUMI_BACKEND_URL says otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/infra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "intelliflow:", err)
		os.Exit(1)
	}
}

// errReported ends an error whose details the summary already printed.
var errReported = errors.New("see the summary above")

// commands are the operations the driver runs.
var commands = []string{"preview", "up", "destroy", "refresh", "outputs", "plugins", "falco-rules", "stores"}

const usage = `usage: intelliflow <preview|up|destroy|refresh|outputs|plugins|falco-rules|stores> [flags]

  preview   show what would change, with the policy pack
  up        create or update the stack, with the policy pack
  destroy   delete every resource of the stack
  refresh   read the real state back into the stack's state
  outputs   print the stack's outputs
  plugins   install the provider plugins the stack needs at the pinned
            versions (where downloads are allowed: engine runs never download)
  falco-rules
            print our Falco rules file as the stack deploys it (for falco --validate)
  stores    run a dev stack's data stores on this machine, as its config
            names them (address, ports, credentials, TLS), until Ctrl-C

flags:
`

// options are the parsed command line.
type options struct {
	command    string
	stack      string
	root       string
	policyPack string
	diff       bool
	json       bool
	yes        bool
	// pluginServer is where plugins downloads from: a mirror of the
	// provider releases (default: the CLI's own sources).
	pluginServer string
}

var stackNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("intelliflow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.stack, "stack", "dev", "stack name (dev, staging, prod); config from Pulumi.<stack>.yaml")
	fs.StringVar(&o.root, "root", "", "project root holding Pulumi.yaml (default: found upwards from the current directory)")
	fs.StringVar(&o.policyPack, "policy-pack", "", "policy pack binary (default: <root>/bin/intelliflow-policy)")
	fs.BoolVar(&o.diff, "diff", false, "show property-level diffs")
	fs.BoolVar(&o.json, "json", false, "print a JSON summary on stdout (progress goes to stderr)")
	fs.BoolVar(&o.yes, "yes", false, "with destroy on a non-dev stack: confirm")
	fs.StringVar(&o.pluginServer, "server", "", "with plugins: download from this mirror of the plugin releases")

	if len(args) == 0 {
		fs.Usage()
		return o, errors.New("no command given")
	}
	o.command = args[0]
	if o.command == "-h" || o.command == "--help" || o.command == "help" {
		fs.Usage()
		return o, flag.ErrHelp
	}
	if !slices.Contains(commands, o.command) {
		fs.Usage()
		return o, fmt.Errorf("unknown command %q; want one of %v", o.command, commands)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q; flags go after the command", fs.Arg(0))
	}
	if !stackNameRE.MatchString(o.stack) {
		return o, fmt.Errorf("--stack %q: use letters, digits, '-', '_' or '.'", o.stack)
	}
	return o, nil
}

// run is the whole command, with its environment passed in, so that tests
// drive it exactly as a user would.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runProgram(ctx, infra.Run, args, getenv, stdout, stderr)
}

// runProgram is run with the Pulumi program given; tests use it to run the
// platform plus a deliberately unsafe resource through the real engine.
func runProgram(ctx context.Context, program pulumi.RunFunc, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if o.root, err = findRoot(wd); err != nil {
			return err
		}
	}
	if o.root, err = filepath.Abs(o.root); err != nil {
		return err
	}
	if o.policyPack == "" {
		o.policyPack = filepath.Join(o.root, "bin", "intelliflow-policy")
	}
	switch o.command {
	case "plugins":
		return runPlugins(ctx, o, getenv, stdout, stderr)
	case "stores":
		return runStores(ctx, o, getenv, stdout)
	case "falco-rules":
		cfg, err := stackShape(o)
		if err != nil {
			return err
		}
		rules, err := infra.FalcoRules(cfg)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, rules)
		return err
	}
	d, err := newDriver(ctx, o, program, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	return d.run(ctx)
}

// findRoot walks up from dir to the folder holding Pulumi.yaml.
func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "Pulumi.yaml")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no Pulumi.yaml in %s or above; run from the project or pass --root", dir)
		}
	}
}
