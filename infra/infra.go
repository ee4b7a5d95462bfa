// Package infra composes the platform for one stack: foundation, then
// platform, then apps. It holds no resource details of its own: it turns the
// stack's typed config into component arguments and wires outputs to inputs.
package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/deviceplugin"
	"github.com/intelliflow/platform/components/falco"
	"github.com/intelliflow/platform/components/gpunodegroup"
	"github.com/intelliflow/platform/components/ingress"
	"github.com/intelliflow/platform/components/logging"
	"github.com/intelliflow/platform/components/microservice"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/components/nodeaudit"
	"github.com/intelliflow/platform/components/priority"
	"github.com/intelliflow/platform/components/rbac"
	"github.com/intelliflow/platform/stacks"
)

// Run is the Pulumi program: it loads the stack's config and deploys it.
// `pulumi up` runs it through main.go; cmd/intelliflow runs it inline through
// the Automation API.
func Run(ctx *pulumi.Context) error {
	cfg, err := stacks.Load(ctx)
	if err != nil {
		return err
	}
	// The trusted CA goes into a ConfigMap; the policy pack, which loads
	// the same config from its own folder, has no use for it.
	root, err := stacks.Root(ctx)
	if err != nil {
		return err
	}
	if err := cfg.LoadTrustedCA(root); err != nil {
		return err
	}
	_, err = Deploy(ctx, cfg)
	return err
}

// Platform is what Deploy built, for callers that compose further.
type Platform struct {
	// Kubernetes is the provider every Kubernetes object of the stack uses.
	Kubernetes *kubernetes.Provider
	// Namespaces by Kubernetes name.
	Namespaces map[string]*namespace.Namespace
	// Services by catalog name.
	Services map[string]*microservice.Microservice
	// Foundation is the AWS layer; nil in dev.
	Foundation *Foundation
}

// Deploy builds the stack described by cfg: the AWS foundation where the
// stack has one, then the Kubernetes platform and the apps on its cluster.
func Deploy(ctx *pulumi.Context, cfg stacks.Config) (*Platform, error) {
	appNS := cfg.Environment.AppNamespace()
	// Validated before anything exists, like the rest of the config.
	entryArgs, err := publicEntryArgs(cfg, pulumi.String(appNS))
	if err != nil {
		return nil, err
	}
	creds, err := newCredentials(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Before any chart: the transform reaches only what is registered
	// after it.
	if cfg.Charts && len(cfg.ChartImageDigests) > 0 {
		if err := ctx.RegisterResourceTransform(chart.PinImages(cfg.ChartImageDigests)); err != nil {
			return nil, err
		}
	}
	var foundation *Foundation
	if cfg.AWS != nil {
		if foundation, err = deployFoundation(ctx, cfg, creds); err != nil {
			return nil, err
		}
	}
	k8s, err := kubernetesProvider(ctx, cfg.Kubernetes, foundation)
	if err != nil {
		return nil, err
	}
	p := &Platform{Kubernetes: k8s, Namespaces: map[string]*namespace.Namespace{}, Foundation: foundation}
	onCluster := pulumi.Providers(k8s)

	// Platform: namespaces sized for what runs in them, priorities.
	names := pulumi.StringArray{}
	for _, name := range cfg.Namespaces() {
		args := &namespace.Args{
			Name:        name,
			PodSecurity: podSecurityFor(name, cfg.PodSecurityVersion),
			Labels:      map[string]string{"intelliflow.io/environment": string(cfg.Environment)},
		}
		if name == appNS {
			q, l := appQuota(cfg.Services), appLimits(cfg.Services)
			args.Quota, args.Limits = &q, &l
		} else {
			q, l := platformQuota(cfg.Environment)
			args.Quota, args.Limits = &q, &l
		}
		ns, err := namespace.New(ctx, name, args, onCluster)
		if err != nil {
			return nil, err
		}
		p.Namespaces[name] = ns
		names = append(names, ns.Name)
	}
	certIssuers, err := deployCertificates(ctx, cfg, foundation, p.Namespaces, onCluster)
	if err != nil {
		return nil, err
	}
	if err := deploySecurity(ctx, cfg, creds, foundation, p.Namespaces, certIssuers, onCluster); err != nil {
		return nil, err
	}
	if err := deployMonitoring(ctx, cfg, creds, foundation, p.Namespaces, certIssuers, onCluster); err != nil {
		return nil, err
	}
	if err := deployAddons(ctx, cfg, foundation, p.Namespaces, certIssuers, onCluster); err != nil {
		return nil, err
	}
	if cfg.GPUNodeGroup != "" {
		// Without it no GPU node offers nvidia.com/gpu, and fraud stays Pending.
		if _, err := deviceplugin.New(ctx, "nvidia", &deviceplugin.Args{
			Image:        cfg.Image(stacks.DevicePluginImage),
			NodeSelector: map[string]string{gpunodegroup.GPUPresentLabel: "true"},
			TaintKey:     gpunodegroup.GPUTaintKey,
		}, onCluster); err != nil {
			return nil, err
		}
	}
	if _, err := priority.New(ctx, "priority", &priority.Args{Classes: []priority.Class{priority.Critical, priority.Standard}}, onCluster); err != nil {
		return nil, err
	}

	// Apps.
	services, err := deployApps(ctx, cfg, creds, foundation, p.Namespaces[appNS].Name, onCluster)
	if err != nil {
		return nil, err
	}
	p.Services = services
	if _, err := rbac.New(ctx, "rbac", &rbac.Args{
		Namespace: appNS, NamespaceReady: p.Namespaces[appNS].Name,
		MLServiceAccount: catalog.Orchestrator, ServingDeployment: catalog.Fraud, TokenReviewer: catalog.Fraud,
	}, onCluster, pulumi.DependsOn([]pulumi.Resource{services[catalog.Orchestrator]})); err != nil {
		return nil, err
	}
	entryArgs.Namespace = p.Namespaces[appNS].Name
	entryArgs.IssuerReady = certIssuers.waitFor(entryArgs.ClusterIssuer)
	entry, err := ingress.New(ctx, "public", entryArgs, onCluster, pulumi.DependsOn([]pulumi.Resource{services[catalog.Gateway]}))
	if err != nil {
		return nil, err
	}
	ctx.Export("apiHost", entry.Host)

	ctx.Export("environment", pulumi.String(string(cfg.Environment)))
	ctx.Export("namespaces", names)
	// What this update deployed, by digest: a failed release rolls back
	// to the last successful up's (ci-cd/jenkins/deploy.sh), not to the
	// checked-out file's.
	ctx.Export("imageDigests", pulumi.ToStringMap(cfg.ImageDigests))
	if cfg.Kubernetes.RenderDir != "" {
		ctx.Export("renderDir", pulumi.String(cfg.Kubernetes.RenderDir))
	}
	return p, nil
}

// nodeAgentsException is why Falco's namespace, which kube-bench's node
// checks share, is privileged.
const nodeAgentsException = falco.NamespaceException + "; " + nodeaudit.NamespaceException

// podSecurityFor is restricted everywhere but the namespaces of the node
// agents: Falco reads host syscalls and kube-bench the kubelet's files, the
// log shipper the nodes' log files (each exception is recorded on its
// namespace).
func podSecurityFor(name, version string) namespace.PodSecurity {
	switch name {
	case stacks.FalcoNamespace:
		return namespace.PodSecurity{Level: namespace.Privileged, Version: version, Exception: nodeAgentsException}
	case stacks.ShipperNamespace:
		return namespace.PodSecurity{Level: namespace.Privileged, Version: version, Exception: logging.ShipperException}
	}
	return namespace.PodSecurity{Level: namespace.Restricted, Version: version}
}

// kubernetesProvider is the one provider every Kubernetes object goes
// through: the foundation's cluster, a folder of rendered manifests, or the
// configured cluster.
func kubernetesProvider(ctx *pulumi.Context, k stacks.Kubernetes, f *Foundation) (*kubernetes.Provider, error) {
	args := &kubernetes.ProviderArgs{
		// Update ConfigMaps in place: their names are fixed (replacing one
		// would collide on a cluster), and pods roll on the config-hash
		// annotation the microservice component sets.
		EnableConfigMapMutable: pulumi.Bool(true),
	}
	var opts []pulumi.ResourceOption
	switch {
	case f != nil:
		args.Kubeconfig = f.Kubeconfig
		// Objects go in once the deployer may create them and nodes can
		// run them.
		opts = append(opts, pulumi.DependsOn(f.Ready))
	case k.RenderDir != "":
		args.RenderYamlToDirectory = pulumi.String(k.RenderDir)
	default:
		args.Kubeconfig = pulumi.String(k.Kubeconfig)
		if k.Context != "" {
			args.Context = pulumi.String(k.Context)
		}
	}
	p, err := kubernetes.NewProvider(ctx, "kubernetes", args, opts...)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	return p, nil
}
