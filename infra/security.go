package infra

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/gatekeeper"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/stacks"
)

// deploySecurity installs the admission-time half of the policy pack:
// Gatekeeper with our constraints, where the stack installs charts.
func deploySecurity(ctx *pulumi.Context, cfg stacks.Config, namespaces map[string]*namespace.Namespace, opts ...pulumi.ResourceOption) error {
	if !cfg.Charts {
		return nil
	}
	controlPlane := []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}
	if cfg.AWS != nil {
		controlPlane = []string{cfg.AWS.VPCCIDR} // the EKS control plane's interfaces
	}
	replicas := 2
	if cfg.Environment == stacks.Prod {
		replicas = 3
	}
	_, err := gatekeeper.New(ctx, "gatekeeper", &gatekeeper.Args{
		Namespace: namespaces[stacks.GatekeeperNamespace].Name, NamespaceName: stacks.GatekeeperNamespace,
		ChartRepository: cfg.ChartRepository, ImageRegistry: cfg.ImageRegistries[0], AllowedRegistries: cfg.ImageRegistries,
		Replicas: replicas, ControlPlaneCIDRs: controlPlane, EnforcementAction: "deny",
	}, opts...)
	return err
}
