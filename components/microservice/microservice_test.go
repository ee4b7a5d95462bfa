package microservice

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
)

// fraudArgs is a GPU service with a model init container, Vault and IRSA:
// every branch of the component at once.
func fraudArgs() *Args {
	return &Args{
		Namespace:   pulumi.String("intelliflow-prod"),
		Name:        "fraud",
		Image:       "registry.intelliflow.internal/intelliflow/fraud@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Port:        8080,
		MetricsPort: 9090,
		Probes:      Probes{LivenessPath: "/livez", ReadinessPath: "/readyz", StartupSeconds: 300},
		Config:      map[string]string{"MODEL_PATH": "/models/model.json", "FRAUD_THRESHOLD": "0.85"},
		Secrets: []SecretEnv{{Env: "DATABASE_PASSWORD", Key: "database-password", VaultPath: "database/creds/fraud",
			VaultTemplate: `{{- with secret "database/creds/fraud" -}}{{ .Data.password }}{{- end -}}`}},
		Resources: Resources{CPURequest: "1", MemoryRequest: "2Gi", CPULimit: "4", MemoryLimit: "4Gi"},
		GPU:       1, GPUNodeGroup: "gpu",
		Replicas:    Replicas{Min: 4, Max: 12},
		Autoscaling: Autoscaling{CPUUtilization: 70},
		Placement:   Placement{StrictZoneSpread: true, PriorityClass: "intelliflow-standard"},
		Network: Network{
			Callers:             []string{"gateway", "transactions"},
			MonitoringNamespace: "intelliflow-monitoring",
			Egress:              []CIDRRule{{Name: "postgres", CIDRs: []string{"10.0.0.0/16"}, Port: 5432}},
		},
		ServiceAccount: ServiceAccount{IRSARoleARN: pulumi.String("arn:aws:iam::123456789012:role/intelliflow-prod-fraud")},
		InitContainers: []InitContainer{{
			Name: "model-fetch", Image: "registry.intelliflow.internal/intelliflow/model-fetch:0.1.0",
			Args: []string{"--source", "s3://models/fraud/model.json", "--sha256", "abc", "--out", "/models/model.json"},
			Env:  map[string]string{"AWS_REGION": "eu-west-1"},
		}},
		SharedVolume:   &SharedVolume{Name: "models", MountPath: "/models", SizeLimit: "2Gi"},
		Vault:          &Vault{Role: "fraud", Namespace: "intelliflow-security", Port: 8200},
		ServiceMonitor: true,
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"valid", func(a *Args) {}, ""},
		{"zero port", func(a *Args) { a.Port = 0 }, "Port: 0 is not a port"},
		{"same ports", func(a *Args) { a.MetricsPort = 8080 }, "MetricsPort: 8080 is the same as Port"},
		{"min above max", func(a *Args) { a.Replicas = Replicas{Min: 5, Max: 3} }, "Replicas.Max: 3 must be greater than Replicas.Min 5"},
		{"GPU without node group", func(a *Args) { a.GPUNodeGroup = "" }, "GPUNodeGroup: is required when GPU is 1"},
		{"secret in config", func(a *Args) { a.Config["DB_PASSWORD"] = "hunter2" }, `Config: "DB_PASSWORD" looks like a secret`},
		{"settings about secrets are fine", func(a *Args) { a.Config["PASSWORD_MIN_LENGTH"] = "12"; a.Config["TOKEN_TTL"] = "5m" }, ""},
		{"signing key in config", func(a *Args) { a.Config["JWT_SIGNING_KEY"] = "k" }, `"JWT_SIGNING_KEY" looks like a secret`},
		{"same probe paths", func(a *Args) { a.Probes.ReadinessPath = "/livez" }, "must differ from LivenessPath"},
		{"relative probe", func(a *Args) { a.Probes.LivenessPath = "livez" }, `Probes.LivenessPath: "livez" is not an absolute path`},
		{"bad quantity", func(a *Args) { a.Resources.MemoryLimit = "4GB" }, `Resources.MemoryLimit: "4GB" is not a positive quantity`},
		{"request above limit", func(a *Args) { a.Resources.CPURequest = "8" }, "Resources.CPURequest: 8 is above CPULimit 4"},
		{"bad caller", func(a *Args) { a.Network.Callers = []string{"Gateway"} }, `Network.Callers[0]: "Gateway" is not a service name`},
		{"bad peer port", func(a *Args) { a.Network.Calls = []Peer{{"users", 0}} }, `Network.Calls[0]: "users" port 0`},
		{"bad CIDR", func(a *Args) { a.Network.Egress[0].CIDRs = []string{"10.0.0.0"} }, `Network.Egress[0].CIDRs: "10.0.0.0" is not a CIDR`},
		{"vault secret without path", func(a *Args) { a.Secrets[0].VaultPath = "" }, "Secrets[0].VaultPath: is required when Vault is set"},
		{"secret without vault needs a Secret", func(a *Args) { a.Vault = nil }, `Secrets[0].SecretName: "" is not a Secret name`},
		{"init without volume", func(a *Args) { a.SharedVolume = nil }, "SharedVolume: is required with InitContainers"},
		{"duplicate container", func(a *Args) { a.InitContainers[0].Name = "fraud" }, `InitContainers[0].Name: "fraud" is not a unique container name`},
		{"no namespace", func(a *Args) { a.Namespace = nil }, "Namespace: is required"},
		{"bad utilization", func(a *Args) { a.Autoscaling.CPUUtilization = 0 }, "Autoscaling.CPUUtilization: 0"},
		{"bad metric", func(a *Args) { a.Autoscaling.Pods = &Metric{Name: "rate", AverageValue: "-1"} }, `Autoscaling.Pods.AverageValue: "-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := fraudArgs()
			tt.mutate(a)
			err := a.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestNewRejectsBadArgsBeforeRegistering(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		a := fraudArgs()
		a.Port = 0
		_, err := New(ctx, "fraud", a)
		return err
	})
	require.ErrorContains(t, err, `microservice "fraud": Port: 0 is not a port`)
	require.Empty(t, mocks.Resources())
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "fraud", fraudArgs())
		return err
	})
	require.NoError(t, err)

	for _, r := range mocks.Resources() {
		if r.Custom {
			require.Contains(t, r.Parent, "intelliflow:apps:Microservice::fraud", r.Name)
			require.Equal(t, "intelliflow-prod", r.Get("metadata.namespace"), r.Name)
			require.Equal(t, "fraud", r.Get("metadata.labels").(map[string]any)[AppLabel], r.Name)
		}
	}

	sa, _ := mocks.Find("kubernetes:core/v1:ServiceAccount", "fraud-sa")
	require.Equal(t, false, sa.Get("automountServiceAccountToken"))
	require.Equal(t, "arn:aws:iam::123456789012:role/intelliflow-prod-fraud", sa.Get("metadata.annotations").(map[string]any)["eks.amazonaws.com/role-arn"])

	cm, _ := mocks.Find("kubernetes:core/v1:ConfigMap", "fraud-config")
	require.Equal(t, map[string]any{"MODEL_PATH": "/models/model.json", "FRAUD_THRESHOLD": "0.85"}, cm.Get("data"))

	d, ok := mocks.Find("kubernetes:apps/v1:Deployment", "fraud-deployment")
	require.True(t, ok)
	require.Nil(t, d.Get("spec.replicas"), "the HPA owns replicas")
	require.Equal(t, 0.0, d.Get("spec.strategy.rollingUpdate.maxUnavailable"))
	pod := "spec.template.spec."
	require.Equal(t, "fraud", d.Get(pod+"serviceAccountName"))
	require.Equal(t, false, d.Get(pod+"automountServiceAccountToken"))
	require.Equal(t, 30.0, d.Get(pod+"terminationGracePeriodSeconds"))
	require.Equal(t, 10001.0, d.Get(pod+"securityContext.runAsUser"))
	require.Equal(t, "RuntimeDefault", d.Get(pod+"securityContext.seccompProfile.type"))
	require.Equal(t, "intelliflow-standard", d.Get(pod+"priorityClassName"))

	c := pod + "containers.0."
	require.Equal(t, "/livez", d.Get(c+"livenessProbe.httpGet.path"))
	require.Equal(t, "/readyz", d.Get(c+"readinessProbe.httpGet.path"))
	require.Equal(t, 60.0, d.Get(c+"startupProbe.failureThreshold"))
	require.Equal(t, 5.0, d.Get(c+"lifecycle.preStop.sleep.seconds"))
	require.Equal(t, true, d.Get(c+"securityContext.readOnlyRootFilesystem"))
	require.Equal(t, false, d.Get(c+"securityContext.allowPrivilegeEscalation"))
	require.Equal(t, []any{"ALL"}, d.Get(c+"securityContext.capabilities.drop"))
	limits := d.Get(c + "resources.limits").(map[string]any)
	require.Equal(t, map[string]any{"cpu": "4", "memory": "4Gi", "ephemeral-storage": "512Mi", "nvidia.com/gpu": "1"}, limits)
	require.Equal(t, map[string]any{"cpu": "1", "memory": "2Gi", "ephemeral-storage": "64Mi"}, d.Get(c+"resources.requests"))
	require.Equal(t, "DATABASE_PASSWORD_FILE", d.Get(c+"env.0.name"))
	require.Equal(t, "/vault/secrets/database-password", d.Get(c+"env.0.value"))
	require.Equal(t, "fraud-config", d.Get(c+"envFrom.0.configMapRef.name"))

	ic := pod + "initContainers.0."
	require.Equal(t, "model-fetch", d.Get(ic+"name"))
	require.Equal(t, "/models", d.Get(ic+"volumeMounts.1.mountPath"))
	require.Equal(t, true, d.Get(c+"volumeMounts.1.readOnly"), "the server reads the model, never writes it")

	require.Equal(t, "nvidia.com/gpu", d.Get(pod+"tolerations.0.key"))
	require.Equal(t, "NoSchedule", d.Get(pod+"tolerations.0.effect"))
	require.Equal(t, []any{"gpu"}, d.Get(pod+"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.0.matchExpressions.0.values"))
	require.Equal(t, "DoNotSchedule", d.Get(pod+"topologySpreadConstraints.0.whenUnsatisfiable"))
	require.Equal(t, "kubernetes.io/hostname", d.Get(pod+"topologySpreadConstraints.1.topologyKey"))

	ann := d.Get("spec.template.metadata.annotations").(map[string]any)
	require.Equal(t, "true", ann["vault.hashicorp.com/agent-inject"])
	require.Equal(t, "fraud", ann["vault.hashicorp.com/role"])
	require.Equal(t, "database/creds/fraud", ann["vault.hashicorp.com/agent-inject-secret-database-password"])
	require.Equal(t, `{{- with secret "database/creds/fraud" -}}{{ .Data.password }}{{- end -}}`, ann["vault.hashicorp.com/agent-inject-template-database-password"], "the file holds just the password")
	require.Equal(t, "vault-token", ann["vault.hashicorp.com/agent-service-account-token-volume-name"])
	require.Len(t, ann["intelliflow.io/config-hash"], 16)

	hpa, _ := mocks.Find("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "fraud-hpa")
	require.Equal(t, 4.0, hpa.Get("spec.minReplicas"))
	require.Equal(t, 12.0, hpa.Get("spec.maxReplicas"))
	require.Equal(t, "fraud", hpa.Get("spec.scaleTargetRef.name"))
	require.Equal(t, 70.0, hpa.Get("spec.metrics.0.resource.target.averageUtilization"))
	require.Equal(t, 300.0, hpa.Get("spec.behavior.scaleDown.stabilizationWindowSeconds"))
	require.Equal(t, 0.0, hpa.Get("spec.behavior.scaleUp.stabilizationWindowSeconds"))

	pdb, _ := mocks.Find("kubernetes:policy/v1:PodDisruptionBudget", "fraud-pdb")
	require.Equal(t, 1.0, pdb.Get("spec.maxUnavailable"))
	require.Equal(t, "AlwaysAllow", pdb.Get("spec.unhealthyPodEvictionPolicy"))

	np, _ := mocks.Find("kubernetes:networking.k8s.io/v1:NetworkPolicy", "fraud-netpol")
	require.Equal(t, []any{"Ingress", "Egress"}, np.Get("spec.policyTypes"))
	require.Equal(t, map[string]any{AppLabel: "gateway"}, np.Get("spec.ingress.0.from.0.podSelector.matchLabels"))
	require.Equal(t, "metrics", np.Get("spec.ingress.1.ports.0.port"))
	require.Equal(t, "10.0.0.0/16", np.Get("spec.egress.0.to.0.ipBlock.cidr"))
	require.Equal(t, 5432.0, np.Get("spec.egress.0.ports.0.port"))
	// The Vault agent's way to Vault through the namespace's default-deny.
	require.Equal(t, map[string]any{"kubernetes.io/metadata.name": "intelliflow-security"}, np.Get("spec.egress.1.to.0.namespaceSelector.matchLabels"))
	require.Equal(t, map[string]any{"app.kubernetes.io/name": "vault"}, np.Get("spec.egress.1.to.0.podSelector.matchLabels"))
	require.Equal(t, 8200.0, np.Get("spec.egress.1.ports.0.port"))

	sm, ok := mocks.Find("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "fraud-monitor")
	require.True(t, ok)
	require.Equal(t, "metrics", sm.Get("spec.endpoints.0.port"))

	svc, _ := mocks.Find("kubernetes:core/v1:Service", "fraud-service")
	require.Equal(t, "ClusterIP", svc.Get("spec.type"))
}

// TestConfigFrom: computed values (data-store endpoints) join the ConfigMap
// and the config hash, so a moved endpoint rolls the pods.
func TestConfigFrom(t *testing.T) {
	hashFor := func(host string) (map[string]any, string) {
		mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
			a := fraudArgs()
			a.ConfigFrom = map[string]pulumi.StringInput{"REDIS_ADDR": pulumi.String(host).ToStringOutput().ApplyT(func(h string) string { return h + ":6379" }).(pulumi.StringOutput)}
			_, err := New(ctx, "fraud", a)
			return err
		})
		require.NoError(t, err)
		cm, _ := mocks.Find("kubernetes:core/v1:ConfigMap", "fraud-config")
		d, _ := mocks.Find("kubernetes:apps/v1:Deployment", "fraud-deployment")
		return cm.Get("data").(map[string]any), d.Get("spec.template.metadata.annotations").(map[string]any)["intelliflow.io/config-hash"].(string)
	}
	data, h1 := hashFor("a.cache.amazonaws.com")
	require.Equal(t, "a.cache.amazonaws.com:6379", data["REDIS_ADDR"])
	require.Equal(t, "0.85", data["FRAUD_THRESHOLD"], "static config stays")
	_, h2 := hashFor("b.cache.amazonaws.com")
	require.Len(t, h1, 16)
	require.NotEqual(t, h1, h2)

	a := fraudArgs()
	a.ConfigFrom = map[string]pulumi.StringInput{"FRAUD_THRESHOLD": pulumi.String("1"), "DB_PASSWORD": pulumi.String("x")}
	err := a.Validate()
	require.ErrorContains(t, err, `"FRAUD_THRESHOLD" is also in Config`)
	require.ErrorContains(t, err, `"DB_PASSWORD" looks like a secret`)
}
