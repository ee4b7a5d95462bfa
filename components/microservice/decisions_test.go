package microservice

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGracePeriodOutlastsTheDrain(t *testing.T) {
	for _, shutdown := range []int{0, 20, 55} {
		require.Greater(t, GracePeriod(shutdown), PreStopSeconds+shutdown)
	}
}

func TestProbes(t *testing.T) {
	tests := []struct {
		name         string
		startup      int
		wantFailures int
	}{
		{"default start", 30, 6},
		{"slow model load", 300, 60},
		{"rounds up", 31, 7},
		{"never zero", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, r, s := probes(Probes{LivenessPath: "/livez", ReadinessPath: "/readyz", StartupSeconds: tt.startup})
			require.Equal(t, "/livez", l.Path)
			require.Equal(t, "/readyz", r.Path)
			require.Equal(t, "/livez", s.Path)
			require.Equal(t, tt.wantFailures, s.FailureThreshold)
			require.GreaterOrEqual(t, s.FailureThreshold*s.PeriodSeconds, tt.startup)
		})
	}
}

func TestHPAMetrics(t *testing.T) {
	tests := []struct {
		name string
		a    Autoscaling
		want []metric
	}{
		{"cpu only", Autoscaling{CPUUtilization: 70}, []metric{{Type: "Resource", Name: "cpu", Utilization: 70}}},
		{
			"seed transactions",
			Autoscaling{CPUUtilization: 60, Pods: &Metric{"transaction_processing_rate", "200"}, External: &Metric{"sqs_queue_depth", "50"}},
			[]metric{
				{Type: "Resource", Name: "cpu", Utilization: 60},
				{Type: "Pods", Name: "transaction_processing_rate", AverageValue: "200"},
				{Type: "External", Name: "sqs_queue_depth", AverageValue: "50"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, hpaMetrics(tt.a))
		})
	}
}

func TestNetworkRules(t *testing.T) {
	a := Args{Network: Network{
		Callers:                    []string{"orchestrator", "gateway"},
		Calls:                      []Peer{{"users", 8080}, {"fraud", 8080}},
		IngressControllerNamespace: "ingress-nginx",
		MonitoringNamespace:        "intelliflow-monitoring",
		Egress:                     []CIDRRule{{Name: "postgres", CIDRs: []string{"10.0.0.0/16"}, Port: 5432}},
	}}
	require.Equal(t, []netRule{
		{
			Peers: []peer{{PodLabels: map[string]string{AppLabel: "gateway"}}, {PodLabels: map[string]string{AppLabel: "orchestrator"}}},
			Ports: []netPort{{Name: "http", Protocol: "TCP"}},
		},
		{Peers: []peer{{NamespaceLabels: namespaceLabels("ingress-nginx"), PodLabels: map[string]string{}}}, Ports: []netPort{{Name: "http", Protocol: "TCP"}}},
		{Peers: []peer{{NamespaceLabels: namespaceLabels("intelliflow-monitoring"), PodLabels: map[string]string{}}}, Ports: []netPort{{Name: "metrics", Protocol: "TCP"}}},
	}, ingressRules(a))
	require.Equal(t, []netRule{
		{Peers: []peer{{PodLabels: map[string]string{AppLabel: "fraud"}}}, Ports: []netPort{{Port: 8080, Protocol: "TCP"}}},
		{Peers: []peer{{PodLabels: map[string]string{AppLabel: "users"}}}, Ports: []netPort{{Port: 8080, Protocol: "TCP"}}},
		{Peers: []peer{{CIDR: "10.0.0.0/16"}}, Ports: []netPort{{Port: 5432, Protocol: "TCP"}}},
	}, egressRules(a))

	lb := ingressRules(Args{Network: Network{PublicCIDRs: []string{"0.0.0.0/0"}}})
	require.Equal(t, []netRule{{Peers: []peer{{CIDR: "0.0.0.0/0"}}, Ports: []netPort{{Name: "http", Protocol: "TCP"}}}}, lb)

	// A service nobody calls, with no stores, admits and reaches nothing.
	require.Empty(t, ingressRules(Args{}))
	require.Empty(t, egressRules(Args{}))
}

func TestPlacement(t *testing.T) {
	tests := []struct {
		name         string
		p            Placement
		wantSpreads  []spread
		wantRequired bool
	}{
		{"soft everywhere", Placement{}, []spread{
			{"topology.kubernetes.io/zone", "ScheduleAnyway"}, {"kubernetes.io/hostname", "ScheduleAnyway"},
		}, false},
		{"strict zones", Placement{StrictZoneSpread: true}, []spread{
			{"topology.kubernetes.io/zone", "DoNotSchedule"}, {"kubernetes.io/hostname", "ScheduleAnyway"},
		}, false},
		{"one pod per host", Placement{RequiredHostAntiAffinity: true, StrictZoneSpread: true}, []spread{
			{"topology.kubernetes.io/zone", "DoNotSchedule"},
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spreads, required := placement(tt.p)
			require.Equal(t, tt.wantSpreads, spreads)
			require.Equal(t, tt.wantRequired, required)
		})
	}
}
