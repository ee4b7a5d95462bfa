package microservice

import "sort"

// Label keys the component selects on.
const (
	AppLabel = "app.kubernetes.io/name"
	// NodeGroupLabel marks the nodes of a node group; GPU pods require the
	// GPU node group's value. The node group component sets the same label.
	NodeGroupLabel = "intelliflow.io/node-group"
	// GPUResource is the extended resource the NVIDIA device plugin serves.
	GPUResource = "nvidia.com/gpu"
)

// PreStopSeconds is how long a terminating pod keeps serving before SIGTERM,
// so endpoints controllers and load balancers stop sending it traffic first.
const PreStopSeconds = 5

// GracePeriod is the termination grace period: the pre-stop delay, the
// server's drain, and a margin, so Kubernetes never kills a draining server.
func GracePeriod(shutdownSeconds int) int { return PreStopSeconds + shutdownSeconds + 5 }

// probe is one HTTP probe.
type probe struct {
	Path                    string
	Port                    string
	PeriodSeconds           int
	TimeoutSeconds          int
	FailureThreshold        int
	InitialDelaySeconds     int
	SuccessThresholdDefault bool
}

// probes derives the three probes. Startup shares liveness's endpoint and
// covers the whole start budget, so liveness can stay strict afterwards.
func probes(p Probes) (liveness, readiness, startup probe) {
	liveness = probe{Path: p.LivenessPath, Port: "http", PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3}
	readiness = probe{Path: p.ReadinessPath, Port: "http", PeriodSeconds: 5, TimeoutSeconds: 2, FailureThreshold: 2}
	const period = 5
	failures := (p.StartupSeconds + period - 1) / period
	if failures < 1 {
		failures = 1
	}
	startup = probe{Path: p.LivenessPath, Port: "http", PeriodSeconds: period, TimeoutSeconds: 2, FailureThreshold: failures}
	return liveness, readiness, startup
}

// metric is one HPA metric.
type metric struct {
	Type         string // Resource, Pods or External
	Name         string
	Utilization  int    // Resource
	AverageValue string // Pods, External
}

// hpaMetrics is what the HPA scales on: CPU always, then the service's
// per-pod rate and an external queue depth where the stack gives them.
func hpaMetrics(a Autoscaling) []metric {
	out := []metric{{Type: "Resource", Name: "cpu", Utilization: a.CPUUtilization}}
	if a.Pods != nil {
		out = append(out, metric{Type: "Pods", Name: a.Pods.Name, AverageValue: a.Pods.AverageValue})
	}
	if a.External != nil {
		out = append(out, metric{Type: "External", Name: a.External.Name, AverageValue: a.External.AverageValue})
	}
	return out
}

// peer selects traffic sources or destinations of a NetworkPolicy rule.
type peer struct {
	PodLabels       map[string]string
	NamespaceLabels map[string]string // nil: the policy's own namespace
	CIDR            string
}

// netPort is a port of a NetworkPolicy rule: by number, or by name.
type netPort struct {
	Port     int
	Name     string
	Protocol string
}

// netRule is one ingress or egress rule.
type netRule struct {
	Peers []peer
	Ports []netPort
}

func namespaceLabels(ns string) map[string]string {
	return map[string]string{"kubernetes.io/metadata.name": ns}
}

// ingressRules: named callers on the API port, the ingress controller and a
// load balancer's sources for the public service, Prometheus on the metrics
// port. Nothing else gets in.
func ingressRules(a Args) []netRule {
	var rules []netRule
	callers := append([]string(nil), a.Network.Callers...)
	sort.Strings(callers)
	if len(callers) > 0 {
		r := netRule{Ports: []netPort{{Name: "http", Protocol: "TCP"}}}
		for _, c := range callers {
			r.Peers = append(r.Peers, peer{PodLabels: map[string]string{AppLabel: c}})
		}
		rules = append(rules, r)
	}
	if ns := a.Network.IngressControllerNamespace; ns != "" {
		rules = append(rules, netRule{
			Peers: []peer{{NamespaceLabels: namespaceLabels(ns), PodLabels: map[string]string{}}},
			Ports: []netPort{{Name: "http", Protocol: "TCP"}},
		})
	}
	if len(a.Network.PublicCIDRs) > 0 {
		r := netRule{Ports: []netPort{{Name: "http", Protocol: "TCP"}}}
		for _, c := range a.Network.PublicCIDRs {
			r.Peers = append(r.Peers, peer{CIDR: c})
		}
		rules = append(rules, r)
	}
	if ns := a.Network.MonitoringNamespace; ns != "" {
		rules = append(rules, netRule{
			Peers: []peer{{NamespaceLabels: namespaceLabels(ns), PodLabels: map[string]string{}}},
			Ports: []netPort{{Name: "metrics", Protocol: "TCP"}},
		})
	}
	return rules
}

// egressRules: the services it calls on their ports, and each data store's
// networks on its port. DNS comes from the namespace's allow-dns policy.
func egressRules(a Args) []netRule {
	var rules []netRule
	calls := append([]Peer(nil), a.Network.Calls...)
	sort.Slice(calls, func(i, j int) bool { return calls[i].Name < calls[j].Name })
	for _, c := range calls {
		rules = append(rules, netRule{
			Peers: []peer{{PodLabels: map[string]string{AppLabel: c.Name}}},
			Ports: []netPort{{Port: c.Port, Protocol: "TCP"}},
		})
	}
	for _, e := range a.Network.Egress {
		proto := e.Protocol
		if proto == "" {
			proto = "TCP"
		}
		r := netRule{Ports: []netPort{{Port: e.Port, Protocol: proto}}}
		for _, c := range e.CIDRs {
			r.Peers = append(r.Peers, peer{CIDR: c})
		}
		rules = append(rules, r)
	}
	if a.Vault != nil {
		// The agent (init container and sidecar) reaches Vault's servers.
		rules = append(rules, netRule{
			Peers: []peer{{NamespaceLabels: namespaceLabels(a.Vault.Namespace), PodLabels: map[string]string{"app.kubernetes.io/name": "vault"}}},
			Ports: []netPort{{Port: a.Vault.Port, Protocol: "TCP"}},
		})
	}
	return rules
}

// spread is one topology spread constraint.
type spread struct {
	TopologyKey       string
	WhenUnsatisfiable string
}

// placement spreads pods over zones always, and over hosts either softly or,
// where the stack asks, strictly by required anti-affinity.
func placement(p Placement) (spreads []spread, requiredHostAntiAffinity bool) {
	zone := spread{TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: "ScheduleAnyway"}
	if p.StrictZoneSpread {
		zone.WhenUnsatisfiable = "DoNotSchedule"
	}
	spreads = []spread{zone}
	if p.RequiredHostAntiAffinity {
		return spreads, true
	}
	return append(spreads, spread{TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: "ScheduleAnyway"}), false
}
