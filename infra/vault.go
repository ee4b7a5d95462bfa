package infra

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/jenkins"
	"github.com/intelliflow/platform/components/microservice"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/components/priority"
	"github.com/intelliflow/platform/components/vault"
	"github.com/intelliflow/platform/stacks"
)

// databasePasswordKey is the credential Vault replaces with dynamic users.
const databasePasswordKey = "database-password"

// databaseRoles: who writes and who only reads PostgreSQL.
var databaseRoles = map[string]string{
	catalog.Users: vault.DBReadWrite, catalog.Transactions: vault.DBReadWrite,
}

// transitUse is which transit keys a service encrypts and decrypts with:
// users protect personal data, transactions payment data, the orchestrator
// model artifacts. Fraud verifies a model by its SHA-256 (model-fetch) and
// decrypts nothing, so it has no transit key.
var transitUse = map[string]struct{ encrypt, decrypt []string }{
	catalog.Users:        {[]string{"user-data"}, []string{"user-data"}},
	catalog.Transactions: {[]string{"intelliflow"}, []string{"intelliflow"}},
	catalog.Orchestrator: {[]string{"ml-models"}, []string{"ml-models"}},
}

// vaultAccess is what each service may do in Vault.
func vaultAccess(cfg stacks.Config) []vault.Access {
	var out []vault.Access
	for _, svc := range catalog.All() {
		a := vault.Access{Service: svc.Name, Database: databaseRoles[svc.Name], Certificates: true}
		if slices.ContainsFunc(svc.Secrets, func(s catalog.Secret) bool { return s.Key != databasePasswordKey }) {
			a.KV = vault.KVPath(string(cfg.Environment), svc.Name)
		}
		if t, ok := transitUse[svc.Name]; ok {
			a.Encrypt, a.Decrypt = t.encrypt, t.decrypt
		}
		out = append(out, a)
	}
	return out
}

// vaultSecrets are each service's static secrets for the KV engine, from the
// stack's credentials (Pulumi secrets).
func vaultSecrets(creds credentials) map[string]map[string]pulumi.StringInput {
	out := map[string]map[string]pulumi.StringInput{}
	for _, svc := range catalog.All() {
		for _, s := range svc.Secrets {
			if s.Key == databasePasswordKey {
				continue
			}
			if out[svc.Name] == nil {
				out[svc.Name] = map[string]pulumi.StringInput{}
			}
			out[svc.Name][s.Key] = creds.get(s.Key)
		}
	}
	return out
}

// vaultSecretEnv is how a service gets one secret from Vault: the file the
// agent renders, with exactly the value.
func vaultSecretEnv(cfg stacks.Config, svc catalog.Service, s catalog.Secret) []microservice.SecretEnv {
	if s.Key == databasePasswordKey {
		path := vault.DatabaseMount + "/creds/" + databaseRoles[svc.Name]
		// One lease: the agent shares it between the two templates.
		field := func(f string) string {
			return fmt.Sprintf(`{{- with secret %q -}}{{ .Data.%s }}{{- end -}}`, path, f)
		}
		return []microservice.SecretEnv{
			{Env: "DATABASE_USER", Key: "database-username", VaultPath: path, VaultTemplate: field("username")},
			{Env: s.Env, Key: s.Key, VaultPath: path, VaultTemplate: field("password")},
		}
	}
	path := vault.KVMount + "/data/" + vault.KVPath(string(cfg.Environment), svc.Name)
	return []microservice.SecretEnv{{Env: s.Env, Key: s.Key, VaultPath: path,
		VaultTemplate: fmt.Sprintf(`{{- with secret %q -}}{{ index .Data.data %q }}{{- end -}}`, path, s.Key)}}
}

// deployVault installs Vault and, once it is initialised, configures it.
func deployVault(ctx *pulumi.Context, cfg stacks.Config, creds credentials, f *Foundation, namespaces map[string]*namespace.Namespace, issuer []pulumi.Resource, opts ...pulumi.ResourceOption) error {
	v := cfg.Vault
	args := &vault.Args{
		Namespace: stacks.SecurityNamespace, NamespaceReady: namespaces[stacks.SecurityNamespace].Name,
		ChartRepository: cfg.ChartRepository, ImageRegistry: cfg.ImageRegistries[0],
		Replicas:  3,
		TLSIssuer: v.TLSIssuer, IssuerReady: issuer, UIHost: v.UIHost,
		Clients:             []string{cfg.Environment.AppNamespace(), stacks.MonitoringNamespace},
		MonitoringNamespace: stacks.MonitoringNamespace,
		ControlPlaneCIDRs:   clusterNetworks(cfg),
		PriorityClass:       priority.Critical.Name,
		VaultImage:          cfg.Image(stacks.VaultImage), AWSCLIImage: cfg.Image(stacks.AWSCLIImage),
	}
	if f != nil {
		// KMS unseals it and snapshots go to the backup bucket; without
		// AWS it seals with key shares and keeps no backups.
		args.Region, args.UnsealKeyAlias, args.ServerRoleARN = cfg.AWS.Region, f.VaultUnsealAlias, f.VaultRole
		args.BackupBucket, args.SnapshotRoleARN = cfg.AWS.BackupBucket, f.VaultSnapshotRole
	}
	server, err := vault.NewServer(ctx, "vault", args, opts...)
	if err != nil {
		return err
	}
	if !v.Configure {
		return nil
	}
	// The admin credentials RDS keeps in Secrets Manager, read at deploy
	// time and kept as secrets; Vault creates the short-lived users with them.
	master := secretsmanager.LookupSecretVersionOutput(ctx, secretsmanager.LookupSecretVersionOutputArgs{SecretId: f.DatabaseSecretARN}, pulumi.Provider(f.AWSProvider))
	admin := master.SecretString().ApplyT(func(s string) (map[string]string, error) {
		var c struct{ Username, Password string }
		if err := json.Unmarshal([]byte(s), &c); err != nil || c.Username == "" || c.Password == "" {
			return nil, fmt.Errorf("the RDS master secret is not {username, password}")
		}
		return map[string]string{"username": c.Username, "password": c.Password}, nil
	}).(pulumi.StringMapOutput)
	secrets := vaultSecrets(creds)
	if exportersOn(cfg, f) {
		secrets[redisExporter] = exporterSecrets(creds, f)
	}
	_, err = vault.NewConfig(ctx, "vault-config", &vault.ConfigArgs{
		Address: v.Address, TokenFile: v.TokenFile, CACertFile: v.CACertFile, Environment: string(cfg.Environment),
		AppNamespace: cfg.Environment.AppNamespace(), SecurityNamespace: stacks.SecurityNamespace,
		Services: vaultAccess(cfg), Secrets: secrets,
		// Jenkins reads its credentials (casc.yaml) with its own identity.
		// and the store exporters theirs.
		Platform: append([]vault.PlatformAccess{{Name: "jenkins", Namespace: stacks.CINamespace, ServiceAccount: jenkins.ControllerAccount, KVFolder: "intelliflow/ci"}},
			exporterAccess(cfg)...),
		Database: &vault.Database{
			HostInput: f.DatabaseHost, Name: "intelliflow",
			Username: admin.MapIndex(pulumi.String("username")),
			Password: pulumi.ToSecret(admin.MapIndex(pulumi.String("password"))).(pulumi.StringOutput),
		},
	}, pulumi.DependsOn([]pulumi.Resource{server}))
	return err
}
