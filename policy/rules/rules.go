// Package rules holds the IntelliFlow CrossGuard rules, one constructor per
// rule in shared/RULES.md, named by its id. Each rule checks the resource type
// first, and each violation names the resource, the field and the fix.
//
// A rule returns findings rather than reporting directly, so the pack can
// route the two kinds apart: violations go out at the rule's own level, and
// "could not be checked" findings (values unknown during preview) go out
// through one advisory policy, so a mandatory rule never blocks on a value it
// cannot see.
package rules

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Finding is one problem a rule found with a resource.
type Finding struct {
	// Message names the field and the fix; the pack prefixes the resource.
	Message string
	// Unchecked marks a field the rule could not see (an unknown value).
	Unchecked bool
}

// violation and unchecked build findings with a formatted message.
func violation(format string, args ...any) Finding {
	return Finding{Message: fmt.Sprintf(format, args...)}
}

func unchecked(format string, args ...any) Finding {
	return Finding{Message: fmt.Sprintf(format, args...), Unchecked: true}
}

// Rule is one rule of RULES.md.
type Rule struct {
	// Name is the policy name: the RULES.md id and a short slug.
	Name string
	// Description is the rule as RULES.md states it.
	Description string
	// Level is mandatory or advisory, as RULES.md gives it.
	Level policyx.EnforcementLevel
	// Types are the resource types the rule examines: Check never sees any
	// other, and the fixture guard wants a failing case for each. Empty means
	// every type, for rules about any Kubernetes object (SEC-15, K8S-01).
	Types []string
	// Check inspects one resource of its types and returns its findings.
	Check func(r policyx.AnalyzerResource) []Finding
}

// Examines reports whether the rule looks at resources of a type.
func (rule Rule) Examines(typ string) bool {
	return len(rule.Types) == 0 || slices.Contains(rule.Types, typ)
}

// run is Check behind the type gate.
func (rule Rule) run(r policyx.AnalyzerResource) []Finding {
	if !rule.Examines(r.Type) {
		return nil
	}
	return rule.Check(r)
}

// UncheckedPolicy is the name of the advisory policy that reports fields a
// rule could not check; ExceptedPolicy reports findings a named exception
// waived, so an exception is visible on every preview, never silent.
const (
	UncheckedPolicy = "unchecked-values"
	ExceptedPolicy  = "excepted-findings"
)

// Exception waives one rule for one resource, with the reason reviewers read.
type Exception struct {
	// Rule is a rule id or policy name: "SEC-09" waives every SEC-09 policy.
	Rule string
	// Type and Name identify the resource (its type token and Pulumi name).
	Type, Name string
	// Reason says why the rule cannot hold here.
	Reason string
}

func (e Exception) covers(policy, typ, name string) bool {
	return (policy == e.Rule || strings.HasPrefix(policy, e.Rule+"-")) && typ == e.Type && name == e.Name
}

// Waived reports whether an exception waives a rule's findings on a resource.
func Waived(exceptions []Exception, policy, typ, name string) bool {
	_, ok := exceptionFor(exceptions, policy, typ, name)
	return ok
}

// exceptionFor returns the exception that waives a finding, if any.
func exceptionFor(exceptions []Exception, policy, typ, name string) (Exception, bool) {
	for _, e := range exceptions {
		if e.covers(policy, typ, name) {
			return e, true
		}
	}
	return Exception{}, false
}

// Pack is everything the policy pack enforces for a stack.
type Pack struct {
	Rules      []Rule
	StackRules []StackRule
	Exceptions []Exception
	// DryRun is true in preview, read from the pack's context: unknown values
	// are then expected, and the update looks again.
	DryRun bool
}

// Policies turns the pack into policyx policies: one per rule at its own
// level, plus the advisory policies for unknown values and exceptions.
func Policies(p Pack) []policyx.Policy {
	out := make([]policyx.Policy, 0, len(p.Rules)+len(p.StackRules)+2)
	for _, rule := range p.Rules {
		out = append(out, policyx.NewResourceValidationPolicy(rule.Name, policyx.ResourceValidationPolicyArgs{
			Description:      rule.Description,
			EnforcementLevel: rule.Level,
			ValidateResource: func(_ context.Context, args policyx.ResourceValidationArgs) error {
				r := args.Resource
				if _, waived := exceptionFor(p.Exceptions, rule.Name, r.Type, r.Name); waived {
					return nil
				}
				for _, f := range safeCheck(rule, r) {
					if !f.Unchecked {
						args.Manager.ReportViolation(describe(r)+": "+f.Message, "")
					}
				}
				return nil
			},
		}))
	}
	for _, rule := range p.StackRules {
		out = append(out, policyx.NewStackValidationPolicy(rule.Name, policyx.StackValidationPolicyArgs{
			Description:      rule.Description,
			EnforcementLevel: rule.Level,
			ValidateStack: func(_ context.Context, args policyx.StackValidationArgs) error {
				for _, f := range safeStackCheck(rule, args.Resources) {
					if f.Unchecked {
						continue
					}
					if _, waived := exceptionFor(p.Exceptions, rule.Name, f.Type, f.Name); waived {
						continue
					}
					args.Manager.ReportViolation(fmt.Sprintf("%s %q: %s", kindOf(f.Type), f.Name, f.Message), f.URN)
				}
				return nil
			},
		}))
	}
	out = append(out, policyx.NewResourceValidationPolicy(UncheckedPolicy, policyx.ResourceValidationPolicyArgs{
		Description:      "Fields a rule could not check because their values are not known yet (preview); they are checked again on update.",
		EnforcementLevel: policyx.EnforcementLevelAdvisory,
		ValidateResource: func(_ context.Context, args policyx.ResourceValidationArgs) error {
			when := "the update checks it again"
			if !p.DryRun {
				when = "still unknown during the update; it comes from another resource's output, so check the deployed object"
			}
			for _, rule := range p.Rules {
				for _, f := range safeCheck(rule, args.Resource) {
					if f.Unchecked {
						args.Manager.ReportViolation(fmt.Sprintf("%s: %s could not be checked: %s (%s)", describe(args.Resource), rule.Name, f.Message, when), "")
					}
				}
			}
			return nil
		},
	}))
	out = append(out, policyx.NewResourceValidationPolicy(ExceptedPolicy, policyx.ResourceValidationPolicyArgs{
		Description:      "Findings waived by a named exception in policy/exceptions, with its reason.",
		EnforcementLevel: policyx.EnforcementLevelAdvisory,
		ValidateResource: func(_ context.Context, args policyx.ResourceValidationArgs) error {
			r := args.Resource
			for _, rule := range p.Rules {
				e, waived := exceptionFor(p.Exceptions, rule.Name, r.Type, r.Name)
				if !waived {
					continue
				}
				for _, f := range safeCheck(rule, r) {
					if !f.Unchecked {
						args.Manager.ReportViolation(fmt.Sprintf("%s: %s waived (%s): %s", describe(r), rule.Name, e.Reason, f.Message), "")
					}
				}
			}
			return nil
		},
	}))
	return out
}

// safeStackCheck is safeCheck for stack rules.
func safeStackCheck(rule StackRule, resources []policyx.AnalyzerResource) (findings []StackFinding) {
	defer func() {
		if p := recover(); p != nil {
			findings = []StackFinding{{Finding: unchecked("rule %s failed (%v); report this as a policy-pack bug", rule.Name, p)}}
		}
	}()
	return rule.Check(resources)
}

// safeCheck runs a rule and turns a panic into a finding: a policy pack that
// dies fails every preview, which is worse than one rule going blind.
func safeCheck(rule Rule, r policyx.AnalyzerResource) (findings []Finding) {
	defer func() {
		if p := recover(); p != nil {
			findings = []Finding{unchecked("rule %s failed on this resource (%v); report this as a policy-pack bug", rule.Name, p)}
		}
	}()
	return rule.run(r)
}

// describe names a resource for messages: its kind and Pulumi name.
func describe(r policyx.AnalyzerResource) string {
	return fmt.Sprintf("%s %q", kindOf(r.Type), r.Name)
}

// Check runs rules on one resource, for tests and tools: violations and
// unchecked findings by rule name, sorted.
func Check(rules []Rule, r policyx.AnalyzerResource) map[string][]Finding {
	out := map[string][]Finding{}
	for _, rule := range rules {
		if fs := safeCheck(rule, r); len(fs) > 0 {
			sort.SliceStable(fs, func(i, j int) bool { return fs[i].Message < fs[j].Message })
			out[rule.Name] = fs
		}
	}
	return out
}
