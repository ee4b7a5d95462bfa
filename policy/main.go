// Command intelliflow-policy is the IntelliFlow CrossGuard policy pack. The
// pulumi CLI runs the built binary directly (`--policy-pack bin/intelliflow-policy`
// or the pack folder with PulumiPolicy.yaml); it enforces shared/RULES.md on
// every preview and update.
package main

import (
	"fmt"
	"os"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/intelliflow/platform/policy/pack"
	"github.com/intelliflow/platform/policy/rules"
	"github.com/intelliflow/platform/stacks"
)

// version is the pack's version; bump it with any rule change.
var version = semver.MustParse("0.4.0")

func main() {
	if err := policyx.Main(policyPack); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// policyPack builds the policy pack for the stack being analyzed, from the same
// typed stack config the program reads, so the pack and the program agree
// on registries, digests and the pinned Pod Security version.
func policyPack(ctx *pulumi.Context) (policyx.PolicyPack, error) {
	cfg, err := stacks.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("intelliflow policy pack: stack %q: %w", ctx.Stack(), err)
	}
	// The pack-level level is ignored by policyx: every policy sets its own.
	return policyx.NewPolicyPack("intelliflow", version, policyx.EnforcementLevelMandatory,
		rules.Policies(pack.For(cfg, ctx.DryRun())))
}
