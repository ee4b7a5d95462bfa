package securitygate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func parse(t *testing.T, tool, file string) []Finding {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	out, err := Parsers[tool](data)
	require.NoError(t, err, file)
	return out
}

func counts(fs []Finding) map[Severity]int {
	out := map[Severity]int{}
	for _, f := range fs {
		out[f.Severity]++
	}
	return out
}

// TestParsers: every scanner's report maps onto the gate's grades.
func TestParsers(t *testing.T) {
	for _, tt := range []struct {
		tool, file string
		want       map[Severity]int
	}{
		// Two HIGH vulnerabilities' worth: one CVE and one failed
		// misconfiguration; the passed check is no finding.
		{"trivy", "trivy.json", map[Severity]int{High: 2, Medium: 1, Low: 1}},
		{"trivy", "trivy-critical.json", map[Severity]int{Critical: 2}},
		// Three traces of GO-2026-4001, one reaching Parse: one critical.
		{"govulncheck", "govulncheck.json", map[Severity]int{Critical: 1, Low: 1}},
		{"govulncheck", "govulncheck-imported.json", map[Severity]int{Low: 1}},
		{"zap", "zap.json", map[Severity]int{High: 1, Medium: 1, Low: 1, Info: 1}},
		// The passed check is none; the scored failure Medium, the manual warning Low.
		{"kube-bench", "kube-bench.json", map[Severity]int{Medium: 1, Low: 1}},
		{"kube-hunter", "kube-hunter.json", map[Severity]int{Low: 1}},
		{"nuclei", "nuclei.jsonl", map[Severity]int{Info: 2}},
		{"falco", "falco.json", map[Severity]int{Low: 1}},
		{"falco", "falco-broken.json", map[Severity]int{Critical: 1}},
	} {
		got := parse(t, tt.tool, tt.file)
		require.Equal(t, tt.want, counts(got), tt.file)
		for _, f := range got {
			require.Equal(t, tt.tool, f.Tool)
			require.NotEmpty(t, f.Where, "%s: %+v", tt.file, f)
		}
	}
	called := parse(t, "govulncheck", "govulncheck.json")[0]
	require.Equal(t, Finding{Tool: "govulncheck", Severity: Critical, ID: "GO-2026-4001", Where: "github.com/example/parser", Title: "Denial of service in example/parser"}, called)
}

// TestParsersRefuseOtherReports: a report in another tool's format, or
// none at all, is an error naming the tool, never an empty clean report.
func TestParsersRefuseOtherReports(t *testing.T) {
	zap, err := os.ReadFile(filepath.Join("testdata", "zap.json"))
	require.NoError(t, err)
	trivy, err := os.ReadFile(filepath.Join("testdata", "trivy.json"))
	require.NoError(t, err)
	for tool, parse := range Parsers {
		other := zap
		if tool == "zap" {
			other = trivy
		}
		_, err := parse(other)
		require.ErrorContains(t, err, tool+":", "%s reading another tool's report", tool)
		_, err = parse([]byte(`{"truncated": `))
		require.ErrorContains(t, err, tool+":", "%s reading a cut report", tool)
	}
	// Nuclei writes nothing when nothing matched: empty is clean there only.
	got, err := ParseNuclei(nil)
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = ParseTrivy(nil)
	require.Error(t, err)
	_, err = ParseZAP([]byte(`{"site": [{"@name": "x", "alerts": [{"pluginid": "1", "riskcode": "9"}]}]}`))
	require.ErrorContains(t, err, `risk code "9"`)
}

// TestGate: the seed's gate, a night at a time.
func TestGate(t *testing.T) {
	night := func(govulncheck string) []Finding {
		var all []Finding
		for tool, file := range map[string]string{"trivy": "trivy.json", "govulncheck": govulncheck, "zap": "zap.json",
			"kube-bench": "kube-bench.json", "kube-hunter": "kube-hunter.json", "nuclei": "nuclei.jsonl", "falco": "falco.json"} {
			all = append(all, parse(t, tool, file)...)
		}
		return all
	}
	// Highs 3 (15), mediums 3 (3), lows 6 (1.2): 100 - 19.2.
	ok := Evaluate(night("govulncheck-imported.json"), Tools())
	require.True(t, ok.Pass(), "%v", ok.Reasons)
	require.InDelta(t, 80.8, ok.Score, 1e-9)
	require.Equal(t, map[Severity]int{Info: 2}, ok.Counts["nuclei"])

	// A vulnerable function our code calls fails the night on its own.
	bad := Evaluate(night("govulncheck.json"), Tools())
	require.False(t, bad.Pass())
	require.Equal(t, []string{"Security gate failed: 1 critical findings", "Security score 55.8 below threshold 70"}, bad.Reasons)
	require.Equal(t, "GO-2026-4001", bad.Criticals[0].ID)

	// Seven highs and nothing critical: the score alone fails it.
	var highs []Finding
	for range 7 {
		highs = append(highs, Finding{Tool: "zap", Severity: High})
	}
	low := Evaluate(highs, []string{"zap"})
	require.Equal(t, 65.0, low.Score)
	require.Equal(t, []string{"Security score 65.0 below threshold 70"}, low.Reasons)

	// The score never goes below zero; a tool with nothing to report
	// still shows, with no findings.
	var many []Finding
	for range 10 {
		many = append(many, Finding{Tool: "trivy", Severity: Critical})
	}
	floor := Evaluate(many, []string{"trivy", "falco"})
	require.Zero(t, floor.Score)
	require.Len(t, floor.Reasons, 2)
	require.Empty(t, floor.Counts["falco"])
	require.Equal(t, High, ParseSeverity(" HIGH "))
	require.Equal(t, Info, ParseSeverity("UNKNOWN"))
}
