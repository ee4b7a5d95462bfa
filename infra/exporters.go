package infra

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/exporter"
	"github.com/intelliflow/platform/components/microservice"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/components/priority"
	"github.com/intelliflow/platform/components/vault"
	"github.com/intelliflow/platform/stacks"
)

// The store exporters' names: Deployment, ServiceAccount, Vault role.
const (
	postgresExporter = "postgres-exporter"
	redisExporter    = "redis-exporter"
	// redisPasswordFile is redis_exporter's password file: JSON, the
	// address it scrapes to the AUTH token.
	redisPasswordFile = "redis-password-file"
)

// exportersOn: the exporters run where Prometheus and Vault do and the
// foundation creates the stores (staging, prod).
func exportersOn(cfg stacks.Config, f *Foundation) bool {
	return cfg.Charts && cfg.Vault != nil && f != nil
}

// exporterAccess is what each exporter may read in Vault: a statistics-only
// database user, the Redis AUTH token (in a KV path of its own).
func exporterAccess(cfg stacks.Config) []vault.PlatformAccess {
	return []vault.PlatformAccess{
		{Name: postgresExporter, Namespace: stacks.MonitoringNamespace, ServiceAccount: postgresExporter, Database: vault.DBMonitor, Audience: microservice.VaultTokenAudience},
		{Name: redisExporter, Namespace: stacks.MonitoringNamespace, ServiceAccount: redisExporter, KV: vault.KVPath(string(cfg.Environment), redisExporter), Audience: microservice.VaultTokenAudience},
	}
}

// redisAddress is the address redis_exporter scrapes: TLS, as ElastiCache
// requires.
func redisAddress(f *Foundation) pulumi.StringOutput {
	return pulumi.Sprintf("rediss://%s", f.Config[catalog.Redis]["REDIS_ADDR"])
}

// exporterSecrets is the Redis exporter's password file, keyed by the
// address it scrapes, holding the stack's AUTH token (a Pulumi secret).
func exporterSecrets(creds credentials, f *Foundation) map[string]pulumi.StringInput {
	file := pulumi.All(redisAddress(f), creds.get(redisPasswordKey)).ApplyT(func(v []any) (string, error) {
		b, err := json.Marshal(map[string]string{v[0].(string): v[1].(string)})
		return string(b), err
	}).(pulumi.StringOutput)
	return map[string]pulumi.StringInput{redisPasswordFile: pulumi.ToSecret(file).(pulumi.StringOutput)}
}

// deployExporters runs the exporters the pg_* and redis_* alerts read.
func deployExporters(ctx *pulumi.Context, cfg stacks.Config, f *Foundation, namespaces map[string]*namespace.Namespace, opts ...pulumi.ResourceOption) error {
	if !exportersOn(cfg, f) {
		return nil
	}
	env := string(cfg.Environment)
	dir := microservice.VaultSecretsDir + "/"
	creds := vault.DatabaseMount + "/creds/" + vault.DBMonitor
	kvPath := vault.KVMount + "/data/" + vault.KVPath(env, redisExporter)
	common := func(a exporter.Args) *exporter.Args {
		a.Namespace, a.NamespaceName = namespaces[stacks.MonitoringNamespace].Name, stacks.MonitoringNamespace
		a.VaultNamespace, a.VaultPort, a.PrometheusNamespace = stacks.SecurityNamespace, vault.Port, stacks.MonitoringNamespace
		a.Replicas, a.PriorityClass = 2, priority.Critical.Name
		return &a
	}
	pg, rd := cfg.DataStores[catalog.Postgres], cfg.DataStores[catalog.Redis]
	if _, err := exporter.New(ctx, postgresExporter, common(exporter.Args{
		Name: postgresExporter, Image: cfg.Image(stacks.PostgresExporterImage), Port: 9187,
		Args: []string{"--web.listen-address=:9187"},
		Env: map[string]pulumi.StringInput{
			"DATA_SOURCE_URI":       pulumi.Sprintf("%s:%d/intelliflow?sslmode=verify-full", f.DatabaseHost, pg.Port),
			"DATA_SOURCE_USER_FILE": pulumi.String(dir + "pg-user"),
			"DATA_SOURCE_PASS_FILE": pulumi.String(dir + "pg-password"),
		},
		LivenessPath: "/", ReadinessPath: "/metrics",
		// One lease: the agent shares it between the two files.
		Files: []microservice.VaultFile{
			{Name: "pg-user", Path: creds, Template: fmt.Sprintf(`{{- with secret %q -}}{{ .Data.username }}{{- end -}}`, creds)},
			{Name: "pg-password", Path: creds, Template: fmt.Sprintf(`{{- with secret %q -}}{{ .Data.password }}{{- end -}}`, creds)},
		},
		Process:    "postgres_export", // the kernel keeps 15 characters of postgres_exporter
		StoreCIDRs: pg.CIDRs, StorePort: pg.Port,
	}), opts...); err != nil {
		return err
	}
	_, err := exporter.New(ctx, redisExporter, common(exporter.Args{
		Name: redisExporter, Image: cfg.Image(stacks.RedisExporterImage), Port: 9121,
		Args: []string{"--web.listen-address=:9121"},
		Env: map[string]pulumi.StringInput{
			"REDIS_ADDR":          redisAddress(f),
			"REDIS_PASSWORD_FILE": pulumi.String(dir + redisPasswordFile),
		},
		LivenessPath: "/", ReadinessPath: "/health",
		Files: []microservice.VaultFile{{Name: redisPasswordFile, Path: kvPath,
			Template: fmt.Sprintf(`{{- with secret %q -}}{{ index .Data.data %q }}{{- end -}}`, kvPath, redisPasswordFile)}},
		Process:    "redis_exporter",
		StoreCIDRs: rd.CIDRs, StorePort: rd.Port,
	}), opts...)
	return err
}
