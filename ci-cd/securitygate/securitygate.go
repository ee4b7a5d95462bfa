// Package securitygate turns the nightly security pipeline's reports into
// one verdict: the findings of every scanner on one severity scale, a
// security score, and the gate the seed sets (fail on any critical
// finding, and on a score below 70).
//
// Each scanner reports in its own format and grades in its own words; the
// parsers here read each tool's JSON report (the one a pipeline archives)
// and map its grades onto Critical, High, Medium, Low and Info. Where a
// tool has no grade, the mapping says why it chose one. A report that
// does not parse is an error, never an empty report: a scanner that broke
// must not read as a clean night.
package securitygate

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Severity is a finding's grade on the gate's scale.
type Severity int

// The grades, worst first.
const (
	Critical Severity = iota
	High
	Medium
	Low
	Info
)

var severityNames = []string{"critical", "high", "medium", "low", "info"}

func (s Severity) String() string { return severityNames[s] }

// ParseSeverity reads a grade as the scanners spell it (CRITICAL, high,
// Medium, ...); unknown and empty grades are Info.
func ParseSeverity(s string) Severity {
	if i := slices.Index(severityNames, strings.ToLower(strings.TrimSpace(s))); i >= 0 {
		return Severity(i)
	}
	return Info
}

// Finding is one problem a scanner reported.
type Finding struct {
	Tool     string
	Severity Severity
	// ID is the scanner's identifier: a CVE, a rule, a CIS check number.
	ID string
	// Where is what it was found in: an image, a URL, a file.
	Where string
	Title string
}

// Weights are the points a finding of each grade takes from the score of
// 100: five highs, or twenty-five mediums, reach the threshold; a critical
// fails the gate on its own whatever the score.
var Weights = map[Severity]float64{Critical: 25, High: 5, Medium: 1, Low: 0.2, Info: 0}

// Threshold is the lowest passing score.
const Threshold = 70.0

// Verdict is the gate's decision over every report of a run.
type Verdict struct {
	// Counts are the findings per tool and grade.
	Counts map[string]map[Severity]int
	// Criticals are the critical findings, for the build log.
	Criticals []Finding
	// Score is 100 less every finding's weight, at least 0.
	Score float64
	// Reasons say why the gate fails; empty when it passes.
	Reasons []string
}

// Pass reports whether the gate lets the build through.
func (v Verdict) Pass() bool { return len(v.Reasons) == 0 }

// Evaluate grades the findings of every tool in tools (each must have
// reported: a scan that did not run is no pass).
func Evaluate(findings []Finding, tools []string) Verdict {
	v := Verdict{Counts: map[string]map[Severity]int{}, Score: 100}
	for _, t := range tools {
		v.Counts[t] = map[Severity]int{}
	}
	for _, f := range findings {
		if v.Counts[f.Tool] == nil {
			v.Counts[f.Tool] = map[Severity]int{}
		}
		v.Counts[f.Tool][f.Severity]++
		v.Score -= Weights[f.Severity]
		if f.Severity == Critical {
			v.Criticals = append(v.Criticals, f)
		}
	}
	v.Score = math.Max(0, math.Round(v.Score*10)/10)
	if n := len(v.Criticals); n > 0 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("Security gate failed: %d critical findings", n))
	}
	if v.Score < Threshold {
		v.Reasons = append(v.Reasons, fmt.Sprintf("Security score %.1f below threshold %.0f", v.Score, Threshold))
	}
	return v
}
