package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func report(name string) string {
	return filepath.Join("..", "..", "ci-cd", "securitygate", "testdata", name)
}

func night(govulncheck string) []string {
	return []string{"trivy=" + report("trivy.json"), "govulncheck=" + report(govulncheck), "zap=" + report("zap.json"),
		"kube-bench=" + report("kube-bench.json"), "kube-hunter=" + report("kube-hunter.json"),
		"nuclei=" + report("nuclei.jsonl"), "falco=" + report("falco.json")}
}

func TestGateVerdicts(t *testing.T) {
	var out bytes.Buffer
	pass, err := run(night("govulncheck-imported.json"), &out)
	require.NoError(t, err)
	require.True(t, pass, out.String())
	require.Contains(t, out.String(), "security score: 80.8 (threshold 70)")
	require.Contains(t, out.String(), "security gate: passed")
	require.Regexp(t, `trivy\s+0\s+2\s+1\s+1\s+0`, out.String())

	out.Reset()
	pass, err = run(night("govulncheck.json"), &out)
	require.NoError(t, err)
	require.False(t, pass)
	require.Contains(t, out.String(), "critical: govulncheck GO-2026-4001 in github.com/example/parser: Denial of service in example/parser")
	require.Contains(t, out.String(), "Security gate failed: 1 critical findings")
	t.Logf("\n%s", out.String())
}

// TestBadInput: a missing scan, an unknown tool, an unreadable or foreign
// report each stop the gate with an error (exit 2), not a verdict.
func TestBadInput(t *testing.T) {
	var out bytes.Buffer
	_, err := run(night("govulncheck.json")[1:], &out)
	require.ErrorContains(t, err, "no report from trivy: every scan of the run must report")
	_, err = run([]string{"--tools", "trivy", "trivy=" + report("zap.json")}, &out)
	require.ErrorContains(t, err, "zap.json: trivy: not a Trivy JSON report")
	_, err = run([]string{"--tools", "trivy", "burp=" + report("zap.json")}, &out)
	require.ErrorContains(t, err, `"burp=`)
	_, err = run([]string{"--tools", "trivy,burp"}, &out)
	require.ErrorContains(t, err, `unknown tool "burp"`)
	_, err = run([]string{"--tools", "trivy", "trivy=" + filepath.Join(t.TempDir(), "none.json")}, &out)
	require.ErrorIs(t, err, os.ErrNotExist)
	pass, err := run([]string{"--tools", "trivy", "trivy=" + report("trivy-critical.json")}, &out)
	require.NoError(t, err)
	require.False(t, pass)
}
