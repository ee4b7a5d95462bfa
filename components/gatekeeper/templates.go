package gatekeeper

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

// Policies holds our Rego: one file per template, plus the shared library
// every template loads (lib_pods.rego). Each template's test cases live
// under policies/cases/<package>/ as allowed-*.yaml and disallowed-*.yaml.
//
//go:embed policies
var Policies embed.FS

// LibFile is the shared library's file name.
const LibFile = "lib_pods.rego"

// Template is one ConstraintTemplate and the Constraint the platform
// creates from it.
type Template struct {
	// Kind is the constraint kind (the CRD Gatekeeper creates).
	Kind string
	// File is the template's Rego source in policies/.
	File string
	// Rule is the RULES.md id it enforces at admission, as the policy pack
	// does at preview.
	Rule string
	// Schema is the openAPIV3Schema of the constraint's parameters.
	Schema map[string]any
	// LongRunningOnly marks the template that applies to long-running
	// workloads only (Jobs run to completion without probes).
	LongRunningOnly bool
}

// Templates are the platform's constraint templates, in a stable order.
var Templates = []Template{
	{Kind: "IntelliflowNoPrivileged", File: "noprivileged.rego", Rule: "SEC-02"},
	{Kind: "IntelliflowRunAsNonRoot", File: "runasnonroot.rego", Rule: "SEC-04"},
	{Kind: "IntelliflowReadOnlyRootFS", File: "readonlyrootfs.rego", Rule: "SEC-08"},
	{Kind: "IntelliflowDropAllCapabilities", File: "dropallcapabilities.rego", Rule: "SEC-06",
		Schema: map[string]any{"type": "object", "properties": map[string]any{
			"allowedAdd": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		}}},
	{Kind: "IntelliflowAllowedRegistries", File: "allowedregistries.rego", Rule: "SEC-18",
		Schema: map[string]any{"type": "object", "properties": map[string]any{
			"registries": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		}}},
	{Kind: "IntelliflowRequiredResources", File: "requiredresources.rego", Rule: "SEC-20"},
	{Kind: "IntelliflowRequiredProbes", File: "requiredprobes.rego", Rule: "REL-04", LongRunningOnly: true},
}

// Name is the lower-case name Gatekeeper requires for the template, which
// is also the Rego package.
func (t Template) Name() string { return strings.ToLower(t.Kind) }

// Rego is the template's source.
func (t Template) Rego() (string, error) {
	b, err := Policies.ReadFile("policies/" + t.File)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", t.Kind, err)
	}
	return string(b), nil
}

// Lib is the shared library's source.
func Lib() (string, error) {
	b, err := Policies.ReadFile("policies/" + LibFile)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Parameters are the constraint parameters the platform sets.
func (t Template) Parameters(allowedRegistries []string) map[string]any {
	switch t.Kind {
	case "IntelliflowDropAllCapabilities":
		return map[string]any{"allowedAdd": []any{"NET_BIND_SERVICE"}}
	case "IntelliflowAllowedRegistries":
		regs := make([]any, len(allowedRegistries))
		for i, r := range allowedRegistries {
			regs[i] = r
		}
		return map[string]any{"registries": regs}
	}
	return nil
}

// MatchKinds are the kinds a constraint applies to: pods, and the
// workloads that create them, so a bad Deployment is refused when it is
// applied rather than when its ReplicaSet fails to create pods.
func (t Template) MatchKinds() []map[string]any {
	if t.LongRunningOnly {
		return []map[string]any{
			{"apiGroups": []any{"apps"}, "kinds": []any{"Deployment", "StatefulSet", "DaemonSet"}},
		}
	}
	return []map[string]any{
		{"apiGroups": []any{""}, "kinds": []any{"Pod"}},
		{"apiGroups": []any{"apps"}, "kinds": []any{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}},
		{"apiGroups": []any{"batch"}, "kinds": []any{"Job", "CronJob"}},
	}
}

// Files lists the Rego files that are templates (not the library).
func Files() ([]string, error) {
	entries, err := Policies.ReadDir("policies")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".rego") && e.Name() != LibFile {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Matches reports whether the template's constraint applies to a kind, as
// its match.kinds say (apiGroups aside: the kinds are unambiguous here).
func (t Template) Matches(kind string) bool {
	for _, mk := range t.MatchKinds() {
		for _, k := range mk["kinds"].([]any) {
			if k == kind {
				return true
			}
		}
	}
	return false
}
