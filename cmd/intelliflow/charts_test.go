package main

// The charts stack through the real engine: every platform chart rendered
// from the chart mirror (Pulumi.charts.yaml) and every object it makes
// checked by the policy pack.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/infra"
	"github.com/intelliflow/platform/internal/chartmirror"
	"github.com/intelliflow/platform/policy/exceptions"
	"github.com/intelliflow/platform/policy/rules"
	"github.com/intelliflow/platform/stacks"
)

// chartsRoot is an engine root holding the charts stack too, its chart
// folder made absolute (the stack names it relative to the repository).
func chartsRoot(t *testing.T) (string, func(string) string) {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	abs := chartmirror.Dir(t, repo)
	root, getenv := engineRoot(t)
	f, err := stacks.ReadFile(filepath.Join(repo, "Pulumi.charts.yaml"))
	require.NoError(t, err)
	repoURL, ok := f.Lookup("chartRepository")
	require.True(t, ok)
	data, err := os.ReadFile(filepath.Join(repo, "Pulumi.charts.yaml"))
	require.NoError(t, err)
	data = []byte(strings.Replace(string(data), repoURL, chart.LocalPrefix+abs, 1))
	require.NoError(t, os.WriteFile(filepath.Join(root, "Pulumi.charts.yaml"), data, 0o644))
	return root, getenv
}

// finding is one mandatory violation as "RULE TYPE NAME", the resource's
// type and Pulumi name taken from its URN.
func finding(v Violation) string {
	parts := strings.Split(v.URN, "::")
	name := parts[len(parts)-1]
	types := strings.Split(parts[len(parts)-2], "$")
	return v.Policy + " " + types[len(types)-1] + " " + name
}

// TestEngineChartsStack renders every chart from the mirror through the
// engine with the pack. Each chart must render (a pin the mirror lacks, a
// template that needs a cluster, a chart that refuses the Kubernetes
// version all fail here), and the pack finds nothing mandatory on any
// object: every finding on a chart's objects was fixed through its values,
// a transform or an object of ours, or is a named exception in
// policy/exceptions with its reason.
func TestEngineChartsStack(t *testing.T) {
	root, getenv := chartsRoot(t)
	rep, err := engineOn(t, "charts", infra.Run, root, getenv, "preview")
	for _, d := range rep.Diagnostics {
		require.NotContains(t, d, "has a problem", "a chart did not render")
	}
	charts := map[string]bool{}
	for _, s := range rep.Steps {
		if s.Type == "kubernetes:helm.sh/v4:Chart" {
			charts[s.URN[strings.LastIndex(s.URN, "::")+2:]] = true
		}
	}
	require.Len(t, charts, 9, "every platform chart: %v", charts)
	var open []string
	for _, v := range rep.Policy.Violations {
		if v.Level == "mandatory" {
			open = append(open, finding(v))
		}
	}
	open = slices.Compact(slices.Sorted(slices.Values(open)))

	// Every named exception waives a finding on an object this stack
	// really renders (the Falco agent, the device plugin): one that
	// matches nothing is stale and fails.
	for _, e := range exceptions.List {
		used := false
		for _, v := range rep.Policy.Violations {
			used = used || (v.Policy == rules.ExceptedPolicy && strings.Contains(v.Message, `"`+e.Name+`": `+e.Rule+"-"))
		}
		require.True(t, used, "exception %s on %s %s matches no rendered object", e.Rule, e.Type, e.Name)
	}
	t.Logf("charts stack: %d resources checked, %d open mandatory findings, %d advisory", rep.Policy.Checked, len(open), rep.Policy.Advisory)
	require.Empty(t, open, "mandatory findings on the charts stack: fix them through the chart's values or name an exception with its reason")
	require.NoError(t, err)
}
