package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/stacks"
)

// credentials are the stack's secrets by key, each a Pulumi secret: what
// the config sets and, on a stack that generates them, a random value for
// each of stacks.GeneratedCredentialKeys the config leaves out. Everything
// that reads a credential (ElastiCache's AUTH, the services' Secrets,
// Vault, the charts) reads it here, so a generated value is the same
// everywhere.
type credentials map[string]pulumi.StringOutput

// credentialLength is each generated credential's length: letters and
// digits only (ElastiCache refuses some symbols in an AUTH token, and none
// of these is typed by hand); the JWT key is an HMAC-SHA256 key.
var credentialLength = map[string]int{"jwt-signing-key": 64}

func newCredentials(ctx *pulumi.Context, cfg stacks.Config) (credentials, error) {
	out := credentials{}
	for k, v := range cfg.Credentials {
		out[k] = pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
	}
	if !cfg.GeneratesCredentials() {
		return out, nil
	}
	// The stacks disable default providers, so the generator is explicit.
	provider, err := random.NewProvider(ctx, "random", &random.ProviderArgs{})
	if err != nil {
		return nil, fmt.Errorf("random provider: %w", err)
	}
	for _, k := range stacks.GeneratedCredentialKeys {
		if _, set := out[k]; set {
			continue
		}
		length := credentialLength[k]
		if length == 0 {
			length = 32
		}
		p, err := random.NewRandomPassword(ctx, "credential-"+k, &random.RandomPasswordArgs{
			Length: pulumi.Int(length), Special: pulumi.Bool(false), MinNumeric: pulumi.Int(4), MinUpper: pulumi.Int(4), MinLower: pulumi.Int(4),
		}, pulumi.Provider(provider))
		if err != nil {
			return nil, fmt.Errorf("credential %s: %w", k, err)
		}
		out[k] = pulumi.ToSecret(p.Result).(pulumi.StringOutput)
	}
	return out, nil
}

// get is the credential key ("" as a secret when the stack has none: only
// keys the config validation did not require).
func (c credentials) get(key string) pulumi.StringOutput {
	if v, ok := c[key]; ok {
		return v
	}
	return pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
}
