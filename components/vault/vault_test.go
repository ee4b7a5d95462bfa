package vault

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/gatekeeper"
	"github.com/intelliflow/platform/components/gatekeeper/gatekeepertest"
	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

var services = []Access{
	{Service: "users", KV: KVPath("prod", "users"), Database: DBReadWrite, Encrypt: []string{"user-data"}, Decrypt: []string{"user-data"}, Certificates: true},
	{Service: "fraud", KV: KVPath("prod", "fraud"), Database: DBReadOnly, Decrypt: []string{"ml-models"}, Certificates: true},
}

// TestPolicyIsLeastPrivilege: a service's policy names its own KV path, its
// database role and its keys, and nothing else; no wildcards, no listing,
// no sudo.
func TestPolicyIsLeastPrivilege(t *testing.T) {
	p := Policy(services[1])
	require.Contains(t, p, `path "kv/data/intelliflow/prod/fraud" {`)
	require.Contains(t, p, `path "database/creds/readonly" {`)
	require.Contains(t, p, `path "transit/decrypt/ml-models" {`)
	require.Contains(t, p, `path "pki/issue/intelliflow-service" {`)
	for _, forbidden := range []string{"users", "readwrite", "transit/encrypt", "*", `"list"`, `"sudo"`, `"delete"`, "sys/"} {
		require.NotContains(t, p, forbidden)
	}
	require.Equal(t, 4, strings.Count(p, "path "))
	require.Contains(t, SnapshotPolicy(), `path "sys/storage/raft/snapshot"`)

	require.ErrorContains(t, Access{Service: "x", Database: "admin", Encrypt: []string{"payments"}}.Validate(), `Database "admin"`)
	require.ErrorContains(t, Access{Service: "x", Encrypt: []string{"payments"}}.Validate(), `transit key "payments"`)
}

func TestServerConfig(t *testing.T) {
	c := ServerConfig("intelliflow-security", "eu-west-1", "intelliflow-prod-vault-unseal", 3, false)
	require.Contains(t, c, `seal "awskms" {`)
	require.Contains(t, c, `kms_key_id = "alias/intelliflow-prod-vault-unseal"`)
	require.Contains(t, c, `tls_cert_file      = "/vault/userconfig/vault-tls/tls.crt"`)
	require.Contains(t, c, `tls_min_version    = "tls12"`)
	require.NotContains(t, c, "tls_disable")
	require.Equal(t, 3, strings.Count(c, "retry_join {"))
	require.Contains(t, c, `leader_api_addr         = "https://vault-2.vault-internal.intelliflow-security.svc:8200"`)
	require.Contains(t, c, "ui = false")
}

func serverArgs(replicas int) *Args {
	return &Args{
		Namespace: "intelliflow-security", NamespaceReady: pulumi.String("intelliflow-security"),
		ChartRepository: "https://charts.intelliflow.internal", ImageRegistry: "registry.intelliflow.internal",
		Replicas: replicas, Region: "eu-west-1", UnsealKeyAlias: "intelliflow-prod-vault-unseal",
		ServerRoleARN: pulumi.String("arn:aws:iam::111122223333:role/vault"), SnapshotRoleARN: pulumi.String("arn:aws:iam::111122223333:role/snap"),
		TLSIssuer: "intelliflow-internal-ca", BackupBucket: "intelliflow-prod-backups",
		Clients: []string{"intelliflow-prod"}, ControlPlaneCIDRs: []string{"10.30.0.0/16", "172.20.0.0/16"}, PriorityClass: "intelliflow-critical",
		VaultImage: "registry.intelliflow.internal/intelliflow/vault:1.20.1", AWSCLIImage: "registry.intelliflow.internal/intelliflow/aws-cli:2.27.49",
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, serverArgs(3).Validate())
	a := serverArgs(2)
	a.UnsealKeyAlias, a.TLSIssuer = "", "Not An Issuer"
	err := a.Validate()
	require.ErrorContains(t, err, "Replicas 2: raft needs an odd number")
	require.ErrorContains(t, err, "UnsealKeyAlias")
	require.ErrorContains(t, err, "TLSIssuer")
}

func TestNewServer(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := NewServer(ctx, "vault", serverArgs(3))
		return err
	})
	require.NoError(t, err)
	chart, ok := mocks.Find("kubernetes:helm.sh/v4:Chart", "vault")
	require.True(t, ok)
	v := func(p string) any { return chart.Get("values." + p) }
	require.Equal(t, ChartVersion, chart.Get("version"))
	require.Equal(t, false, v("global.tlsDisable"), "TLS on")
	require.Equal(t, false, v("server.dev.enabled"), "never dev mode")
	require.Equal(t, true, v("server.ha.enabled"))
	require.Equal(t, true, v("server.ha.raft.enabled"))
	require.Equal(t, float64(3), v("server.ha.replicas"))
	require.Contains(t, v("server.ha.raft.config"), `seal "awskms"`)
	require.Equal(t, true, v("server.auditStorage.enabled"), "audit device storage")
	require.Equal(t, true, v("injector.enabled"))
	require.Equal(t, false, v("ui.enabled"), "no UI unless a host is configured")
	require.Equal(t, "topology.kubernetes.io/zone", v("server.topologySpreadConstraints.0.topologyKey"))
	require.Equal(t, "arn:aws:iam::111122223333:role/vault", v("server.serviceAccount.annotations").(map[string]any)["eks.amazonaws.com/role-arn"])
	require.Equal(t, "registry.intelliflow.internal/hashicorp/vault", v("server.image.repository"))

	cert, ok := mocks.Find("kubernetes:cert-manager.io/v1:Certificate", "vault-tls")
	require.True(t, ok)
	require.Contains(t, cert.Get("spec.dnsNames"), "*.vault-internal.intelliflow-security.svc")
	require.Equal(t, "intelliflow-internal-ca", cert.Get("spec.issuerRef.name"))

	job, ok := mocks.Find("kubernetes:batch/v1:CronJob", "vault-snapshot")
	require.True(t, ok)
	spec := job.Get("spec.jobTemplate.spec.template.spec").(map[string]any)
	require.Contains(t, spec["initContainers"].([]any)[0].(map[string]any)["command"].([]any)[2], "vault operator raft snapshot save")
	require.Contains(t, spec["containers"].([]any)[0].(map[string]any)["command"].([]any)[2], "s3://intelliflow-prod-backups/vault/")
	require.Len(t, mocks.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy"), 3)

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"}, Production: true})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), "%s %s", a.Type, a.Name)
	}
	// The snapshot job is admitted by our Gatekeeper templates too.
	obj := map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": job.Get("metadata"), "spec": job.Get("spec")}
	for _, tmpl := range gatekeeper.Templates {
		if !tmpl.Matches("CronJob") {
			continue
		}
		msgs, err := gatekeepertest.Evaluate(tmpl, obj, tmpl.Parameters([]string{"registry.intelliflow.internal"}))
		require.NoError(t, err)
		require.Empty(t, msgs, tmpl.Kind)
	}

	// VLT-01 bites: one replica in prod, dev mode, no seal.
	bad := serverArgs(1)
	mocks, err = pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := NewServer(ctx, "vault", bad)
		return err
	})
	require.NoError(t, err)
	for _, a := range mocks.Analyzed() {
		if a.Type == "kubernetes:helm.sh/v4:Chart" {
			require.NotEmpty(t, rules.Check(all, a)["VLT-01-vault"], "one raft replica in prod")
		}
	}
}

func TestNewConfig(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := NewConfig(ctx, "vault", &ConfigArgs{
			Address: Address("intelliflow-security"), TokenFile: ".vault-token", Environment: "prod",
			AppNamespace: "intelliflow-prod", SecurityNamespace: "intelliflow-security", Services: services,
			Secrets:  map[string]map[string]pulumi.StringInput{"users": {"jwt-signing-key": pulumi.ToSecret(pulumi.String("s3cret")).(pulumi.StringOutput)}},
			Database: &Database{HostInput: pulumi.String("db.example.internal"), Name: "intelliflow", Username: pulumi.String("intelliflow_admin"), Password: pulumi.ToSecret(pulumi.String("pw")).(pulumi.StringOutput)},
		})
		return err
	})
	require.NoError(t, err)
	roles := mocks.OfType("vault:kubernetes/authBackendRole:AuthBackendRole")
	require.Len(t, roles, len(services)+1, "one per service and the snapshot job")
	r, _ := mocks.Find("vault:kubernetes/authBackendRole:AuthBackendRole", "vault-role-fraud")
	require.Equal(t, []any{"fraud"}, r.Get("boundServiceAccountNames"))
	require.Equal(t, []any{"intelliflow-prod"}, r.Get("boundServiceAccountNamespaces"))
	require.Equal(t, []any{"fraud"}, r.Get("tokenPolicies"))
	require.Equal(t, true, r.Get("tokenNoDefaultPolicy"))
	pol, _ := mocks.Find("vault:index/policy:Policy", "vault-policy-fraud")
	require.Equal(t, Policy(services[1]), pol.Get("policy"))

	var keys []string
	for _, k := range mocks.OfType("vault:transit/secretBackendKey:SecretBackendKey") {
		keys = append(keys, k.Get("name").(string))
		require.Equal(t, false, k.Get("exportable"))
		require.Equal(t, float64(keyRotation), k.Get("autoRotatePeriod"))
	}
	require.ElementsMatch(t, TransitKeys, keys)
	for _, role := range []string{DBReadOnly, DBReadWrite} {
		db, ok := mocks.Find("vault:database/secretBackendRole:SecretBackendRole", "vault-db-"+role)
		require.True(t, ok)
		require.Equal(t, float64(3600), db.Get("defaultTtl"), "short-lived users")
		require.Equal(t, float64(4*3600), db.Get("maxTtl"))
	}
	conn, _ := mocks.Find("vault:database/secretBackendConnection:SecretBackendConnection", "vault-postgres")
	require.Contains(t, conn.Get("postgresql.connectionUrl"), "sslmode=verify-full")
	require.True(t, conn.Inputs["postgresql"].ObjectValue()["password"].IsSecret(), "the admin password is a secret in state")
	kvs, _ := mocks.Find("vault:kv/secretV2:SecretV2", "vault-kv-users")
	require.True(t, kvs.Inputs["dataJson"].IsSecret())
	require.Equal(t, "intelliflow/prod/users", kvs.Get("name"))
	pki, _ := mocks.Find("vault:pkiSecret/secretBackendRole:SecretBackendRole", "vault-service-certs")
	require.Equal(t, []any{"intelliflow-prod.svc", "intelliflow-prod.svc.cluster.local"}, pki.Get("allowedDomains"))
	audit, _ := mocks.Find("vault:index/audit:Audit", "vault-audit")
	require.Equal(t, "file", audit.Get("type"))

	// Bad access is refused before anything exists.
	mocks, err = pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := NewConfig(ctx, "vault", &ConfigArgs{Address: "vault:8200", Environment: "prod", AppNamespace: "a", SecurityNamespace: "s",
			Services: []Access{{Service: "fraud", Database: DBReadOnly}}})
		return err
	})
	require.ErrorContains(t, err, "Address")
	require.ErrorContains(t, err, `service "fraud" uses database credentials but no Database is configured`)
	require.Empty(t, mocks.Resources())
}
