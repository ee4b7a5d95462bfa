package rules

// Settings are the stack facts rules depend on; the pack reads them from the
// same typed stack config the program uses.
type Settings struct {
	// PodSecurityVersion is the pinned Pod Security Standards version.
	PodSecurityVersion string
	// ImageRegistries is the allow-list of image registries.
	ImageRegistries []string
	// RequireImageDigests asks for @sha256 pins (prod).
	RequireImageDigests bool
	// LoadBalancerServices may be exposed by a LoadBalancer Service (NET-02).
	LoadBalancerServices []string
	// SpreadServices must spread over zones and hosts (REL-03).
	SpreadServices []string
	// Production asks for multi-AZ databases and Vault HA >= 3.
	Production bool
	// AutoUnseal asks Vault to unseal with AWS KMS: the stack has AWS.
	AutoUnseal bool
}

// All returns every resource rule for a stack's settings.
func All(s Settings) []Rule {
	return []Rule{
		SEC01PodSecurityRestricted(s.PodSecurityVersion),
		SEC02NoPrivileged(),
		SEC03NoPrivilegeEscalation(),
		SEC04NonRoot(),
		SEC05HighUID(),
		SEC06Capabilities(),
		SEC07Seccomp(),
		SEC08ReadOnlyRoot(),
		SEC09NoHostNamespaces(),
		SEC10SafeVolumes(),
		SEC11NoHostPort(),
		SEC12ProcMountSysctls(),
		SEC13NoTokenAutomount(),
		SEC14NamedServiceAccount(),
		SEC15Namespace(),
		SEC16NamespacePodSecurity(s.PodSecurityVersion),
		SEC17ImageTag(),
		SEC17ImageDigest(s.RequireImageDigests),
		SEC18ImageRegistry(s.ImageRegistries),
		SEC19NoLiteralSecrets(),
		SEC20Resources(),
		SEC21EphemeralStorage(),
		REL01Replicas(),
		REL03Spread(s.SpreadServices),
		REL04Probes(),
		REL04StartupProbe(),
		REL05GracefulTermination(),
		REL06HPA(),
		NET02ServiceTypes(s.LoadBalancerServices),
		NET03TLS(),
		RBAC01NoWildcards(),
		RBAC02NoEscalation(),
		K8S01APIVersions(),
		K8S02VisibleCharts(),
		AWS01PrivateEndpoint(),
		AWS02SecretsEncryption(),
		AWS03ControlPlaneLogs(),
		AWS04AccessEntries(),
		AWS05Nodes(),
		AWS06IRSA(),
		AWS07ECR(),
		AWS09Databases(s.Production),
		AWS10KeysAndIngress(),
		VLT01Vault(s.Production, s.AutoUnseal),
	}
}

// AllStack returns every whole-stack rule.
func AllStack() []StackRule {
	return []StackRule{
		NET01NetworkPolicies(),
		REL02DisruptionBudgets(),
		REL01HPAOwnsReplicas(),
		SEC14AccountsExist(),
		AWS08Buckets(),
	}
}
