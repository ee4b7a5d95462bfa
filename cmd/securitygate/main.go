// Command securitygate is the nightly security pipeline's last stage: it
// reads every scanner's report (ci-cd/securitygate), prints the findings
// by tool and grade, the critical ones, and the security score, and fails
// the build on any critical finding or a score below 70.
//
//	securitygate [--tools trivy,zap,...] TOOL=REPORT ...
//
// Every tool the run expects (--tools; all of them by default) needs a
// report: a scan that did not run is no pass. Exit status: 0 the gate
// passes, 1 it fails, 2 the reports could not be read.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/intelliflow/platform/internal/flaghelp"

	"github.com/intelliflow/platform/ci-cd/securitygate"
)

func main() {
	pass, err := run(os.Args[1:], os.Stdout)
	switch {
	case err != nil:
		flaghelp.Exit("securitygate", err, 2)
	case !pass:
		os.Exit(1)
	}
}

// run reads the reports args name and prints the verdict to out.
func run(args []string, out io.Writer) (bool, error) {
	fs := flag.NewFlagSet("securitygate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tools := fs.String("tools", strings.Join(securitygate.Tools(), ","), "the tools whose reports this run requires")
	if err := flaghelp.Parse(fs, args); err != nil {
		return false, err
	}
	want := strings.Split(*tools, ",")
	for _, t := range want {
		if securitygate.Parsers[t] == nil {
			return false, fmt.Errorf("--tools: unknown tool %q; tools are %s", t, strings.Join(securitygate.Tools(), ", "))
		}
	}
	var findings []securitygate.Finding
	got := map[string]bool{}
	for _, arg := range fs.Args() {
		tool, path, ok := strings.Cut(arg, "=")
		parse := securitygate.Parsers[tool]
		if !ok || parse == nil {
			return false, fmt.Errorf("%q: want TOOL=REPORT with TOOL one of %s", arg, strings.Join(securitygate.Tools(), ", "))
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return false, err
		}
		found, err := parse(data)
		if err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		findings = append(findings, found...)
		got[tool] = true
	}
	var missing []string
	for _, t := range want {
		if !got[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return false, errors.New("no report from " + strings.Join(missing, ", ") + ": every scan of the run must report")
	}
	v := securitygate.Evaluate(findings, want)
	printVerdict(out, v, want)
	return v.Pass(), nil
}

func printVerdict(out io.Writer, v securitygate.Verdict, tools []string) {
	grades := []securitygate.Severity{securitygate.Critical, securitygate.High, securitygate.Medium, securitygate.Low, securitygate.Info}
	fmt.Fprintf(out, "%-12s", "tool")
	for _, g := range grades {
		fmt.Fprintf(out, " %8s", g)
	}
	fmt.Fprintln(out)
	for _, t := range slices.Sorted(slices.Values(tools)) {
		fmt.Fprintf(out, "%-12s", t)
		for _, g := range grades {
			fmt.Fprintf(out, " %8d", v.Counts[t][g])
		}
		fmt.Fprintln(out)
	}
	for _, f := range v.Criticals {
		fmt.Fprintf(out, "critical: %s %s in %s: %s\n", f.Tool, f.ID, f.Where, f.Title)
	}
	fmt.Fprintf(out, "security score: %.1f (threshold %.0f)\n", v.Score, securitygate.Threshold)
	if v.Pass() {
		fmt.Fprintln(out, "security gate: passed")
		return
	}
	for _, r := range v.Reasons {
		fmt.Fprintln(out, r)
	}
}
