package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/intelliflow/platform/stacks"
)

// Report is what a run did, printed as a summary or as JSON for pull
// requests and scripts.
type Report struct {
	Command         string         `json:"command"`
	Stack           string         `json:"stack"`
	Environment     string         `json:"environment"`
	OK              bool           `json:"ok"`
	Error           string         `json:"error,omitempty"`
	DurationSeconds float64        `json:"durationSeconds"`
	Changes         map[string]int `json:"changes"`
	Steps           []Step         `json:"steps,omitempty"`
	Policy          PolicyReport   `json:"policy"`
	Manifests       *Manifests     `json:"manifests,omitempty"`
	Outputs         map[string]any `json:"outputs,omitempty"`
	Diagnostics     []string       `json:"errors,omitempty"`
	// NotRunning are the Deployments not rolled out, or below their
	// minimum, after an update into a cluster, with why (internal/rollout).
	NotRunning []string `json:"notRunning,omitempty"`
}

// Step is one resource operation other than "same".
type Step struct {
	Op    string   `json:"op"`
	URN   string   `json:"urn"`
	Type  string   `json:"type"`
	Diffs []string `json:"diffs,omitempty"`
}

// PolicyReport counts what the policy pack said.
type PolicyReport struct {
	Packs      map[string]string `json:"packs"`
	Mandatory  int               `json:"mandatory"`
	Advisory   int               `json:"advisory"`
	Violations []Violation       `json:"violations,omitempty"`
	// Checked counts resource analyses, Passed those without violations.
	Checked int `json:"resourcesChecked"`
	Passed  int `json:"resourcesPassed"`
}

// Violation is one policy finding.
type Violation struct {
	Policy  string `json:"policy"`
	Level   string `json:"level"`
	URN     string `json:"urn,omitempty"`
	Message string `json:"message"`
}

// Manifests says where rendered manifests are.
type Manifests struct {
	Dir   string `json:"dir"`
	Files int    `json:"files"`
}

func newReport(o options, cfg stacks.Config) *Report {
	r := &Report{
		Command:     o.command,
		Stack:       o.stack,
		Environment: string(cfg.Environment),
		Changes:     map[string]int{},
		Policy:      PolicyReport{Packs: map[string]string{}},
	}
	if cfg.Kubernetes.RenderDir != "" {
		r.Manifests = &Manifests{Dir: cfg.Kubernetes.RenderDir}
	}
	return r
}

func (r *Report) observe(e events.EngineEvent) {
	switch {
	case e.SummaryEvent != nil:
		for op, n := range e.SummaryEvent.ResourceChanges {
			r.Changes[string(op)] = n
		}
		for name, v := range e.SummaryEvent.PolicyPacks {
			// The CLI keys local packs as "name|local|path".
			name, _, _ = strings.Cut(name, "|")
			r.Policy.Packs[name] = v
		}
	case e.ResourcePreEvent != nil:
		m := e.ResourcePreEvent.Metadata
		if m.Op != apitype.OpSame {
			r.Steps = append(r.Steps, Step{Op: string(m.Op), URN: m.URN, Type: m.Type, Diffs: m.Diffs})
		}
	case e.PolicyEvent != nil:
		p := e.PolicyEvent
		if len(p.Exceptions) > 0 {
			return
		}
		switch p.EnforcementLevel {
		case "mandatory":
			r.Policy.Mandatory++
		default:
			r.Policy.Advisory++
		}
		r.Policy.Violations = append(r.Policy.Violations, Violation{
			Policy: p.PolicyName, Level: p.EnforcementLevel, URN: p.ResourceURN, Message: strings.TrimSpace(p.Message),
		})
	case e.PolicyAnalyzeSummaryEvent != nil:
		r.Policy.Checked++
		if len(e.PolicyAnalyzeSummaryEvent.Failed) == 0 {
			r.Policy.Passed++
		}
	case e.DiagnosticEvent != nil:
		if e.DiagnosticEvent.Severity == "error" {
			r.Diagnostics = append(r.Diagnostics, strings.TrimSpace(e.DiagnosticEvent.Message))
		}
	}
}

func (r *Report) finish(d time.Duration, err error) {
	r.DurationSeconds = d.Round(10 * time.Millisecond).Seconds()
	r.OK = err == nil
	if err != nil {
		r.Error = lastLines(err.Error(), 20)
	}
}

func (r *Report) setOutputs(outs auto.OutputMap) { r.Outputs = plainOutputs(outs) }

// countManifests counts rendered files, so the summary says what is there.
func (r *Report) countManifests(root string) {
	if r.Manifests == nil {
		return
	}
	dir := r.Manifests.Dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
			r.Manifests.Files++
		}
		return nil
	})
}

func (r *Report) print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	status := "ok"
	if !r.OK {
		status = "FAILED"
	}
	fmt.Fprintf(w, "\nintelliflow %s --stack %s (%s): %s in %.1fs\n", r.Command, r.Stack, r.Environment, status, r.DurationSeconds)
	var changes []string
	for _, op := range slices.Sorted(maps.Keys(r.Changes)) {
		changes = append(changes, fmt.Sprintf("%d %s", r.Changes[op], op))
	}
	if len(changes) == 0 {
		changes = []string{"none"}
	}
	fmt.Fprintf(w, "  resources:  %s\n", strings.Join(changes, ", "))
	if r.Manifests != nil {
		fmt.Fprintf(w, "  manifests:  %s (%d files)\n", r.Manifests.Dir, r.Manifests.Files)
	}
	if len(r.Policy.Packs) > 0 || r.Policy.Checked > 0 {
		var packs []string
		for _, n := range slices.Sorted(maps.Keys(r.Policy.Packs)) {
			packs = append(packs, n+" "+r.Policy.Packs[n])
		}
		fmt.Fprintf(w, "  policy:     %s: %d resources checked, %d mandatory and %d advisory violations\n",
			strings.Join(packs, ", "), r.Policy.Checked, r.Policy.Mandatory, r.Policy.Advisory)
	}
	for _, v := range r.Policy.Violations {
		fmt.Fprintf(w, "    [%s] %s: %s\n", v.Level, v.Policy, indent(v.Message))
	}
	for _, d := range r.Diagnostics {
		fmt.Fprintf(w, "  error: %s\n", indent(d))
	}
	for _, n := range r.NotRunning {
		fmt.Fprintf(w, "  not running: %s\n", indent(n))
	}
	return nil
}

func plainOutputs(outs auto.OutputMap) map[string]any {
	plain := make(map[string]any, len(outs))
	for k, v := range outs {
		if v.Secret {
			plain[k] = "[secret]"
			continue
		}
		plain[k] = v.Value
	}
	return plain
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n      ") }

// lastLines keeps the end of a long CLI error, where the cause is.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
