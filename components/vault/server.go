// Package vault provides the platform's Vault: the Server component (the
// official chart in HA with integrated raft storage, TLS from cert-manager,
// auto-unseal with AWS KMS through IRSA where the stack has AWS, an audit
// device, the agent injector, and a CronJob that ships raft snapshots to the
// backup bucket)
// and the Config component (what lives inside Vault, through the vault
// provider: Kubernetes auth with one role per service account, a least-
// privilege policy per service, dynamic PostgreSQL credentials, the transit
// keys, the internal PKI and the KV engine for static secrets).
package vault

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/microservice"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/components/servicemonitor"
)

// Pinned versions: the chart, Vault, the injector, the CLI image the
// snapshot job uploads with.
const (
	ChartVersion    = "0.30.1"
	VaultVersion    = "1.20.1"
	InjectorVersion = "1.7.0"
	AWSCLIVersion   = "2.27.49"
)

// Names the chart derives from the release name "vault".
const (
	Release           = "vault"
	ServerAccount     = "vault"
	SnapshotAccount   = "vault-snapshot"
	SnapshotRole      = "raft-snapshot"
	TLSSecret         = "vault-tls"
	tlsDir            = "/vault/userconfig/" + TLSSecret
	snapshotTokenPath = "/var/run/secrets/vault"
	// Port is where clients reach the servers (pods labelled
	// app.kubernetes.io/name=vault).
	Port = 8200
)

// Args configures the server.
type Args struct {
	// Namespace is where Vault runs (its name, known now), NamespaceReady
	// orders objects after it.
	Namespace      string
	NamespaceReady pulumi.StringInput
	// ChartRepository and ImageRegistry are the platform's mirrors.
	ChartRepository, ImageRegistry string
	// Replicas of the raft cluster: 3 in prod for quorum across zones.
	Replicas int
	// Region and UnsealKeyAlias name the AWS KMS key that auto-unseals.
	// Both empty (a cluster without AWS): Vault seals with Shamir's key
	// shares, and an operator unseals each server after it starts.
	Region, UnsealKeyAlias string
	// ServerRoleARN is the server's IRSA role (KMS for the seal), required
	// with KMS; SnapshotRoleARN the backup job's (write to the backup
	// bucket), required with BackupBucket.
	ServerRoleARN, SnapshotRoleARN pulumi.StringInput
	// TLSIssuer is the cert-manager ClusterIssuer of the internal CA.
	TLSIssuer string
	// IssuerReady is the ClusterIssuer's resource where the stack creates
	// it: certificates wait for it instead of sitting unready.
	IssuerReady []pulumi.Resource
	// UIHost, when set, exposes the UI through the ingress with TLS.
	UIHost string
	// BackupBucket receives hourly raft snapshots; empty, no snapshot job
	// (a cluster without AWS).
	BackupBucket string
	// Clients are the namespaces whose pods reach Vault (the agents).
	Clients []string
	// MonitoringNamespace, when set, is where Prometheus runs: a
	// ServiceMonitor there scrapes every server over TLS, verified against
	// the internal CA (vault_core_unsealed feeds the VaultSealed alert).
	// It must be one of Clients.
	MonitoringNamespace string
	// ControlPlaneCIDRs are where the API server calls the injector from
	// and where Vault reviews tokens.
	ControlPlaneCIDRs []string
	// PriorityClass keeps Vault above the apps it serves.
	PriorityClass string
	// VaultImage and AWSCLIImage are the snapshot job's images (pinned by
	// digest in prod, like every image the stack runs).
	VaultImage, AWSCLIImage string
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	aliasRE   = regexp.MustCompile(`^[a-zA-Z0-9/_-]{1,200}$`)
	hostRE    = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$`)
	addressRE = regexp.MustCompile(`^https://[a-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._/-]*)?$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if !nameRE.MatchString(a.Namespace) || a.NamespaceReady == nil {
		bad("Namespace %q and NamespaceReady are required", a.Namespace)
	}
	if chart.ValidRepository(a.ChartRepository) != nil || a.ImageRegistry == "" {
		bad("ChartRepository %q and ImageRegistry %q are required", a.ChartRepository, a.ImageRegistry)
	}
	if a.Replicas < 1 || a.Replicas%2 == 0 {
		bad("Replicas %d: raft needs an odd number (1, 3, 5) for a quorum", a.Replicas)
	}
	if a.kms() && (a.Region == "" || !aliasRE.MatchString(a.UnsealKeyAlias) || a.ServerRoleARN == nil) {
		bad("Region %q, UnsealKeyAlias %q and ServerRoleARN name the KMS key that unseals Vault and the role that may use it (all or none: none seals with key shares)", a.Region, a.UnsealKeyAlias)
	}
	if a.BackupBucket != "" && a.SnapshotRoleARN == nil {
		bad("SnapshotRoleARN is required with BackupBucket (IRSA for the backups)")
	}
	if !nameRE.MatchString(a.TLSIssuer) {
		bad("TLSIssuer %q is not a ClusterIssuer name", a.TLSIssuer)
	}
	if a.UIHost != "" && !hostRE.MatchString(a.UIHost) {
		bad("UIHost %q is not a host name", a.UIHost)
	}
	if a.BackupBucket != "" && !nameRE.MatchString(a.BackupBucket) {
		bad("BackupBucket %q is not a bucket name", a.BackupBucket)
	}
	if a.BackupBucket != "" && (a.VaultImage == "" || a.AWSCLIImage == "") {
		bad("VaultImage and AWSCLIImage are required for the snapshot job")
	}
	if len(a.Clients) == 0 || len(a.ControlPlaneCIDRs) == 0 {
		bad("Clients and ControlPlaneCIDRs are required")
	}
	if a.MonitoringNamespace != "" && !slices.Contains(a.Clients, a.MonitoringNamespace) {
		bad("MonitoringNamespace %q must be one of Clients, or the scrapes are dropped", a.MonitoringNamespace)
	}
	return errors.Join(errs...)
}

// kms reports whether Vault auto-unseals with AWS KMS.
func (a *Args) kms() bool {
	return a.Region != "" || a.UnsealKeyAlias != "" || a.ServerRoleARN != nil
}

// ServerConfig is Vault's HCL configuration: TLS on the listener, raft
// storage joining its peers over TLS, the AWS KMS seal (none without a
// region: Shamir), Kubernetes service registration (active/standby
// labels), Prometheus telemetry.
func ServerConfig(namespace, region, unsealKeyAlias string, replicas int, ui bool) string {
	var joins strings.Builder
	for i := range replicas {
		fmt.Fprintf(&joins, `  retry_join {
    leader_api_addr         = "https://%s-%d.%s-internal.%s.svc:8200"
    leader_ca_cert_file     = "%s/ca.crt"
    leader_client_cert_file = "%s/tls.crt"
    leader_client_key_file  = "%s/tls.key"
  }
`, Release, i, Release, namespace, tlsDir, tlsDir, tlsDir)
	}
	seal := ""
	if region != "" {
		seal = fmt.Sprintf(`
seal "awskms" {
  region     = "%s"
  kms_key_id = "alias/%s"
}
`, region, unsealKeyAlias)
	}
	return fmt.Sprintf(`ui = %t
disable_mlock = true

listener "tcp" {
  address            = "[::]:8200"
  cluster_address    = "[::]:8201"
  tls_cert_file      = "%[2]s/tls.crt"
  tls_key_file       = "%[2]s/tls.key"
  tls_client_ca_file = "%[2]s/ca.crt"
  tls_min_version    = "tls12"
  telemetry {
    unauthenticated_metrics_access = true
  }
}

storage "raft" {
  path = "/vault/data"
%[3]s}
%[4]s
service_registration "kubernetes" {}

telemetry {
  prometheus_retention_time = "30s"
  disable_hostname          = true
}
`, ui, tlsDir, joins.String(), seal)
}

// Values are the chart values.
func (a *Args) Values() pulumi.Map {
	reg := strings.TrimSuffix(a.ImageRegistry, "/")
	resources := func(cpu, mem, memLimit string) pulumi.Map {
		return pulumi.Map{
			"requests": pulumi.Map{"cpu": pulumi.String(cpu), "memory": pulumi.String(mem)},
			"limits":   pulumi.Map{"memory": pulumi.String(memLimit)},
		}
	}
	serviceAccount := pulumi.Map{"name": pulumi.String(ServerAccount)}
	if a.kms() {
		serviceAccount["annotations"] = pulumi.Map{"eks.amazonaws.com/role-arn": a.ServerRoleARN}
	}
	server := pulumi.Map{
		"image":     pulumi.Map{"repository": pulumi.String(reg + "/hashicorp/vault"), "tag": pulumi.String(VaultVersion)},
		"dev":       pulumi.Map{"enabled": pulumi.Bool(false)},
		"resources": resources("250m", "512Mi", "1Gi"),
		// Liveness asks only that the server answers, sealed or not (a
		// restart would only seal it again); readiness stays the chart's
		// `vault status`.
		"livenessProbe": pulumi.Map{
			"enabled": pulumi.Bool(true), "path": pulumi.String("/v1/sys/health?standbyok=true&sealedcode=200&uninitcode=200"),
		},
		"ha": pulumi.Map{
			"enabled":  pulumi.Bool(true),
			"replicas": pulumi.Int(a.Replicas),
			"raft": pulumi.Map{
				"enabled":   pulumi.Bool(true),
				"setNodeId": pulumi.Bool(true),
				"config":    pulumi.String(ServerConfig(a.Namespace, a.Region, a.UnsealKeyAlias, a.Replicas, a.UIHost != "")),
			},
		},
		"extraVolumes":         pulumi.Array{pulumi.Map{"type": pulumi.String("secret"), "name": pulumi.String(TLSSecret)}},
		"extraEnvironmentVars": pulumi.Map{"VAULT_CACERT": pulumi.String(tlsDir + "/ca.crt")},
		"serviceAccount":       serviceAccount,
		"dataStorage":          pulumi.Map{"enabled": pulumi.Bool(true), "size": pulumi.String("10Gi")},
		"auditStorage":         pulumi.Map{"enabled": pulumi.Bool(true), "size": pulumi.String("20Gi")},
		// One replica per zone; the chart's own anti-affinity keeps one per node.
		"topologySpreadConstraints": pulumi.Array{pulumi.Map{
			"maxSkew": pulumi.Int(1), "topologyKey": pulumi.String("topology.kubernetes.io/zone"), "whenUnsatisfiable": pulumi.String("DoNotSchedule"),
			"labelSelector": pulumi.Map{"matchLabels": pulumi.Map{
				"app.kubernetes.io/name": pulumi.String(Release), "component": pulumi.String("server"),
			}},
		}},
		"priorityClassName": pulumi.String(a.PriorityClass),
		// Service registration labels each pod active or standby, and
		// Kubernetes auth reviews the clients' tokens.
		"annotations": chart.CallsAPI(),
		// Restricted, as the image's vault user (100:1000, which owns its
		// files); the start script writes the final config to /tmp.
		"statefulSet": pulumi.Map{"securityContext": pulumi.Map{
			"pod": chart.RestrictedPod(100, 1000), "container": chart.RestrictedContainer(),
		}},
		"volumes":      pulumi.Array{chart.Scratch("tmp", "64Mi")},
		"volumeMounts": pulumi.Array{pulumi.Map{"name": pulumi.String("tmp"), "mountPath": pulumi.String("/tmp")}},
	}
	if a.UIHost != "" {
		server["ingress"] = pulumi.Map{
			"enabled": pulumi.Bool(true), "ingressClassName": pulumi.String("nginx"),
			"annotations": pulumi.Map{
				"cert-manager.io/cluster-issuer":               pulumi.String(a.TLSIssuer),
				"nginx.ingress.kubernetes.io/backend-protocol": pulumi.String("HTTPS"),
			},
			"hosts": pulumi.Array{pulumi.Map{"host": pulumi.String(a.UIHost)}},
			"tls":   pulumi.Array{pulumi.Map{"secretName": pulumi.String("vault-ui-tls"), "hosts": pulumi.ToStringArray([]string{a.UIHost})}},
		}
	}
	return pulumi.Map{
		"global": pulumi.Map{"tlsDisable": pulumi.Bool(false)},
		"injector": pulumi.Map{
			"enabled":             pulumi.Bool(true),
			"replicas":            pulumi.Int(2),
			"image":               pulumi.Map{"repository": pulumi.String(reg + "/hashicorp/vault-k8s"), "tag": pulumi.String(InjectorVersion)},
			"agentImage":          pulumi.Map{"repository": pulumi.String(reg + "/hashicorp/vault"), "tag": pulumi.String(VaultVersion)},
			"resources":           resources("50m", "64Mi", "256Mi"),
			"podDisruptionBudget": pulumi.Map{"maxUnavailable": pulumi.Int(1)},
			"annotations":         chart.CallsAPI(),
			"securityContext":     pulumi.Map{"pod": chart.RestrictedPod(100, 1000), "container": chart.RestrictedContainer()},
		},
		"server": server,
		"ui":     pulumi.Map{"enabled": pulumi.Bool(a.UIHost != "")},
	}
}

// Server is the installed Vault.
type Server struct {
	pulumi.ResourceState

	// Address is Vault's in-cluster HTTPS address.
	Address pulumi.StringOutput `pulumi:"address"`
}

// Address is the in-cluster address of Vault in a namespace.
func Address(namespace string) string {
	return fmt.Sprintf("https://%s.%s.svc:8200", Release, namespace)
}

// NewServer installs Vault.
func NewServer(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Server, error) {
	if args == nil {
		return nil, fmt.Errorf("vault %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("vault %q: %w", name, err)
	}
	s := &Server{}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:VaultServer", name, s, opts...); err != nil {
		return nil, fmt.Errorf("vault %q: %w", name, err)
	}
	parent := pulumi.Parent(s)
	wrap := func(child string, err error) error { return fmt.Errorf("vault %q: %s: %w", name, child, err) }
	ns := args.Namespace
	labels := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}

	// The serving certificate, for the service, every pod and loopback.
	var dns []string
	for _, suffix := range []string{"", "." + ns, "." + ns + ".svc", "." + ns + ".svc.cluster.local"} {
		dns = append(dns, Release+suffix, Release+"-active"+suffix, "*."+Release+"-internal"+suffix)
	}
	cert, err := apiextensions.NewCustomResource(ctx, name+"-tls", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cert-manager.io/v1"),
		Kind:       pulumi.String("Certificate"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(TLSSecret), Namespace: args.NamespaceReady, Labels: labels},
		OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
			"secretName":  TLSSecret,
			"commonName":  Release + "." + ns + ".svc",
			"dnsNames":    dns,
			"ipAddresses": []any{"127.0.0.1"},
			"duration":    "2160h",
			"renewBefore": "360h",
			"privateKey":  map[string]any{"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
			"usages":      []any{"server auth", "client auth"},
			"issuerRef":   map[string]any{"kind": "ClusterIssuer", "name": args.TLSIssuer, "group": "cert-manager.io"},
		}},
	}, parent, pulumi.DependsOn(args.IssuerReady))
	if err != nil {
		return nil, wrap("certificate", err)
	}

	if err := networkPolicies(ctx, name, args, parent); err != nil {
		return nil, err
	}

	release, err := chart.New(ctx, name, chart.Args{
		Chart:      "vault",
		Release:    Release,
		Version:    ChartVersion,
		Namespace:  args.NamespaceReady,
		Repository: args.ChartRepository,
		Values:     args.Values(),
	}, parent, pulumi.DependsOn([]pulumi.Resource{cert}))
	if err != nil {
		return nil, wrap("chart", err)
	}
	if args.BackupBucket != "" {
		if err := snapshotJob(ctx, name, args, parent, pulumi.DependsOn([]pulumi.Resource{release})); err != nil {
			return nil, err
		}
	}
	if args.MonitoringNamespace != "" {
		if err := scrape(ctx, name, args, parent, pulumi.DependsOn(append([]pulumi.Resource{release}, args.IssuerReady...))); err != nil {
			return nil, err
		}
	}
	s.Address = pulumi.String(Address(ns)).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"address": s.Address}); err != nil {
		return nil, wrap("outputs", err)
	}
	return s, nil
}

// metricsCA is the Secret in the monitoring namespace whose ca.crt is the
// internal CA that signed Vault's certificate.
const metricsCA = "vault-metrics-ca"

// scrape lets Prometheus read every server's metrics: the headless internal
// Service selects each pod once; the CA comes from a certificate of the same
// issuer, made in Prometheus's namespace (a ServiceMonitor reads Secrets
// only from its own).
func scrape(ctx *pulumi.Context, name string, a *Args, opts ...pulumi.ResourceOption) error {
	mon := a.MonitoringNamespace
	if _, err := apiextensions.NewCustomResource(ctx, name+"-metrics-ca", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cert-manager.io/v1"),
		Kind:       pulumi.String("Certificate"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(metricsCA), Namespace: pulumi.String(mon)},
		OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
			"secretName": metricsCA, "commonName": "prometheus." + mon, "usages": []any{"client auth"},
			"duration": "2160h", "renewBefore": "360h",
			"privateKey": map[string]any{"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
			"issuerRef":  map[string]any{"kind": "ClusterIssuer", "name": a.TLSIssuer, "group": "cert-manager.io"},
		}},
	}, opts...); err != nil {
		return fmt.Errorf("vault %q: metrics CA: %w", name, err)
	}
	if _, err := servicemonitor.New(ctx, name+"-monitor", &servicemonitor.Args{
		Name: Release, Namespace: pulumi.String(mon), TargetNamespace: a.Namespace,
		Selector: map[string]string{"app.kubernetes.io/name": Release, "app.kubernetes.io/instance": Release, "vault-internal": "true"},
		Endpoints: []servicemonitor.Endpoint{{
			Port: "https", Path: "/v1/sys/metrics", Params: map[string][]string{"format": {"prometheus"}},
			HTTPS: true, TLSCASecret: metricsCA, TLSServerName: Release + "." + a.Namespace + ".svc",
		}},
	}, opts...); err != nil {
		return fmt.Errorf("vault %q: service monitor: %w", name, err)
	}
	return nil
}

// ValidAddress reports whether address can be Vault's: an https endpoint.
func ValidAddress(address string) error {
	if !addressRE.MatchString(address) {
		return fmt.Errorf("vault address %q is not an https:// address", address)
	}
	return nil
}

// networkPolicies open what Vault needs in a default-deny namespace: agents
// and clients to 8200, raft between the servers on 8201, the API server to
// the injector's webhook, KMS and the API for the servers.
func networkPolicies(ctx *pulumi.Context, name string, a *Args, parent pulumi.ResourceOption) error {
	tcp, namespaces, cidrs := namespace.TCP, namespace.Namespaces, namespace.CIDRs
	servers := networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{
		MatchLabels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(Release), "component": pulumi.String("server")},
	}}}
	serverEgress := networkingv1.NetworkPolicyEgressRuleArray{
		&networkingv1.NetworkPolicyEgressRuleArgs{To: servers, Ports: tcp(8200, 8201)},
		// Token reviews (the API), PostgreSQL for dynamic credentials.
		&networkingv1.NetworkPolicyEgressRuleArgs{To: cidrs(a.ControlPlaneCIDRs...), Ports: tcp(443, 5432)},
	}
	if a.kms() {
		// KMS and STS for the seal have public endpoints only.
		serverEgress = append(serverEgress, &networkingv1.NetworkPolicyEgressRuleArgs{To: cidrs("0.0.0.0/0"), Ports: tcp(443)})
	}
	specs := map[string]*networkingv1.NetworkPolicySpecArgs{
		"vault-server": {
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(Release), "component": pulumi.String("server")}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{
				&networkingv1.NetworkPolicyIngressRuleArgs{From: namespaces(append([]string{a.Namespace}, a.Clients...)...), Ports: tcp(8200)},
				&networkingv1.NetworkPolicyIngressRuleArgs{From: servers, Ports: tcp(8201)},
			},
			Egress: serverEgress,
		},
		"vault-agent-injector": {
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(Release + "-agent-injector")}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress:     networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{From: cidrs(a.ControlPlaneCIDRs...), Ports: tcp(8080)}},
			Egress:      networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{To: cidrs(a.ControlPlaneCIDRs...), Ports: tcp(443)}},
		},
		SnapshotAccount: {
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(SnapshotAccount)}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Egress: networkingv1.NetworkPolicyEgressRuleArray{
				&networkingv1.NetworkPolicyEgressRuleArgs{To: servers, Ports: tcp(8200)},
				&networkingv1.NetworkPolicyEgressRuleArgs{To: cidrs("0.0.0.0/0"), Ports: tcp(443)}, // S3, STS
			},
		},
	}
	names := []string{"vault-server", "vault-agent-injector"}
	if a.BackupBucket != "" {
		names = append(names, SnapshotAccount)
	}
	for _, n := range names {
		if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-"+n, &networkingv1.NetworkPolicyArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(n), Namespace: a.NamespaceReady},
			Spec:     specs[n],
		}, parent); err != nil {
			return fmt.Errorf("vault %q: network policy %s: %w", name, n, err)
		}
	}
	return nil
}

// snapshotJob takes a raft snapshot every hour (the Vault RPO) and copies
// it to the backup bucket: an init container logs in with the job's own
// Kubernetes identity (role raft-snapshot, which may only read snapshots)
// and saves the snapshot; the main container uploads it with the job's
// IRSA role. Nothing runs as root, nothing is writable but scratch space.
func snapshotJob(ctx *pulumi.Context, name string, a *Args, opts ...pulumi.ResourceOption) error {
	labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(SnapshotAccount), "app.kubernetes.io/part-of": pulumi.String("intelliflow")}
	sa, err := corev1.NewServiceAccount(ctx, name+"-snapshot", &corev1.ServiceAccountArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(SnapshotAccount), Namespace: a.NamespaceReady, Labels: labels,
			Annotations: pulumi.StringMap{"eks.amazonaws.com/role-arn": a.SnapshotRoleARN},
		},
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, opts...)
	if err != nil {
		return fmt.Errorf("vault %q: snapshot service account: %w", name, err)
	}
	security := microservice.RestrictedContainer()
	res := &corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("128Mi"), "ephemeral-storage": pulumi.String("1Gi")},
		Limits:   pulumi.StringMap{"memory": pulumi.String("256Mi"), "ephemeral-storage": pulumi.String("2Gi")},
	}
	mounts := corev1.VolumeMountArray{
		&corev1.VolumeMountArgs{Name: pulumi.String("snapshots"), MountPath: pulumi.String("/snapshots")},
		&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
	}
	save := fmt.Sprintf(`set -eu
export VAULT_TOKEN="$(vault write -field=token auth/%s/login role=%s jwt=@%s/token)"
vault operator raft snapshot save /snapshots/vault-raft.snap`, KubernetesAuth, SnapshotRole, snapshotTokenPath)
	upload := fmt.Sprintf(`set -eu
aws s3 cp /snapshots/vault-raft.snap "s3://%s/vault/$(date -u +%%Y/%%m/%%d/%%H%%M%%S).snap" --sse aws:kms --only-show-errors`, a.BackupBucket)
	if _, err := batchv1.NewCronJob(ctx, name+"-snapshot", &batchv1.CronJobArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(SnapshotAccount), Namespace: a.NamespaceReady, Labels: labels},
		Spec: &batchv1.CronJobSpecArgs{
			Schedule:                   pulumi.String("17 * * * *"),
			ConcurrencyPolicy:          pulumi.String("Forbid"),
			SuccessfulJobsHistoryLimit: pulumi.Int(3),
			FailedJobsHistoryLimit:     pulumi.Int(5),
			JobTemplate: &batchv1.JobTemplateSpecArgs{Spec: &batchv1.JobSpecArgs{
				BackoffLimit:          pulumi.Int(2),
				ActiveDeadlineSeconds: pulumi.Int(900),
				Template: &corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{Labels: labels},
					Spec: &corev1.PodSpecArgs{
						ServiceAccountName:           sa.Metadata.Name().Elem(),
						AutomountServiceAccountToken: pulumi.Bool(false),
						RestartPolicy:                pulumi.String("OnFailure"),
						SecurityContext: &corev1.PodSecurityContextArgs{
							RunAsNonRoot: pulumi.Bool(true), RunAsUser: pulumi.Int(10001), RunAsGroup: pulumi.Int(10001), FsGroup: pulumi.Int(10001),
							SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
						},
						InitContainers: corev1.ContainerArray{&corev1.ContainerArgs{
							Name: pulumi.String("save"), Image: pulumi.String(a.VaultImage),
							Command: pulumi.ToStringArray([]string{"/bin/sh", "-c", save}),
							Env: corev1.EnvVarArray{
								&corev1.EnvVarArgs{Name: pulumi.String("VAULT_ADDR"), Value: pulumi.String(Address(a.Namespace))},
								&corev1.EnvVarArgs{Name: pulumi.String("VAULT_CACERT"), Value: pulumi.String(tlsDir + "/ca.crt")},
								&corev1.EnvVarArgs{Name: pulumi.String("HOME"), Value: pulumi.String("/tmp")},
							},
							SecurityContext: security, Resources: res,
							VolumeMounts: append(mounts,
								&corev1.VolumeMountArgs{Name: pulumi.String("vault-token"), MountPath: pulumi.String(snapshotTokenPath), ReadOnly: pulumi.Bool(true)},
								&corev1.VolumeMountArgs{Name: pulumi.String("ca"), MountPath: pulumi.String(tlsDir), ReadOnly: pulumi.Bool(true)},
							),
						}},
						Containers: corev1.ContainerArray{&corev1.ContainerArgs{
							Name: pulumi.String("upload"), Image: pulumi.String(a.AWSCLIImage),
							Command:         pulumi.ToStringArray([]string{"/bin/sh", "-c", upload}),
							Env:             corev1.EnvVarArray{&corev1.EnvVarArgs{Name: pulumi.String("HOME"), Value: pulumi.String("/tmp")}},
							SecurityContext: security, Resources: res, VolumeMounts: mounts,
						}},
						Volumes: corev1.VolumeArray{
							&corev1.VolumeArgs{Name: pulumi.String("snapshots"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("2Gi")}},
							&corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")}},
							// A short-lived token for Vault's audience only.
							&corev1.VolumeArgs{Name: pulumi.String("vault-token"), Projected: &corev1.ProjectedVolumeSourceArgs{
								Sources: corev1.VolumeProjectionArray{&corev1.VolumeProjectionArgs{ServiceAccountToken: &corev1.ServiceAccountTokenProjectionArgs{
									Path: pulumi.String("token"), Audience: pulumi.String("vault"), ExpirationSeconds: pulumi.Int(600),
								}}},
							}},
							// Only the CA from the serving certificate's Secret.
							&corev1.VolumeArgs{Name: pulumi.String("ca"), Secret: &corev1.SecretVolumeSourceArgs{
								SecretName: pulumi.String(TLSSecret),
								Items:      corev1.KeyToPathArray{&corev1.KeyToPathArgs{Key: pulumi.String("ca.crt"), Path: pulumi.String("ca.crt")}},
							}},
						},
					},
				},
			}},
		},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{sa}))...); err != nil {
		return fmt.Errorf("vault %q: snapshot job: %w", name, err)
	}
	return nil
}
