package infra

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/certmanager"
	"github.com/intelliflow/platform/components/cluster"
	"github.com/intelliflow/platform/components/falco"
	"github.com/intelliflow/platform/components/gatekeeper"
	"github.com/intelliflow/platform/components/gpunodegroup"
	"github.com/intelliflow/platform/components/jenkins"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/components/nodeaudit"
	"github.com/intelliflow/platform/stacks"
)

// clusterServiceCIDR is the EKS cluster's Service range.
const clusterServiceCIDR = cluster.ServiceCIDR

// privateNetworks stand in for the cluster's networks where the stack has
// no AWS foundation to name them.
var privateNetworks = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

// clusterNetworks are where the control plane and the cluster's Services
// live: the VPC and the Service range on EKS.
func clusterNetworks(cfg stacks.Config) []string {
	if cfg.AWS == nil {
		return privateNetworks
	}
	return []string{cfg.AWS.VPCCIDR, clusterServiceCIDR}
}

// gatekeeperExempt are the node agents' namespaces, which Gatekeeper skips
// (their Pod Security is privileged, each agent a named exception).
var gatekeeperExempt = []string{stacks.FalcoNamespace, stacks.ShipperNamespace}

// FalcoRules is our Falco rules file as the stack deploys it: the rules
// with the stack's allowed networks. The nightly pipeline validates it with
// Falco itself (intelliflow falco-rules).
func FalcoRules(cfg stacks.Config) (string, error) {
	return falco.Rules(clusterNetworks(cfg))
}

// controllerReplicas is how many replicas the cluster's own controllers
// and webhooks run (cert-manager, Gatekeeper): 3 in prod, so a budget holds
// through a zone's loss, 2 elsewhere.
func controllerReplicas(cfg stacks.Config) int {
	if cfg.Environment == stacks.Prod {
		return 3
	}
	return 2
}

// issuers are the ClusterIssuers the stack creates, by name.
type issuers map[string]pulumi.Resource

// waitFor is what a certificate of issuer name waits for: the issuer, when
// the stack creates it (a Certificate created before its issuer sits
// unready until cert-manager retries).
func (is issuers) waitFor(name string) []pulumi.Resource {
	if r, ok := is[name]; ok {
		return []pulumi.Resource{r}
	}
	return nil
}

// deployCertificates installs cert-manager and the issuers every
// certificate of the stack names, where the stack installs charts.
func deployCertificates(ctx *pulumi.Context, cfg stacks.Config, f *Foundation, namespaces map[string]*namespace.Namespace, opts ...pulumi.ResourceOption) (issuers, error) {
	if !cfg.Charts {
		return nil, nil
	}
	args := &certmanager.Args{
		Namespace: namespaces[stacks.CertManagerNamespace].Name, NamespaceName: stacks.CertManagerNamespace,
		ChartRepository: cfg.ChartRepository, ImageRegistry: cfg.ImageRegistries[0],
		Replicas: controllerReplicas(cfg), ControlPlaneCIDRs: clusterNetworks(cfg), MonitoringNamespace: stacks.MonitoringNamespace,
	}
	if f != nil && f.HostedZoneID != "" {
		args.ACME = &certmanager.ACME{
			Email: cfg.Alerting.EmailTo, Region: cfg.AWS.Region, Zone: cfg.AWS.DNSZone,
			HostedZoneID: pulumi.String(f.HostedZoneID), RoleARN: f.CertManagerRole,
		}
	}
	cm, err := certmanager.New(ctx, "cert-manager", args, opts...)
	if err != nil {
		return nil, err
	}
	return cm.Issuers, nil
}

// deploySecurity installs, where the stack installs charts, the
// admission-time half of the policy pack (Gatekeeper with our constraints),
// runtime detection (Falco with our rules, alerting Alertmanager) and the
// nightly CIS checks of the nodes (kube-bench).
// Vault's certificate waits for its issuer.
func deploySecurity(ctx *pulumi.Context, cfg stacks.Config, creds credentials, f *Foundation, namespaces map[string]*namespace.Namespace, is issuers, opts ...pulumi.ResourceOption) error {
	if !cfg.Charts {
		return nil
	}
	if cfg.Vault != nil {
		if err := deployVault(ctx, cfg, creds, f, namespaces, is.waitFor(cfg.Vault.TLSIssuer), opts...); err != nil {
			return err
		}
	}
	controlPlane := privateNetworks
	if cfg.AWS != nil {
		controlPlane = []string{cfg.AWS.VPCCIDR} // the EKS control plane's interfaces
	}
	if _, err := gatekeeper.New(ctx, "gatekeeper", &gatekeeper.Args{
		Namespace: namespaces[stacks.GatekeeperNamespace].Name, NamespaceName: stacks.GatekeeperNamespace,
		ChartRepository: cfg.ChartRepository, ImageRegistry: cfg.ImageRegistries[0], AllowedRegistries: cfg.ImageRegistries,
		ExemptNamespaces: gatekeeperExempt,
		// The pack's named exceptions for the same workloads
		// (policy/exceptions), namespace by namespace.
		Exceptions: []gatekeeper.Exception{
			{Kind: "IntelliflowRequiredProbes", Namespace: stacks.CertManagerNamespace, Reason: "cert-manager's controller and CA injector serve " +
				"only metrics and health, no traffic, and have no readiness endpoint"},
			{Kind: "IntelliflowRequiredProbes", Namespace: stacks.ElasticNamespace, Reason: "the ECK operator's chart has no probe values " +
				"and the operator no health endpoint"},
			{Kind: "IntelliflowReadOnlyRootFS", Namespace: stacks.IngressNamespace, Reason: "ingress-nginx rewrites nginx.conf under " +
				"/etc/nginx on every Ingress change, beside the image's own files there"},
		},
		Replicas: controllerReplicas(cfg), ControlPlaneCIDRs: controlPlane, EnforcementAction: "deny",
	}, opts...); err != nil {
		return err
	}
	_, err := falco.New(ctx, "falco", &falco.Args{
		NamespaceReady:  namespaces[stacks.FalcoNamespace].Name,
		ChartRepository: cfg.ChartRepository, ImageRegistry: cfg.ImageRegistries[0],
		ArtifactIndex:       cfg.FalcoArtifactIndex(),
		AllowedNetworks:     clusterNetworks(cfg),
		Alertmanager:        "http://alertmanager-operated." + stacks.MonitoringNamespace + ".svc:9093",
		MonitoringNamespace: stacks.MonitoringNamespace,
		TolerateTaints:      []string{gpunodegroup.GPUTaintKey},
	}, opts...)
	if err != nil {
		return err
	}
	// The CIS node checks, beside Falco among the node agents; the nightly
	// security pipeline's agent (the deployer) reads their reports.
	_, err = nodeaudit.New(ctx, "node-audit", &nodeaudit.Args{
		Namespace: stacks.FalcoNamespace, NamespaceReady: namespaces[stacks.FalcoNamespace].Name,
		Image:          cfg.Image(stacks.KubeBenchImage),
		Readers:        []string{stacks.CINamespace + "/" + jenkins.DeployerAccount},
		TolerateTaints: []string{gpunodegroup.GPUTaintKey},
	}, opts...)
	return err
}
