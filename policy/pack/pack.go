// Package pack assembles the IntelliFlow policy pack for one stack from its
// typed config. The pack binary (policy/) and the stack tests (infra) both
// build it here, so the tests check the program against exactly the rules,
// settings and exceptions a preview enforces.
package pack

import (
	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/clusteraddons"
	"github.com/intelliflow/platform/policy/exceptions"
	"github.com/intelliflow/platform/policy/rules"
	"github.com/intelliflow/platform/stacks"
)

// Settings are the stack facts the rules need, from the typed stack config.
func Settings(cfg stacks.Config) rules.Settings {
	return rules.Settings{
		PodSecurityVersion:  cfg.PodSecurityVersion,
		ImageRegistries:     cfg.ImageRegistries,
		RequireImageDigests: cfg.RequireImageDigests,
		// The public entries: the gateway's own NLB (ingress.loadBalancer)
		// and the ingress controller's.
		LoadBalancerServices: []string{catalog.Gateway, clusteraddons.IngressController},
		SpreadServices:       []string{catalog.Gateway, catalog.Transactions},
		Production:           cfg.Environment == stacks.Prod,
		// Without AWS there is no KMS: Vault seals with key shares.
		AutoUnseal: cfg.AWS != nil,
	}
}

// For is everything the pack enforces on a stack; dryRun is true in preview.
func For(cfg stacks.Config, dryRun bool) rules.Pack {
	return rules.Pack{
		Rules:      rules.All(Settings(cfg)),
		StackRules: rules.AllStack(),
		Exceptions: exceptions.List,
		DryRun:     dryRun,
	}
}
