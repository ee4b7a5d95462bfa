package infra

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/gatekeeper"
	"github.com/intelliflow/platform/components/gatekeeper/gatekeepertest"
	"github.com/intelliflow/platform/internal/pulumitest"
)

// workloadKinds are the kinds Gatekeeper's constraints match.
var workloadKinds = []string{"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}

// TestWorkloadsPassGatekeeper evaluates every workload each stack renders
// with our Gatekeeper templates, as admission would: none is refused, so
// turning Gatekeeper on cannot break a rollout. Workloads in the exempt
// namespaces (kube-system, the node agents') are skipped, as Gatekeeper
// skips them.
func TestWorkloadsPassGatekeeper(t *testing.T) {
	for _, stack := range []string{"dev", "local", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, cfg := runStack(t, stack, false)
			checked := 0
			for _, r := range mocks.Resources() {
				kind := r.Type[strings.LastIndex(r.Type, ":")+1:]
				if !r.Custom || !strings.HasPrefix(r.Type, "kubernetes:") || !slices.Contains(workloadKinds, kind) {
					continue
				}
				if ns, _ := r.Get("metadata.namespace").(string); ns == "kube-system" || slices.Contains(gatekeeperExempt, ns) {
					continue
				}
				obj := map[string]any{"apiVersion": r.Get("apiVersion"), "kind": kind, "metadata": r.Get("metadata"), "spec": r.Get("spec")}
				for _, tmpl := range gatekeeper.Templates {
					if !tmpl.Matches(kind) {
						continue
					}
					msgs, err := gatekeepertest.Evaluate(tmpl, obj, tmpl.Parameters(cfg.ImageRegistries))
					require.NoError(t, err)
					require.Empty(t, msgs, "%s %s", tmpl.Kind, r.Name)
				}
				checked++
			}
			want := 7 // the seven services' Deployments
			if cfg.Vault != nil {
				want += 3 // and Vault's snapshot CronJob, the two store exporters
			}
			if cfg.Charts {
				want++ // and the log indices' lifecycle Job
			}
			require.Equal(t, want, checked)

			// Negative control: the same fraud Deployment with a public image
			// and a privileged container is refused by two templates.
			d, ok := mocks.Find("kubernetes:apps/v1:Deployment", "fraud-deployment")
			require.True(t, ok)
			spec := d.Get("spec").(map[string]any)
			c := spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
			c["image"] = "nginx:1.27"
			c["securityContext"].(map[string]any)["privileged"] = true
			obj := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": d.Get("metadata"), "spec": spec}
			refused := 0
			for _, tmpl := range gatekeeper.Templates {
				msgs, err := gatekeepertest.Evaluate(tmpl, obj, tmpl.Parameters(cfg.ImageRegistries))
				require.NoError(t, err)
				if len(msgs) > 0 {
					refused++
				}
			}
			require.Equal(t, 2, refused, "IntelliflowAllowedRegistries and IntelliflowNoPrivileged")
			t.Logf("%s: %d workloads through %d Gatekeeper templates: none refused", stack, checked, len(gatekeeper.Templates))
		})
	}
}

// TestVaultWiring: in staging and prod the services get every secret from
// Vault (no Kubernetes Secret holds one), through agent templates that read
// their own KV path or a dynamic database user; Vault runs HA with the KMS
// seal, and its configuration gives each service account exactly its role.
func TestVaultWiring(t *testing.T) {
	for _, stack := range []string{"staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, cfg := runStack(t, stack, false)
			require.NotNil(t, cfg.Vault)
			for _, sec := range mocks.OfType("kubernetes:core/v1:Secret") {
				require.NotEqual(t, cfg.Environment.AppNamespace(), sec.Get("metadata.namespace"), "no service credential in a Kubernetes Secret: %s", sec.Name)
			}

			chart := mustFind(t, mocks, "kubernetes:helm.sh/v4:Chart", "vault")
			require.Equal(t, float64(3), chart.Get("values.server.ha.replicas"))
			require.Contains(t, chart.Get("values.server.ha.raft.config"), "alias/"+cfg.ClusterName()+"-vault-unseal")

			users := mustFind(t, mocks, "kubernetes:apps/v1:Deployment", "users-deployment")
			ann := users.Get("spec.template.metadata.annotations").(map[string]any)
			require.Equal(t, "users", ann["vault.hashicorp.com/role"])
			require.Equal(t, "database/creds/readwrite", ann["vault.hashicorp.com/agent-inject-secret-database-password"])
			require.Contains(t, ann["vault.hashicorp.com/agent-inject-template-database-username"], ".Data.username")
			require.Contains(t, ann["vault.hashicorp.com/agent-inject-template-jwt-signing-key"], `"kv/data/intelliflow/`+stack+`/users"`)
			cm := mustFind(t, mocks, "kubernetes:core/v1:ConfigMap", "users-config").Get("data").(map[string]any)
			require.NotContains(t, cm, "DATABASE_USER", "the database user is dynamic")
			env, _ := json.Marshal(users.Get("spec.template.spec.containers.0.env"))
			require.Contains(t, string(env), `"DATABASE_PASSWORD_FILE"`)
			require.NotContains(t, string(env), "secretKeyRef")
			// Every agent can reach Vault through its namespace's default-deny.
			for _, svc := range catalog.All() {
				if len(svc.Secrets) == 0 {
					continue
				}
				np := mustFind(t, mocks, "kubernetes:networking.k8s.io/v1:NetworkPolicy", svc.Name+"-netpol")
				b, _ := json.Marshal(np.Get("spec.egress"))
				require.Contains(t, string(b), `{"ports":[{"port":8200,"protocol":"TCP"}],"to":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"intelliflow-security"}},"podSelector":{"matchLabels":{"app.kubernetes.io/name":"vault"}}}]}`, svc.Name)
			}

			roles := mocks.OfType("vault:kubernetes/authBackendRole:AuthBackendRole")
			require.Len(t, roles, len(catalog.Names())+4, "one per service, the snapshot job, Jenkins and the two store exporters")
			jr := mustFind(t, mocks, "vault:kubernetes/authBackendRole:AuthBackendRole", "vault-config-role-jenkins")
			require.Equal(t, []any{"intelliflow-ci"}, jr.Get("boundServiceAccountNamespaces"))
			// Fraud reads no database and decrypts nothing; users write.
			fraud := mustFind(t, mocks, "vault:index/policy:Policy", "vault-config-policy-fraud").Get("policy").(string)
			require.NotContains(t, fraud, "database/")
			require.NotContains(t, fraud, "transit/")
			usersPolicy := mustFind(t, mocks, "vault:index/policy:Policy", "vault-config-policy-users").Get("policy").(string)
			require.Contains(t, usersPolicy, `path "database/creds/readwrite"`)
			kv := mustFind(t, mocks, "vault:kv/secretV2:SecretV2", "vault-config-kv-gateway")
			require.True(t, kv.Inputs["dataJson"].IsSecret())
			conn := mustFind(t, mocks, "vault:database/secretBackendConnection:SecretBackendConnection", "vault-config-postgres")
			require.Contains(t, conn.Get("postgresql.connectionUrl"), ".rds.amazonaws.com:5432/intelliflow")
			require.Equal(t, "intelliflow_admin", conn.Get("postgresql.username"))
		})
	}
}

// TestCertificatesWaitForTheirIssuer: every certificate of staging and prod
// names a ClusterIssuer the stack creates, and waits for it.
func TestCertificatesWaitForTheirIssuer(t *testing.T) {
	for _, stack := range []string{"staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, cfg := runStack(t, stack, false)
			issuers := map[string]string{} // name -> URN suffix
			for _, r := range mocks.OfType("kubernetes:cert-manager.io/v1:ClusterIssuer") {
				issuers[r.Get("metadata.name").(string)] = "kubernetes:cert-manager.io/v1:ClusterIssuer::" + r.Name
			}
			require.Contains(t, issuers, cfg.Vault.TLSIssuer)
			require.Contains(t, issuers, cfg.Ingress.ClusterIssuer)
			waits := func(r pulumitest.Resource, urnSuffix string) bool {
				return slices.ContainsFunc(r.Dependencies, func(u string) bool { return strings.HasSuffix(u, urnSuffix) })
			}
			n := 0
			for _, c := range mocks.OfType("kubernetes:cert-manager.io/v1:Certificate") {
				name, _ := c.Get("spec.issuerRef.name").(string)
				if name == "intelliflow-selfsigned-root" {
					continue // the internal CA's own root
				}
				require.Contains(t, issuers, name, c.Name)
				require.True(t, waits(c, issuers[name]), "%s does not wait for issuer %s: %v", c.Name, name, c.Dependencies)
				n++
			}
			ing := one(t, mocks, "kubernetes:networking.k8s.io/v1:Ingress")
			require.Equal(t, cfg.Ingress.ClusterIssuer, ing.Get("metadata.annotations").(map[string]any)["cert-manager.io/cluster-issuer"])
			require.True(t, waits(ing, issuers[cfg.Ingress.ClusterIssuer]), "the Ingress's certificate is issued by %s", cfg.Ingress.ClusterIssuer)
			t.Logf("%s: %d certificates and the Ingress wait for their issuers", stack, n)
		})
	}
}
