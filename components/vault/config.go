package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	vaultsdk "github.com/pulumi/pulumi-vault/sdk/v6/go/vault"
	"github.com/pulumi/pulumi-vault/sdk/v6/go/vault/database"
	"github.com/pulumi/pulumi-vault/sdk/v6/go/vault/kubernetes"
	"github.com/pulumi/pulumi-vault/sdk/v6/go/vault/kv"
	"github.com/pulumi/pulumi-vault/sdk/v6/go/vault/pkisecret"
	"github.com/pulumi/pulumi-vault/sdk/v6/go/vault/transit"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Lifetimes of what Vault hands out: database users live an hour (renewable
// to four), service tokens an hour, service certificates three days.
const (
	dbTTL, dbMaxTTL       = 3600, 4 * 3600
	tokenTTL, tokenMaxTTL = 3600, 4 * 3600
	certMaxTTL            = "72h"
	caTTL                 = "87600h"
	keyRotation           = 30 * 24 * 3600
)

// ConfigArgs configures what lives inside Vault.
type ConfigArgs struct {
	// Address is Vault's address; TokenFile is where the operator's or the
	// pipeline's `vault login` left its token (never in config or state).
	Address, TokenFile, CACertFile string
	// Environment names the KV paths and the CA.
	Environment string
	// AppNamespace holds the services' ServiceAccounts; SecurityNamespace
	// the snapshot job's.
	AppNamespace, SecurityNamespace string
	// Services are the per-service grants.
	Services []Access
	// Platform are the platform components' grants (Jenkins).
	Platform []PlatformAccess
	// Secrets are each service's static secrets for the KV engine (Pulumi
	// secrets, written encrypted into state).
	Secrets map[string]map[string]pulumi.StringInput
	// Database is the PostgreSQL the dynamic credentials are for.
	Database *Database
}

// Database is the PostgreSQL connection of the database engine.
type Database struct {
	// HostInput is the RDS endpoint.
	HostInput pulumi.StringInput
	Name      string
	// Username and Password are the admin credentials Vault creates users
	// with (from the RDS master secret); Password is a secret.
	Username pulumi.StringInput
	Password pulumi.StringInput
}

// Validate reports every problem, naming the field.
func (a *ConfigArgs) Validate() error {
	var errs []error
	if ValidAddress(a.Address) != nil || a.TokenFile == "" {
		errs = append(errs, fmt.Errorf("Address %q and TokenFile %q are required", a.Address, a.TokenFile))
	}
	if a.Environment == "" || a.AppNamespace == "" || a.SecurityNamespace == "" {
		errs = append(errs, errors.New("Environment, AppNamespace and SecurityNamespace are required"))
	}
	seen := map[string]bool{}
	for _, s := range a.Services {
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[s.Service] {
			errs = append(errs, fmt.Errorf("service %q is listed twice", s.Service))
		}
		seen[s.Service] = true
		if s.Database != "" && a.Database == nil {
			errs = append(errs, fmt.Errorf("service %q uses database credentials but no Database is configured", s.Service))
		}
	}
	for _, p := range a.Platform {
		if err := p.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("%q is listed twice", p.Name))
		}
		seen[p.Name] = true
		if p.Database != "" && a.Database == nil {
			errs = append(errs, fmt.Errorf("%q uses database credentials but no Database is configured", p.Name))
		}
	}
	for svc := range a.Secrets {
		if !seen[svc] {
			errs = append(errs, fmt.Errorf("secrets for %q, which has no Vault access", svc))
		}
	}
	if d := a.Database; d != nil && (d.HostInput == nil || d.Username == nil || d.Password == nil || d.Name == "") {
		errs = append(errs, errors.New("Database: HostInput, Name, Username and Password are required"))
	}
	return errors.Join(errs...)
}

// Config is Vault's configuration.
type Config struct {
	pulumi.ResourceState
}

// NewConfig configures Vault through its own provider.
func NewConfig(ctx *pulumi.Context, name string, args *ConfigArgs, opts ...pulumi.ResourceOption) (*Config, error) {
	if args == nil {
		return nil, fmt.Errorf("vault config %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("vault config %q: %w", name, err)
	}
	c := &Config{}
	if err := ctx.RegisterComponentResource("intelliflow:vault:Config", name, c, opts...); err != nil {
		return nil, fmt.Errorf("vault config %q: %w", name, err)
	}
	wrap := func(child string, err error) error { return fmt.Errorf("vault config %q: %s: %w", name, child, err) }
	prov, err := vaultsdk.NewProvider(ctx, name, &vaultsdk.ProviderArgs{
		Address: pulumi.String(args.Address),
		// Empty: the provider logs in with the token file below.
		Token:              pulumi.String(""),
		AuthLoginTokenFile: &vaultsdk.ProviderAuthLoginTokenFileArgs{Filename: pulumi.String(args.TokenFile)},
		CaCertFile:         pulumi.StringPtr(args.CACertFile),
		SkipChildToken:     pulumi.Bool(false),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, wrap("provider", err)
	}
	in := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.Provider(prov)}
	after := func(r ...pulumi.Resource) []pulumi.ResourceOption { return append(in, pulumi.DependsOn(r)) }

	// Audit: every request, to the audit volume the chart mounts.
	if _, err := vaultsdk.NewAudit(ctx, name+"-audit", &vaultsdk.AuditArgs{
		Type: pulumi.String("file"), Path: pulumi.String("file"),
		Options: pulumi.StringMap{"file_path": pulumi.String("/vault/audit/audit.log"), "log_raw": pulumi.String("false")},
	}, in...); err != nil {
		return nil, wrap("audit", err)
	}

	// Kubernetes auth: Vault reviews the pods' projected tokens itself.
	auth, err := vaultsdk.NewAuthBackend(ctx, name+"-kubernetes", &vaultsdk.AuthBackendArgs{
		Type: pulumi.String("kubernetes"), Path: pulumi.String(KubernetesAuth),
	}, in...)
	if err != nil {
		return nil, wrap("kubernetes auth", err)
	}
	if _, err := kubernetes.NewAuthBackendConfig(ctx, name+"-kubernetes", &kubernetes.AuthBackendConfigArgs{
		Backend: auth.Path, KubernetesHost: pulumi.String("https://kubernetes.default.svc:443"),
	}, after(auth)...); err != nil {
		return nil, wrap("kubernetes auth config", err)
	}

	// Engines.
	kvMount, err := vaultsdk.NewMount(ctx, name+"-kv", &vaultsdk.MountArgs{
		Path: pulumi.String(KVMount), Type: pulumi.String("kv"), Options: pulumi.Map{"version": pulumi.String("2")},
		Description: pulumi.String("static third-party secrets (SMTP, MLflow, Slack, PagerDuty)"),
	}, in...)
	if err != nil {
		return nil, wrap("kv", err)
	}
	transitMount, err := vaultsdk.NewMount(ctx, name+"-transit", &vaultsdk.MountArgs{
		Path: pulumi.String(TransitMount), Type: pulumi.String("transit"), Description: pulumi.String("encryption as a service"),
	}, in...)
	if err != nil {
		return nil, wrap("transit", err)
	}
	for _, k := range TransitKeys {
		if _, err := transit.NewSecretBackendKey(ctx, name+"-transit-"+k, &transit.SecretBackendKeyArgs{
			Backend: transitMount.Path, Name: pulumi.String(k), Type: pulumi.String("aes256-gcm96"),
			DeletionAllowed: pulumi.Bool(false), Exportable: pulumi.Bool(false), AllowPlaintextBackup: pulumi.Bool(false),
			AutoRotatePeriod: pulumi.Int(keyRotation),
		}, after(transitMount)...); err != nil {
			return nil, wrap("transit key "+k, err)
		}
	}
	pkiMount, err := vaultsdk.NewMount(ctx, name+"-pki", &vaultsdk.MountArgs{
		Path: pulumi.String(PKIMount), Type: pulumi.String("pki"), MaxLeaseTtlSeconds: pulumi.Int(10 * 365 * 24 * 3600),
		Description: pulumi.String("internal CA for service certificates"),
	}, in...)
	if err != nil {
		return nil, wrap("pki", err)
	}
	if _, err := pkisecret.NewSecretBackendRootCert(ctx, name+"-ca", &pkisecret.SecretBackendRootCertArgs{
		Backend: pkiMount.Path, Type: pulumi.String("internal"), CommonName: pulumi.Sprintf("IntelliFlow %s Internal CA", args.Environment),
		Ttl: pulumi.String(caTTL), KeyType: pulumi.String("ec"), KeyBits: pulumi.Int(384), Organization: pulumi.String("IntelliFlow"),
		IssuerName: pulumi.String("intelliflow-" + args.Environment),
	}, after(pkiMount)...); err != nil {
		return nil, wrap("ca", err)
	}
	if _, err := pkisecret.NewSecretBackendRole(ctx, name+"-service-certs", &pkisecret.SecretBackendRoleArgs{
		Backend: pkiMount.Path, Name: pulumi.String(ServiceCertRole),
		AllowedDomains:  pulumi.ToStringArray([]string{args.AppNamespace + ".svc", args.AppNamespace + ".svc.cluster.local"}),
		AllowSubdomains: pulumi.Bool(true), AllowBareDomains: pulumi.Bool(false), AllowLocalhost: pulumi.Bool(false),
		AllowIpSans: pulumi.Bool(false), EnforceHostnames: pulumi.Bool(true),
		ServerFlag: pulumi.Bool(true), ClientFlag: pulumi.Bool(true),
		KeyType: pulumi.String("ec"), KeyBits: pulumi.Int(256), MaxTtl: pulumi.String(certMaxTTL), Ttl: pulumi.String("24h"),
	}, after(pkiMount)...); err != nil {
		return nil, wrap("service certificate role", err)
	}
	if d := args.Database; d != nil {
		dbMount, err := vaultsdk.NewMount(ctx, name+"-database", &vaultsdk.MountArgs{
			Path: pulumi.String(DatabaseMount), Type: pulumi.String("database"), Description: pulumi.String("dynamic PostgreSQL users"),
		}, in...)
		if err != nil {
			return nil, wrap("database", err)
		}
		conn, err := database.NewSecretBackendConnection(ctx, name+"-postgres", &database.SecretBackendConnectionArgs{
			Backend: dbMount.Path, Name: pulumi.String("postgres"),
			AllowedRoles: pulumi.ToStringArray([]string{DBReadOnly, DBReadWrite, DBMonitor}),
			Postgresql: &database.SecretBackendConnectionPostgresqlArgs{
				ConnectionUrl:      pulumi.Sprintf("postgresql://{{username}}:{{password}}@%s:5432/%s?sslmode=verify-full", d.HostInput, d.Name),
				Username:           d.Username,
				Password:           pulumi.ToSecret(d.Password).(pulumi.StringOutput),
				MaxOpenConnections: pulumi.Int(10),
			},
			VerifyConnection: pulumi.Bool(true),
		}, after(dbMount)...)
		if err != nil {
			return nil, wrap("postgres connection", err)
		}
		for _, role := range []string{DBReadOnly, DBReadWrite, DBMonitor} {
			create := CreationStatements(role, d.Name)
			if role == DBMonitor {
				create = MonitorStatements()
			}
			if _, err := database.NewSecretBackendRole(ctx, name+"-db-"+role, &database.SecretBackendRoleArgs{
				Backend: dbMount.Path, Name: pulumi.String(role), DbName: conn.Name,
				CreationStatements:   pulumi.ToStringArray(create),
				RevocationStatements: pulumi.ToStringArray(RevocationStatements()),
				DefaultTtl:           pulumi.Int(dbTTL), MaxTtl: pulumi.Int(dbMaxTTL),
			}, after(conn)...); err != nil {
				return nil, wrap("database role "+role, err)
			}
		}
	}

	// One policy and one Kubernetes auth role per service.
	for _, s := range args.Services {
		pol, err := vaultsdk.NewPolicy(ctx, name+"-policy-"+s.Service, &vaultsdk.PolicyArgs{
			Name: pulumi.String(s.Service), Policy: pulumi.String(Policy(s)),
		}, in...)
		if err != nil {
			return nil, wrap("policy "+s.Service, err)
		}
		if _, err := kubernetes.NewAuthBackendRole(ctx, name+"-role-"+s.Service, &kubernetes.AuthBackendRoleArgs{
			Backend: auth.Path, RoleName: pulumi.String(s.Service),
			BoundServiceAccountNames:      pulumi.ToStringArray([]string{s.Service}),
			BoundServiceAccountNamespaces: pulumi.ToStringArray([]string{args.AppNamespace}),
			Audience:                      pulumi.String("vault"),
			TokenPolicies:                 pulumi.ToStringArray([]string{s.Service}),
			TokenTtl:                      pulumi.Int(tokenTTL), TokenMaxTtl: pulumi.Int(tokenMaxTTL),
			TokenNoDefaultPolicy: pulumi.Bool(true),
		}, after(pol)...); err != nil {
			return nil, wrap("role "+s.Service, err)
		}
	}
	for _, p := range args.Platform {
		pol, err := vaultsdk.NewPolicy(ctx, name+"-policy-"+p.Name, &vaultsdk.PolicyArgs{
			Name: pulumi.String(p.Name), Policy: pulumi.String(PlatformPolicy(p)),
		}, in...)
		if err != nil {
			return nil, wrap("policy "+p.Name, err)
		}
		role := &kubernetes.AuthBackendRoleArgs{
			Backend: auth.Path, RoleName: pulumi.String(p.Name),
			BoundServiceAccountNames:      pulumi.ToStringArray([]string{p.ServiceAccount}),
			BoundServiceAccountNamespaces: pulumi.ToStringArray([]string{p.Namespace}),
			TokenPolicies:                 pulumi.ToStringArray([]string{p.Name}),
			TokenTtl:                      pulumi.Int(tokenTTL), TokenMaxTtl: pulumi.Int(tokenMaxTTL), TokenNoDefaultPolicy: pulumi.Bool(true),
		}
		if p.Audience != "" {
			role.Audience = pulumi.String(p.Audience)
		}
		if _, err := kubernetes.NewAuthBackendRole(ctx, name+"-role-"+p.Name, role, after(pol)...); err != nil {
			return nil, wrap("role "+p.Name, err)
		}
	}
	// The snapshot job's own policy and role.
	snapPol, err := vaultsdk.NewPolicy(ctx, name+"-policy-"+SnapshotRole, &vaultsdk.PolicyArgs{
		Name: pulumi.String(SnapshotRole), Policy: pulumi.String(SnapshotPolicy()),
	}, in...)
	if err != nil {
		return nil, wrap("snapshot policy", err)
	}
	if _, err := kubernetes.NewAuthBackendRole(ctx, name+"-role-"+SnapshotRole, &kubernetes.AuthBackendRoleArgs{
		Backend: auth.Path, RoleName: pulumi.String(SnapshotRole),
		BoundServiceAccountNames:      pulumi.ToStringArray([]string{SnapshotAccount}),
		BoundServiceAccountNamespaces: pulumi.ToStringArray([]string{args.SecurityNamespace}),
		Audience:                      pulumi.String("vault"),
		TokenPolicies:                 pulumi.ToStringArray([]string{SnapshotRole}),
		TokenTtl:                      pulumi.Int(900), TokenNoDefaultPolicy: pulumi.Bool(true),
	}, after(snapPol)...); err != nil {
		return nil, wrap("snapshot role", err)
	}

	// Static secrets, one KV entry per service, encrypted in state.
	services := make([]string, 0, len(args.Secrets))
	for svc := range args.Secrets {
		services = append(services, svc)
	}
	sort.Strings(services)
	for _, svc := range services {
		data := pulumi.StringMap{}
		for k, v := range args.Secrets[svc] {
			data[k] = v
		}
		doc := data.ToStringMapOutput().ApplyT(func(m map[string]string) (string, error) {
			b, err := json.Marshal(m)
			return string(b), err
		}).(pulumi.StringOutput)
		if _, err := kv.NewSecretV2(ctx, name+"-kv-"+svc, &kv.SecretV2Args{
			Mount: kvMount.Path, Name: pulumi.String(KVPath(args.Environment, svc)),
			DataJson: pulumi.ToSecret(doc).(pulumi.StringOutput),
		}, after(kvMount)...); err != nil {
			return nil, wrap("kv "+svc, err)
		}
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return c, nil
}
