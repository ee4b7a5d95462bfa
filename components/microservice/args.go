// Package microservice provides the Microservice component: everything one
// IntelliFlow service needs to run safely on Kubernetes (ServiceAccount,
// ConfigMap, Deployment, Service, HorizontalPodAutoscaler,
// PodDisruptionBudget, NetworkPolicy, and a ServiceMonitor where Prometheus
// runs), built so that the policy pack's rules hold by construction.
package microservice

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/intelliflow/platform/internal/secretname"
)

// Args configures a Microservice. Every field is validated before any
// resource is created.
type Args struct {
	// Namespace the service runs in; pass the namespace component's output so
	// the service waits for it.
	Namespace pulumi.StringInput
	// Name is the Kubernetes name of every object and the app label.
	Name string
	// Image is the full image reference.
	Image string
	// Port serves the API; MetricsPort serves Prometheus metrics.
	Port, MetricsPort int
	Probes            Probes
	// Config is non-secret configuration, delivered as a ConfigMap.
	Config map[string]string
	// ConfigFrom is non-secret configuration other resources compute (the
	// managed data stores' endpoints). It joins Config in the ConfigMap and
	// in the config hash that rolls the pods; a key may not be in both.
	ConfigFrom map[string]pulumi.StringInput
	// Secrets are credentials delivered as environment variables from a
	// Kubernetes Secret, or as files from Vault when Vault is set.
	Secrets   []SecretEnv
	Resources Resources
	// GPU is the number of GPUs per pod; GPUNodeGroup is where they are.
	GPU          int
	GPUNodeGroup string
	Replicas     Replicas
	Autoscaling  Autoscaling
	Placement    Placement
	Network      Network
	// ServiceAccount options: IRSA role and Kubernetes API access.
	ServiceAccount ServiceAccount
	// PeerToken, when set, mounts a ServiceAccount token for a peer's
	// audience that the server presents to it (the orchestrator to fraud's
	// TokenReview).
	PeerToken *PeerToken
	// InitContainers run before the server; they share SharedVolume with it.
	InitContainers []InitContainer
	SharedVolume   *SharedVolume
	// Vault, when set, injects secrets with the Vault Agent.
	Vault *Vault
	// TrustedCA, when set, is a ConfigMap of CA certificates every
	// container trusts besides its image's: mounted, and named by
	// SSL_CERT_FILE (Go's TLS clients read their roots from it, and the
	// image's certificate folder still).
	TrustedCA *TrustedCA
	// ServiceMonitor creates a Prometheus operator ServiceMonitor.
	ServiceMonitor bool
	// ShutdownSeconds is how long the server drains in-flight requests
	// after SIGTERM; the grace period is derived from it. Default 20.
	ShutdownSeconds int
	// Labels are extra labels on every object.
	Labels map[string]string
}

// Probes are the service's own health endpoints.
type Probes struct {
	// LivenessPath must not check downstream services; ReadinessPath may.
	LivenessPath, ReadinessPath string
	// StartupSeconds is how long the service may take to start (a model
	// load); the startup probe allows that long. Default 30.
	StartupSeconds int
}

// SecretEnv is one credential.
type SecretEnv struct {
	// Env is the variable the service reads; with Vault it reads the file
	// named by Env+"_FILE".
	Env string
	// SecretName and Key locate it in a Kubernetes Secret; with Vault, Key is
	// the file name and VaultPath the secret's path.
	SecretName, Key string
	VaultPath       string
	// VaultTemplate renders the file from the secret at VaultPath (for
	// example one field of a KV entry, or a dynamic database password);
	// without it the agent writes the whole secret.
	VaultTemplate string
}

// Resources are per-container requests and limits, as Kubernetes quantities.
type Resources struct {
	CPURequest, MemoryRequest, CPULimit, MemoryLimit string
}

// Replicas bound the HPA.
type Replicas struct{ Min, Max int }

// Metric is a custom HPA metric with an average-value target.
type Metric struct{ Name, AverageValue string }

// Autoscaling is what the HPA scales on.
type Autoscaling struct {
	CPUUtilization int
	Pods           *Metric
	External       *Metric
}

// Placement spreads pods over failure domains.
type Placement struct {
	// RequiredHostAntiAffinity allows at most one pod per node.
	RequiredHostAntiAffinity bool
	// StrictZoneSpread refuses to schedule pods that would unbalance zones.
	StrictZoneSpread bool
	// PriorityClass names a PriorityClass for the pods.
	PriorityClass string
	// NodeSelector and Tolerations pin the pods to the nodes the stack
	// names (a dedicated pool, the local cluster's real node).
	NodeSelector map[string]string
	Tolerations  []Toleration
}

// Toleration tolerates a taint: any value when Value is empty, every
// effect when Effect is.
type Toleration struct{ Key, Value, Effect string }

// Peer is another service, by app name, with the port it serves.
type Peer struct {
	Name string
	Port int
}

// CIDRRule allows egress to networks on one port (a data store).
type CIDRRule struct {
	Name     string
	CIDRs    []string
	Port     int
	Protocol string // TCP when empty
}

// Network is who may reach the service and whom it may reach. DNS is
// allowed by the namespace.
type Network struct {
	// Callers are the services in the namespace that may call this one.
	Callers []string
	// Calls are the services this one calls.
	Calls []Peer
	// IngressControllerNamespace admits the ingress controller, for the one
	// public service.
	IngressControllerNamespace string
	// MonitoringNamespace admits Prometheus on the metrics port.
	MonitoringNamespace string
	// PublicCIDRs admit clients straight from the network on the API port:
	// the sources of a load balancer that targets the pods.
	PublicCIDRs []string
	// Egress allows data stores and external services.
	Egress []CIDRRule
}

// ServiceAccount options.
type ServiceAccount struct {
	// IRSARoleARN annotates the account for AWS IAM roles for service accounts.
	IRSARoleARN pulumi.StringInput
	// KubernetesAPI mounts the account token: only for services that call the
	// Kubernetes API.
	KubernetesAPI bool
}

// InitContainer runs before the server.
type InitContainer struct {
	Name  string
	Image string
	Args  []string
	Env   map[string]string
	// Resources default to the server's requests and limits.
	Resources *Resources
}

// PeerToken is a projected ServiceAccount token: Dir/token, for Audience,
// rotated by the kubelet before it expires.
type PeerToken struct {
	Audience string
	Dir      string
}

// SharedVolume is an emptyDir the init containers fill for the server.
type SharedVolume struct {
	Name      string
	MountPath string
	SizeLimit string
	// Writable lets the server write it too (fraud fetching the versions
	// the orchestrator promotes); read-only otherwise.
	Writable bool
}

// TrustedCA is a ConfigMap's key holding PEM certificates. Pass the
// ConfigMap's output name: an auto-named, immutable ConfigMap is replaced
// when the certificates change, and the new name rolls the pods.
type TrustedCA struct {
	ConfigMap pulumi.StringInput
	Key       string
}

// TrustedCADir is where a TrustedCA is mounted.
const TrustedCADir = "/etc/intelliflow/trusted-ca"

// Vault injects secrets with the Vault Agent injector.
type Vault struct {
	// Role is the Vault Kubernetes auth role.
	Role string
	// Namespace and Port are where the Vault servers listen: the agent's
	// only way out of the namespace's default-deny to Vault.
	Namespace string
	Port      int
}

var (
	dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	envRE      = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

func (a *Args) withDefaults() Args {
	out := *a
	if out.ShutdownSeconds == 0 {
		out.ShutdownSeconds = 20
	}
	if out.Probes.StartupSeconds == 0 {
		out.Probes.StartupSeconds = 30
	}
	return out
}

// Validate reports every problem with the arguments, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(field, format string, v ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, v...)))
	}
	if a.Namespace == nil {
		bad("Namespace", "is required")
	}
	if !isDNSLabel(a.Name) {
		bad("Name", "%q is not a DNS label", a.Name)
	}
	if a.Image == "" {
		bad("Image", "is required")
	}
	for _, p := range []struct {
		field string
		port  int
	}{{"Port", a.Port}, {"MetricsPort", a.MetricsPort}} {
		if p.port < 1 || p.port > 65535 {
			bad(p.field, "%d is not a port (1-65535)", p.port)
		}
	}
	if a.Port == a.MetricsPort && a.Port != 0 {
		bad("MetricsPort", "%d is the same as Port", a.MetricsPort)
	}
	for _, p := range []struct{ field, path string }{{"Probes.LivenessPath", a.Probes.LivenessPath}, {"Probes.ReadinessPath", a.Probes.ReadinessPath}} {
		if !strings.HasPrefix(p.path, "/") {
			bad(p.field, "%q is not an absolute path", p.path)
		}
	}
	if a.Probes.LivenessPath == a.Probes.ReadinessPath && a.Probes.LivenessPath != "" {
		bad("Probes.ReadinessPath", "must differ from LivenessPath: liveness never checks downstream services (REL-04)")
	}
	if a.Probes.StartupSeconds < 0 || a.ShutdownSeconds < 0 {
		bad("Probes.StartupSeconds/ShutdownSeconds", "must not be negative")
	}
	for k, v := range a.Config {
		if !envRE.MatchString(k) {
			bad("Config", "%q is not an environment variable name", k)
		}
		if secretname.Looks(k) {
			bad("Config", "%q looks like a secret; deliver it through Secrets, never a ConfigMap (SEC-19)", k)
		}
		_ = v
	}
	for k := range a.ConfigFrom {
		switch _, dup := a.Config[k]; {
		case !envRE.MatchString(k):
			bad("ConfigFrom", "%q is not an environment variable name", k)
		case secretname.Looks(k):
			bad("ConfigFrom", "%q looks like a secret; deliver it through Secrets, never a ConfigMap (SEC-19)", k)
		case dup:
			bad("ConfigFrom", "%q is also in Config; one value per key", k)
		}
	}
	for i, s := range a.Secrets {
		field := fmt.Sprintf("Secrets[%d]", i)
		if !envRE.MatchString(s.Env) {
			bad(field+".Env", "%q is not an environment variable name", s.Env)
		}
		if s.Key == "" {
			bad(field+".Key", "is required")
		}
		if a.Vault == nil && !isDNSLabel(s.SecretName) {
			bad(field+".SecretName", "%q is not a Secret name", s.SecretName)
		}
		if a.Vault != nil && s.VaultPath == "" {
			bad(field+".VaultPath", "is required when Vault is set")
		}
	}
	errs = append(errs, a.Resources.validate("Resources")...)
	switch {
	case a.GPU < 0:
		bad("GPU", "%d is negative", a.GPU)
	case a.GPU > 0 && a.GPUNodeGroup == "":
		bad("GPUNodeGroup", "is required when GPU is %d: GPU pods must be placed on the GPU node group", a.GPU)
	}
	if t := a.TrustedCA; t != nil && (t.ConfigMap == nil || len(validation.IsConfigMapKey(t.Key)) > 0) {
		bad("TrustedCA", "needs a ConfigMap and a key (%q)", t.Key)
	}
	for i, t := range a.Placement.Tolerations {
		if t.Key == "" {
			bad(fmt.Sprintf("Placement.Tolerations[%d].Key", i), "is required")
		}
	}
	if a.Replicas.Min < 1 {
		bad("Replicas.Min", "%d; at least 1", a.Replicas.Min)
	}
	if a.Replicas.Max <= a.Replicas.Min {
		bad("Replicas.Max", "%d must be greater than Replicas.Min %d", a.Replicas.Max, a.Replicas.Min)
	}
	if c := a.Autoscaling.CPUUtilization; c < 1 || c > 100 {
		bad("Autoscaling.CPUUtilization", "%d is not a percentage from 1 to 100", c)
	}
	for _, m := range []struct {
		field string
		m     *Metric
	}{{"Autoscaling.Pods", a.Autoscaling.Pods}, {"Autoscaling.External", a.Autoscaling.External}} {
		if m.m == nil {
			continue
		}
		if m.m.Name == "" {
			bad(m.field+".Name", "is required")
		}
		if q, err := resource.ParseQuantity(m.m.AverageValue); err != nil || q.Sign() <= 0 {
			bad(m.field+".AverageValue", "%q is not a positive quantity", m.m.AverageValue)
		}
	}
	n := a.Network
	for i, c := range n.Callers {
		if !isDNSLabel(c) {
			bad(fmt.Sprintf("Network.Callers[%d]", i), "%q is not a service name", c)
		}
	}
	for i, c := range n.PublicCIDRs {
		if _, _, err := net.ParseCIDR(c); err != nil {
			bad(fmt.Sprintf("Network.PublicCIDRs[%d]", i), "%q is not a CIDR", c)
		}
	}
	for i, p := range n.Calls {
		if !isDNSLabel(p.Name) || p.Port < 1 || p.Port > 65535 {
			bad(fmt.Sprintf("Network.Calls[%d]", i), "%q port %d is not a service and port", p.Name, p.Port)
		}
	}
	for i, r := range n.Egress {
		field := fmt.Sprintf("Network.Egress[%d]", i)
		if r.Port < 1 || r.Port > 65535 {
			bad(field+".Port", "%d is not a port", r.Port)
		}
		if len(r.CIDRs) == 0 {
			bad(field+".CIDRs", "name at least one network for %q", r.Name)
		}
		for _, c := range r.CIDRs {
			if _, _, err := net.ParseCIDR(c); err != nil {
				bad(field+".CIDRs", "%q is not a CIDR", c)
			}
		}
		if r.Protocol != "" && r.Protocol != "TCP" && r.Protocol != "UDP" {
			bad(field+".Protocol", "%q is not TCP or UDP", r.Protocol)
		}
	}
	seen := map[string]bool{a.Name: true}
	for i, c := range a.InitContainers {
		field := fmt.Sprintf("InitContainers[%d]", i)
		if !isDNSLabel(c.Name) || seen[c.Name] {
			bad(field+".Name", "%q is not a unique container name", c.Name)
		}
		seen[c.Name] = true
		if c.Image == "" {
			bad(field+".Image", "is required")
		}
		if c.Resources != nil {
			errs = append(errs, c.Resources.validate(field+".Resources")...)
		}
	}
	if v := a.SharedVolume; v != nil {
		if !isDNSLabel(v.Name) || v.Name == "tmp" {
			bad("SharedVolume.Name", "%q is not a volume name (tmp is taken)", v.Name)
		}
		if !strings.HasPrefix(v.MountPath, "/") || v.MountPath == "/tmp" {
			bad("SharedVolume.MountPath", "%q is not an absolute path other than /tmp", v.MountPath)
		}
		if q, err := resource.ParseQuantity(v.SizeLimit); err != nil || q.Sign() <= 0 {
			bad("SharedVolume.SizeLimit", "%q is not a positive quantity", v.SizeLimit)
		}
	}
	if t := a.PeerToken; t != nil && (t.Audience == "" || !strings.HasPrefix(t.Dir, "/") || t.Dir == "/tmp") {
		bad("PeerToken", "needs an audience and an absolute folder other than /tmp (%q, %q)", t.Audience, t.Dir)
	}
	if len(a.InitContainers) > 0 && a.SharedVolume == nil {
		bad("SharedVolume", "is required with InitContainers: it is how they hand their output to the server")
	}
	if a.Vault != nil && (!dnsLabelRE.MatchString(a.Vault.Namespace) || a.Vault.Port < 1 || a.Vault.Port > 65535) {
		bad("Vault", "Namespace %q and Port %d must name where the Vault servers listen", a.Vault.Namespace, a.Vault.Port)
	}
	if a.Vault != nil && a.Vault.Role == "" {
		bad("Vault.Role", "is required")
	}
	return errors.Join(errs...)
}

func (r Resources) validate(field string) []error {
	var errs []error
	pairs := []struct{ req, lim, reqName, limName string }{
		{r.CPURequest, r.CPULimit, "CPURequest", "CPULimit"},
		{r.MemoryRequest, r.MemoryLimit, "MemoryRequest", "MemoryLimit"},
	}
	for _, p := range pairs {
		req, rerr := resource.ParseQuantity(p.req)
		lim, lerr := resource.ParseQuantity(p.lim)
		if rerr != nil || req.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("%s.%s: %q is not a positive quantity", field, p.reqName, p.req))
		}
		if lerr != nil || lim.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("%s.%s: %q is not a positive quantity", field, p.limName, p.lim))
		}
		if rerr == nil && lerr == nil && req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Errorf("%s.%s: %s is above %s %s", field, p.reqName, p.req, p.limName, p.lim))
		}
	}
	return errs
}

func isDNSLabel(s string) bool { return len(s) <= 63 && dnsLabelRE.MatchString(s) }
