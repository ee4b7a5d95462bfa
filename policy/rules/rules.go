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
	"sort"

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
	// Check inspects one resource and returns its findings.
	Check func(r policyx.AnalyzerResource) []Finding
}

// UncheckedPolicy is the name of the advisory policy that reports fields a
// rule could not check.
const UncheckedPolicy = "unchecked-values"

// Policies turns rules into the pack's policies: one per rule, plus the
// advisory policy for unknown values.
func Policies(rules []Rule) []policyx.Policy {
	out := make([]policyx.Policy, 0, len(rules)+1)
	for _, rule := range rules {
		out = append(out, policyx.NewResourceValidationPolicy(rule.Name, policyx.ResourceValidationPolicyArgs{
			Description:      rule.Description,
			EnforcementLevel: rule.Level,
			ValidateResource: func(_ context.Context, args policyx.ResourceValidationArgs) error {
				for _, f := range safeCheck(rule, args.Resource) {
					if !f.Unchecked {
						args.Manager.ReportViolation(describe(args.Resource)+": "+f.Message, "")
					}
				}
				return nil
			},
		}))
	}
	out = append(out, policyx.NewResourceValidationPolicy(UncheckedPolicy, policyx.ResourceValidationPolicyArgs{
		Description:      "Fields a rule could not check because their values are not known yet (preview); they are checked again on update.",
		EnforcementLevel: policyx.EnforcementLevelAdvisory,
		ValidateResource: func(_ context.Context, args policyx.ResourceValidationArgs) error {
			for _, rule := range rules {
				for _, f := range safeCheck(rule, args.Resource) {
					if f.Unchecked {
						args.Manager.ReportViolation(fmt.Sprintf("%s: %s could not be checked: %s", describe(args.Resource), rule.Name, f.Message), "")
					}
				}
			}
			return nil
		},
	}))
	return out
}

// safeCheck runs a rule and turns a panic into a finding: a policy pack that
// dies fails every preview, which is worse than one rule going blind.
func safeCheck(rule Rule, r policyx.AnalyzerResource) (findings []Finding) {
	defer func() {
		if p := recover(); p != nil {
			findings = []Finding{unchecked("rule %s failed on this resource (%v); report this as a policy-pack bug", rule.Name, p)}
		}
	}()
	return rule.Check(r)
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
