// Package stacks reads a stack's configuration once into a typed, validated
// Config with per-environment defaults. Components never read configuration:
// infra passes them the typed values from here.
package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/nodeaudit"
	"github.com/intelliflow/platform/components/vault"
)

// Namespace is the config namespace of every key this project reads.
const Namespace = "intelliflow"

// Environment is the kind of stack: it selects defaults and which parts of the
// platform are built.
type Environment string

// The environments the platform knows.
const (
	Dev     Environment = "dev"
	Staging Environment = "staging"
	Prod    Environment = "prod"
)

// Environments lists every known environment in promotion order.
var Environments = []Environment{Dev, Staging, Prod}

// Platform namespaces. Each stack gets its environment's namespace plus the
// shared monitoring and security namespaces of its cluster.
const (
	MonitoringNamespace = "intelliflow-monitoring"
	SecurityNamespace   = "intelliflow-security"
)

// AppNamespace is the namespace the environment's services run in.
func (e Environment) AppNamespace() string { return "intelliflow-" + string(e) }

// DefaultPodSecurityVersion pins the Pod Security Standards version the
// namespaces are labelled with and the policy pack evaluates against. Pinned,
// not "latest", so that a cluster upgrade never tightens admission unannounced.
const DefaultPodSecurityVersion = "v1.33"

// Config is a stack's validated configuration.
type Config struct {
	// Stack is the Pulumi stack name.
	Stack string
	// Environment selects defaults and which layers are built.
	Environment Environment
	// Kubernetes says where Kubernetes objects go.
	Kubernetes Kubernetes
	// PodSecurityVersion is the pinned Pod Security Standards version (vMAJOR.MINOR).
	PodSecurityVersion string
	// ImageRegistries is the allow-list of registries images may come from.
	ImageRegistries []string
	// RequireImageDigests makes the policy pack require @sha256 pins (prod).
	RequireImageDigests bool
	// ImageTag is the tag of every service image where no digest is given.
	ImageTag string
	// ImageDigests pins service images by digest (service -> sha256:...).
	ImageDigests map[string]string
	// ChartImageDigests pins the images the charts render, by the
	// reference as rendered (registry/repository:tag -> sha256:...).
	ChartImageDigests map[string]string
	// Services sizes every service of the catalog.
	Services map[string]Size
	// GPUNodeGroup is the node group GPU workloads are scheduled on; empty
	// when the stack has no GPUs (dev).
	GPUNodeGroup string
	// NodePlacement, when set, pins every service's pods to the nodes it
	// selects.
	NodePlacement *NodePlacement
	// TrustedCAFile names a PEM file of CA certificates the services
	// trust besides their images' own (stores whose certificates a
	// private CA signed); TrustedCA is its contents, read by Load.
	TrustedCAFile, TrustedCA string
	// RolloutTimeoutSeconds bounds how long the driver waits, after an
	// update into a cluster, for every Deployment to run its HPA's minimum.
	RolloutTimeoutSeconds int
	// ServiceMonitors creates Prometheus ServiceMonitor objects (needs the
	// Prometheus operator's CRDs, which dev does not install).
	ServiceMonitors bool
	// DataStores are the endpoints of the data stores and external services.
	DataStores map[catalog.Store]Endpoint
	// Credentials are the services' secrets by key (catalog.Secret.Key). Set
	// as a Pulumi secret; never logged.
	Credentials map[string]string
	// FraudModel is the model artifact the fraud pods fetch and verify.
	FraudModel ModelArtifact
	// Ingress is how the API is exposed; the component validates it.
	Ingress Ingress
	// Charts installs the platform's charts (Gatekeeper, and the security
	// and observability charts); dev cannot download them.
	Charts bool
	// ChartRepository is where the official charts are mirrored.
	ChartRepository string
	// Alerting routes alerts and sizes Prometheus (where charts are on).
	Alerting Alerting
	// Vault is the stack's Vault (nil without charts): services get their
	// secrets from it instead of Kubernetes Secrets.
	Vault *Vault
	// AWS is the foundation staging and prod create (nil in dev). When set,
	// Kubernetes objects go to the EKS cluster it creates, and the managed
	// stores' endpoints come from it.
	AWS *AWS

	// raw overrides, merged over the environment's defaults.
	serviceOverrides  map[string]map[string]any
	endpointOverrides map[string]map[string]any
	ingressOverride   map[string]any
	awsOverride       map[string]any
	vaultOverride     map[string]any
	alertingOverride  map[string]any
}

// Kubernetes is the target for Kubernetes objects: a folder of rendered
// manifests, or a cluster reached through a kubeconfig. Exactly one is set.
type Kubernetes struct {
	// RenderDir, when set, makes the provider write manifests there instead of
	// talking to a cluster. Relative paths are relative to the project root.
	RenderDir string
	// Kubeconfig is a kubeconfig file path (or its contents) for a real cluster.
	Kubeconfig string
	// Context optionally selects a kubeconfig context.
	Context string
}

// Namespaces lists the namespaces this stack creates: the environment's own,
// then monitoring and security, and Gatekeeper's and Falco's where charts
// are installed.
func (c Config) Namespaces() []string {
	out := []string{c.Environment.AppNamespace(), MonitoringNamespace, SecurityNamespace}
	if c.Charts {
		out = append(out, GatekeeperNamespace, FalcoNamespace, ElasticNamespace, ShipperNamespace, CINamespace, CertManagerNamespace, IngressNamespace)
	}
	return out
}

// key describes one config key: how to decode it into a Config.
type key struct {
	name string
	help string
	set  func(c *Config, raw string) error
}

// keys is every key the project reads, so a misspelt key is an error rather
// than a silently ignored default.
var keys = []key{
	{"environment", "dev | staging | prod (required)", func(c *Config, raw string) error {
		c.Environment = Environment(raw)
		return nil
	}},
	{"renderDir", "folder the provider renders manifests into (dev default: out/<stack>)", func(c *Config, raw string) error {
		c.Kubernetes.RenderDir = raw
		return nil
	}},
	{"kubeconfig", "kubeconfig path or contents; deploy to that cluster instead of rendering", func(c *Config, raw string) error {
		c.Kubernetes.Kubeconfig = raw
		return nil
	}},
	{"kubeContext", "kubeconfig context to use", func(c *Config, raw string) error {
		c.Kubernetes.Context = raw
		return nil
	}},
	{"podSecurityVersion", "Pod Security Standards version, vMAJOR.MINOR (default " + DefaultPodSecurityVersion + ")", func(c *Config, raw string) error {
		c.PodSecurityVersion = raw
		return nil
	}},
	{"imageRegistries", "JSON list of allowed image registries", func(c *Config, raw string) error {
		var regs []string
		if err := json.Unmarshal([]byte(raw), &regs); err != nil {
			return fmt.Errorf("want a list of registry names: %w", err)
		}
		c.ImageRegistries = regs
		return nil
	}},
	{"imageTag", "tag of the service images where no digest is given (default 0.1.0)", func(c *Config, raw string) error {
		c.ImageTag = raw
		return nil
	}},
	{"imageDigests", "JSON object service -> sha256:<64 hex>; required for every service when requireImageDigests", func(c *Config, raw string) error {
		return strictJSON(raw, &c.ImageDigests)
	}},
	{"chartImageDigests", "JSON object image reference as a chart renders it (registry/repository:tag) -> sha256:<64 hex>; prod's preview lists the chart images still pinned by tag", func(c *Config, raw string) error {
		return strictJSON(raw, &c.ChartImageDigests)
	}},
	{"services", "JSON object service -> size overrides (minReplicas, maxReplicas, cpuRequest, ...)", func(c *Config, raw string) error {
		return strictJSON(raw, &c.serviceOverrides)
	}},
	{"rolloutTimeoutSeconds", "seconds the driver waits after up for every Deployment to run its HPA minimum (30..3600, default 300)", func(c *Config, raw string) error {
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("want a number of seconds: %w", err)
		}
		c.RolloutTimeoutSeconds = n
		return nil
	}},
	{"gpuNodeGroup", "node group GPU workloads run on (staging/prod default gpu; dev none)", func(c *Config, raw string) error {
		c.GPUNodeGroup = raw
		return nil
	}},
	{"nodePlacement", "JSON object {nodeSelector: {label: value}, tolerations: [{key, value, effect}]}: the nodes every service's pods run on (default: anywhere the scheduler likes)", func(c *Config, raw string) error {
		return strictJSON(raw, &c.NodePlacement)
	}},
	{"trustedCAFile", "PEM file of CA certificates the services trust besides their images' own (relative to the project root): for stores whose certificates a private CA signed", func(c *Config, raw string) error {
		c.TrustedCAFile = raw
		return nil
	}},
	{"serviceMonitors", "true | false: create Prometheus ServiceMonitors (default: not in dev)", func(c *Config, raw string) error {
		return parseBool(raw, &c.ServiceMonitors)
	}},
	{"dataStores", "JSON object store -> endpoint overrides (host, port, cidrs; authMechanism for mongodb)", func(c *Config, raw string) error {
		return strictJSON(raw, &c.endpointOverrides)
	}},
	{"credentials", "Pulumi secret: JSON object secret key -> value for every key the services need (set with --secret)", func(c *Config, raw string) error {
		if err := strictJSON(raw, &c.Credentials); err != nil {
			// Never echo the value: it is a secret.
			return errors.New("not a JSON object of strings")
		}
		return nil
	}},
	{"fraudModel", "JSON object {uri: s3://bucket/key, sha256: <64 hex>}: the model the fraud pods fetch and verify", func(c *Config, raw string) error {
		return strictJSON(raw, &c.FraudModel)
	}},
	{"ingress", "JSON object overrides: host, clusterIssuer, rateLimitPerMinute (default 1000), corsOrigins, paths, loadBalancer {certificateArn, sourceRanges}", func(c *Config, raw string) error {
		return strictJSON(raw, &c.ingressOverride)
	}},
	{"aws", "JSON object overrides of the AWS foundation (staging/prod): region, vpcCidr, zones, kubernetesVersion, publicAccessCidrs, adminRoleArns, deployerRoleArns, viewerRoleArns, addonVersions, nodeGroups {general, gpu}, modelBucket, backupBucket, sesIdentity, dnsZone, flowLogRetentionDays, postgres, redis, kafka, documentdb", func(c *Config, raw string) error {
		return strictJSON(raw, &c.awsOverride)
	}},
	{"charts", "true | false: install the platform's charts (Gatekeeper, ...); default: not in dev, which cannot download them", func(c *Config, raw string) error {
		return parseBool(raw, &c.Charts)
	}},
	{"chartRepository", "https:// or oci:// repository the official charts are mirrored in (default https://charts.intelliflow.internal), or file://<folder> holding a static Helm repository (relative to the project root)", func(c *Config, raw string) error {
		c.ChartRepository = raw
		return nil
	}},
	{"vault", "JSON object overrides of Vault (staging/prod): address, tokenFile, caCertFile, configure, tlsIssuer, uiHost", func(c *Config, raw string) error {
		return strictJSON(raw, &c.vaultOverride)
	}},
	{"alerting", "JSON object overrides: slackChannel, emailTo, emailFrom, smtpUser, retentionDays, storageGiB", func(c *Config, raw string) error {
		return strictJSON(raw, &c.alertingOverride)
	}},
	{"requireImageDigests", "true | false: images must be pinned by @sha256 digest (prod default true)", func(c *Config, raw string) error {
		return parseBool(raw, &c.RequireImageDigests)
	}},
}

// Keys returns every supported key (without the namespace) with its help text.
func Keys() map[string]string {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		out[k.name] = k.help
	}
	return out
}

// Lookup returns the raw string value of a key without its namespace, and
// whether it is set. Structured values (lists, objects) arrive as JSON, as
// Pulumi passes them to programs.
type Lookup func(key string) (string, bool)

// Parse builds and validates the Config of stack from its raw config values.
// Every error names the full config key.
func Parse(stack string, lookup Lookup) (Config, error) {
	c := Config{Stack: stack}
	var errs []error
	for _, k := range keys {
		raw, ok := lookup(k.name)
		if !ok {
			continue
		}
		if err := k.set(&c, raw); err != nil {
			errs = append(errs, fmt.Errorf("config %s:%s: %w", Namespace, k.name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if _, ok := lookup("environment"); !ok {
		return Config{}, fmt.Errorf("config %s:environment is required (one of %s); set it with `pulumi config set %s:environment %s`",
			Namespace, environmentList(), Namespace, guessEnvironment(stack))
	}
	if err := c.applyDefaults(lookup); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// CheckKeys reports config keys in the project's namespace that no code reads,
// which are almost always typos of a real key.
func CheckKeys(fullKeys []string) error {
	known := Keys()
	var unknown []string
	for _, full := range fullKeys {
		ns, name, ok := strings.Cut(full, ":")
		if !ok || ns != Namespace {
			continue
		}
		if _, ok := known[name]; !ok {
			unknown = append(unknown, full)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, Namespace+":"+n)
	}
	sort.Strings(names)
	return fmt.Errorf("unknown config key(s) %s; known keys are %s",
		strings.Join(unknown, ", "), strings.Join(names, ", "))
}

// applyDefaults fills in what the stack did not set, per environment, and
// lays the stack's partial overrides over the defaults.
func (c *Config) applyDefaults(lookup Lookup) error {
	if c.PodSecurityVersion == "" {
		c.PodSecurityVersion = DefaultPodSecurityVersion
	}
	if _, ok := lookup("rolloutTimeoutSeconds"); !ok {
		c.RolloutTimeoutSeconds = 300
	}
	if c.ImageRegistries == nil {
		c.ImageRegistries = []string{"registry.intelliflow.internal"}
	}
	if _, ok := lookup("requireImageDigests"); !ok {
		c.RequireImageDigests = c.Environment == Prod
	}
	var errs []error
	c.AWS = DefaultAWS(c.Environment)
	if c.awsOverride != nil {
		if c.AWS == nil {
			errs = append(errs, fmt.Errorf("config %s:aws: %s has no AWS foundation; remove the key", Namespace, c.Environment))
		} else if err := overlay(c.awsOverride, c.AWS); err != nil {
			errs = append(errs, fmt.Errorf("config %s:aws: %w", Namespace, err))
		}
	}
	if c.Environment == Dev && c.Kubernetes.Kubeconfig == "" && c.Kubernetes.RenderDir == "" {
		c.Kubernetes.RenderDir = path.Join("out", c.Stack)
	}
	if c.ImageTag == "" {
		c.ImageTag = "0.1.0"
	}
	if _, ok := lookup("gpuNodeGroup"); !ok && c.Environment != Dev {
		c.GPUNodeGroup = "gpu"
	}
	if _, ok := lookup("charts"); !ok {
		c.Charts = c.Environment != Dev
	}
	if c.ChartRepository == "" {
		c.ChartRepository = DefaultChartRepository
	}
	if _, ok := lookup("serviceMonitors"); !ok {
		c.ServiceMonitors = c.Environment != Dev
	}
	sizes, err := mergeSizes(DefaultSizes(c.Environment), c.serviceOverrides)
	errs = append(errs, err)
	c.Services = sizes
	if c.Environment == Dev {
		// Dev has no GPU node group: fraud runs its model on CPU.
		if s, ok := c.Services[catalog.Fraud]; ok && c.GPUNodeGroup == "" {
			s.GPU = 0
			c.Services[catalog.Fraud] = s
		}
	}
	c.DataStores = map[catalog.Store]Endpoint{}
	for st, e := range DefaultEndpoints(c.Environment) {
		if c.AWS != nil && slices.Contains(ManagedStores, st) {
			// Created by the foundation: reached inside the VPC, on the
			// port the managed service listens on; the host is its output.
			e = Endpoint{Port: managedPorts[st], CIDRs: []string{c.AWS.VPCCIDR}}
		}
		c.DataStores[st] = e
	}
	for _, name := range slices.Sorted(maps.Keys(c.endpointOverrides)) {
		st := catalog.Store(name)
		e, ok := c.DataStores[st]
		if !ok {
			errs = append(errs, fmt.Errorf("config %s:dataStores.%s: unknown store; known stores: %v", Namespace, name, catalog.Stores))
			continue
		}
		if c.AWS != nil && slices.Contains(ManagedStores, st) {
			errs = append(errs, fmt.Errorf("config %s:dataStores.%s: the AWS foundation creates %s in this stack; its endpoint comes from there", Namespace, name, st))
			continue
		}
		if err := overlay(c.endpointOverrides[name], &e); err != nil {
			errs = append(errs, fmt.Errorf("config %s:dataStores.%s: %w", Namespace, name, err))
			continue
		}
		c.DataStores[st] = e
	}
	c.Ingress = DefaultIngress(c.Environment)
	if c.ingressOverride != nil {
		if err := overlay(c.ingressOverride, &c.Ingress); err != nil {
			errs = append(errs, fmt.Errorf("config %s:ingress: %w", Namespace, err))
		}
	}
	if c.Charts {
		c.Vault = DefaultVault(c.AWS != nil)
	}
	if c.vaultOverride != nil {
		if c.Vault == nil {
			errs = append(errs, fmt.Errorf("config %s:vault: this stack runs no Vault (it installs no charts); remove the key", Namespace))
		} else if err := overlay(c.vaultOverride, c.Vault); err != nil {
			errs = append(errs, fmt.Errorf("config %s:vault: %w", Namespace, err))
		}
	}
	c.Alerting = DefaultAlerting(c.Environment)
	if c.alertingOverride != nil {
		if err := overlay(c.alertingOverride, &c.Alerting); err != nil {
			errs = append(errs, fmt.Errorf("config %s:alerting: %w", Namespace, err))
		}
	}
	c.serviceOverrides, c.endpointOverrides, c.ingressOverride, c.awsOverride, c.vaultOverride, c.alertingOverride = nil, nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

// DefaultChartRepository is the platform's chart mirror: official charts,
// pinned by version, copied in by the release process like images.
const DefaultChartRepository = "https://charts.intelliflow.internal"

// FalcoArtifactIndex is the falcoctl index Falco's pods install their
// rules and plugins from: beside the charts on the mirror. Where the
// program reads charts from a folder, the pods still fetch from the
// mirror's URL (a folder on the deploying machine is not theirs to reach).
func (c Config) FalcoArtifactIndex() string {
	repo := c.ChartRepository
	if _, local := chart.LocalDir(repo); local {
		repo = DefaultChartRepository
	}
	return strings.TrimSuffix(repo, "/") + "/falcoctl/index.yaml"
}

// GatekeeperNamespace is where Gatekeeper runs; FalcoNamespace is where
// Falco's node agents run, the one namespace below restricted.
const (
	GatekeeperNamespace = "gatekeeper-system"
	FalcoNamespace      = "falco"
	// ElasticNamespace runs the Elastic operator (ECK); the log stack it
	// manages runs in MonitoringNamespace.
	ElasticNamespace = "elastic-system"
	// ShipperNamespace runs the node log shipper, which reads the nodes'
	// log files: below restricted, like Falco's.
	ShipperNamespace = "log-shipper"
	// CINamespace runs Jenkins and its build agents.
	CINamespace = "intelliflow-ci"
	// CertManagerNamespace runs cert-manager and keeps the internal CA's key.
	CertManagerNamespace = "cert-manager"
	// IngressNamespace holds the ingress controller.
	IngressNamespace = "ingress-nginx"
)

// ToolImages are images the platform runs besides the services: the fraud
// pods' model fetcher, and the NVIDIA device plugin on GPU nodes (mirrored
// into the platform's registry). They are pinned like the services.
var ToolImages = []string{"model-fetch", DevicePluginImage, VaultImage, AWSCLIImage, CurlImage, PostgresExporterImage, RedisExporterImage, KubeBenchImage}

// Mirrored upstream images: the NVIDIA device plugin, and Vault and the
// AWS CLI for the Vault snapshot job.
const (
	DevicePluginImage = "nvidia-device-plugin"
	VaultImage        = "vault"
	AWSCLIImage       = "aws-cli"
	// CurlImage applies the log indices' lifecycle policy.
	CurlImage = "curl"
	// PostgresExporterImage and RedisExporterImage publish the stores'
	// metrics the alerts read.
	PostgresExporterImage = "postgres-exporter"
	RedisExporterImage    = "redis-exporter"
	// KubeBenchImage checks the nodes against the CIS benchmark.
	KubeBenchImage = "kube-bench"
)

// upstreamTags are the tags of mirrored upstream images, which follow their
// project's releases rather than the platform's imageTag.
var upstreamTags = map[string]string{DevicePluginImage: "v0.17.1", VaultImage: vault.VaultVersion, AWSCLIImage: vault.AWSCLIVersion, CurlImage: "8.15.0", PostgresExporterImage: "v0.17.1", RedisExporterImage: "v1.74.0", KubeBenchImage: nodeaudit.Version}

// Images lists every image the stack pins: services, then tools.
func Images() []string { return append(catalog.Names(), ToolImages...) }

// Image returns the image reference of a service or tool: pinned by digest
// where the stack gives one, by tag otherwise.
func (c Config) Image(service string) string {
	repo := strings.TrimSuffix(c.ImageRegistries[0], "/") + "/intelliflow/" + service
	if d, ok := c.ImageDigests[service]; ok {
		return repo + "@" + d
	}
	if t, ok := upstreamTags[service]; ok {
		return repo + ":" + t
	}
	return repo + ":" + c.ImageTag
}

var (
	tagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	// An image reference with a tag and no digest: host[:port]/path:tag.
	taggedRefRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._-]+)+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	psaVersionRE = regexp.MustCompile(`^v1\.[0-9]{1,3}$`)
	// A registry host with an optional port and path, as in an image reference.
	registryRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._-]+)*$`)
)

// Validate reports every problem with c, each naming its config key.
func (c Config) Validate() error {
	var errs []error
	bad := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config %s:%s: %s", Namespace, k, fmt.Sprintf(format, args...)))
	}
	if !slices.Contains(Environments, c.Environment) {
		bad("environment", "unknown environment %q; want one of %s", c.Environment, environmentList())
	}
	k := c.Kubernetes
	switch {
	case c.AWS != nil && (k.RenderDir != "" || k.Kubeconfig != ""):
		bad(map[bool]string{true: "renderDir", false: "kubeconfig"}[k.RenderDir != ""],
			"%s deploys to the EKS cluster its AWS foundation creates; remove the key (preview shows what would change)", c.Environment)
	case c.AWS != nil:
	case k.RenderDir != "" && k.Kubeconfig != "":
		bad("renderDir", "set either renderDir or kubeconfig, not both")
	case k.RenderDir == "" && k.Kubeconfig == "":
		// Staging and prod get their cluster from the AWS foundation; until a
		// stack has one, it must say where its objects go.
		bad("kubeconfig", "no Kubernetes target: set kubeconfig (a cluster) or renderDir (a folder)")
	}
	if k.Context != "" && k.Kubeconfig == "" {
		bad("kubeContext", "needs kubeconfig")
	}
	if !psaVersionRE.MatchString(c.PodSecurityVersion) {
		bad("podSecurityVersion", "%q is not a pinned version like %s (\"latest\" is not allowed)", c.PodSecurityVersion, DefaultPodSecurityVersion)
	}
	if len(c.ImageRegistries) == 0 {
		bad("imageRegistries", "must name at least one registry")
	}
	for _, r := range c.ImageRegistries {
		if !registryRE.MatchString(r) {
			bad("imageRegistries", "%q is not a registry host (like registry.example.com or registry.example.com:5000/team)", r)
		}
	}
	if !tagRE.MatchString(c.ImageTag) || c.ImageTag == "latest" {
		bad("imageTag", "%q is not a pinned image tag (letters, digits, '.', '_', '-'; not latest)", c.ImageTag)
	}
	for _, name := range slices.Sorted(maps.Keys(c.ImageDigests)) {
		if !slices.Contains(Images(), name) {
			bad("imageDigests."+name, "unknown image; images are %v", Images())
		}
		if !digestRE.MatchString(c.ImageDigests[name]) {
			bad("imageDigests."+name, "%q is not sha256:<64 hex digits>", c.ImageDigests[name])
		}
	}
	for _, ref := range slices.Sorted(maps.Keys(c.ChartImageDigests)) {
		if !taggedRefRE.MatchString(ref) {
			bad("chartImageDigests", "%q is not an image reference with a tag and no digest (registry/repository:tag), as the chart renders it", ref)
		}
		if !digestRE.MatchString(c.ChartImageDigests[ref]) {
			bad("chartImageDigests", "%s: %q is not sha256:<64 hex digits>", ref, c.ChartImageDigests[ref])
		}
	}
	if c.RequireImageDigests {
		for _, name := range Images() {
			if _, ok := c.ImageDigests[name]; !ok {
				bad("imageDigests."+name, "missing: this stack pins images by digest (requireImageDigests); the release pipeline sets it with `pulumi config set --path %s:imageDigests.%s sha256:...`", Namespace, name)
			}
		}
	}
	errs = append(errs, c.validateSizes()...)
	errs = append(errs, c.validateEndpoints()...)
	errs = append(errs, c.NodePlacement.validate()...)
	errs = append(errs, c.validateCredentials()...)
	errs = append(errs, c.FraudModel.validate()...)
	errs = append(errs, c.validateAWS()...)
	errs = append(errs, c.validateVault()...)
	errs = append(errs, c.validateAlerting()...)
	if c.RolloutTimeoutSeconds < 30 || c.RolloutTimeoutSeconds > 3600 {
		bad("rolloutTimeoutSeconds", "%d: want 30..3600", c.RolloutTimeoutSeconds)
	}
	if err := chart.ValidRepository(c.ChartRepository); err != nil {
		bad("chartRepository", "%v", err)
	}
	return errors.Join(errs...)
}

// strictJSON decodes a structured config value, rejecting unknown fields.
func strictJSON(raw string, into any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("not valid here: %w", err)
	}
	return nil
}

// overlay decodes a partial JSON object onto v, keeping the fields it does
// not name and rejecting fields v does not have.
func overlay(partial map[string]any, v any) error {
	b, err := json.Marshal(partial)
	if err != nil {
		return err
	}
	return strictJSON(string(b), v)
}

func parseBool(raw string, into *bool) error {
	switch raw {
	case "true":
		*into = true
	case "false":
		*into = false
	default:
		return fmt.Errorf("want true or false, got %q", raw)
	}
	return nil
}

func environmentList() string {
	names := make([]string, len(Environments))
	for i, e := range Environments {
		names[i] = string(e)
	}
	return strings.Join(names, ", ")
}

// guessEnvironment suggests an environment for a stack whose name is one.
func guessEnvironment(stack string) string {
	if slices.Contains(Environments, Environment(stack)) {
		return stack
	}
	return string(Dev)
}
