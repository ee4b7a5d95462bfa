package stacks

import (
	"fmt"
	"regexp"

	"github.com/intelliflow/platform/components/vault"
)

// Vault is how the stack runs and reaches Vault. It exists where the stack
// installs charts. Without an AWS foundation it seals with key shares (no
// KMS), keeps no backups and cannot be configured by the program (the
// dynamic database credentials need RDS's master secret).
type Vault struct {
	// Address is where `pulumi up` reaches Vault to configure it.
	Address string `json:"address"`
	// TokenFile holds the token of the operator's or pipeline's `vault
	// login` (relative to the project root); never in config or state.
	TokenFile string `json:"tokenFile"`
	// CACertFile verifies Vault's certificate (the internal CA).
	CACertFile string `json:"caCertFile"`
	// Configure applies Vault's configuration (auth, policies, engines).
	// The first `up` of a new stack sets it false: Vault must be
	// initialised (`vault operator init`) before it can be configured.
	Configure bool `json:"configure"`
	// TLSIssuer is the cert-manager ClusterIssuer of the internal CA.
	TLSIssuer string `json:"tlsIssuer"`
	// UIHost exposes the UI through the ingress when set.
	UIHost string `json:"uiHost"`
}

// DefaultVault is the Vault of a stack with charts; withAWS says whether
// the stack has the AWS foundation that configuring it needs.
func DefaultVault(withAWS bool) *Vault {
	return &Vault{
		Address: vault.Address(SecurityNamespace), TokenFile: ".vault-token", CACertFile: ".vault-ca.pem",
		Configure: withAWS, TLSIssuer: "intelliflow-internal-ca",
	}
}

var issuerRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (c Config) validateVault() []error {
	v := c.Vault
	if v == nil {
		return nil
	}
	var errs []error
	bad := func(k, format string, a ...any) {
		errs = append(errs, fmt.Errorf("config %s:vault.%s: %s", Namespace, k, fmt.Sprintf(format, a...)))
	}
	if v.Configure && c.AWS == nil {
		bad("configure", "this stack has no AWS foundation: Vault's database engine needs RDS's master secret; configure Vault by hand or leave it false")
	}
	if vault.ValidAddress(v.Address) != nil {
		bad("address", "%q is not an https:// address", v.Address)
	}
	if v.TokenFile == "" {
		bad("tokenFile", "name the file `vault login` leaves the token in (never the token itself)")
	}
	if !issuerRE.MatchString(v.TLSIssuer) {
		bad("tlsIssuer", "%q is not a ClusterIssuer name", v.TLSIssuer)
	}
	if v.UIHost != "" && !domainRE.MatchString(v.UIHost) {
		bad("uiHost", "%q is not a host name", v.UIHost)
	}
	return errs
}
