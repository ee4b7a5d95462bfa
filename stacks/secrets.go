package stacks

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/intelliflow/platform/apps/catalog"
)

// ModelArtifact is a model file in object storage with its checksum.
type ModelArtifact struct {
	URI    string `json:"uri"`
	SHA256 string `json:"sha256"`
}

var (
	s3URIRE  = regexp.MustCompile(`^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\s]+$`)
	sha256RE = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

func (m ModelArtifact) validate() []error {
	var errs []error
	if !s3URIRE.MatchString(m.URI) {
		errs = append(errs, fmt.Errorf("config %s:fraudModel.uri: %q is not s3://<bucket>/<key>", Namespace, m.URI))
	}
	if !sha256RE.MatchString(m.SHA256) {
		errs = append(errs, fmt.Errorf("config %s:fraudModel.sha256: %q is not 64 lower-case hex digits; the fetcher refuses a model whose checksum differs", Namespace, m.SHA256))
	}
	return errs
}

// CredentialKeys lists every secret key the services need, sorted.
func CredentialKeys() []string {
	keys := map[string]bool{}
	for _, s := range catalog.All() {
		for _, sec := range s.Secrets {
			keys[sec.Key] = true
		}
	}
	return slices.Sorted(maps.Keys(keys))
}

// PlatformCredentialKeys are the platform's own secrets where charts are
// installed: Alertmanager's receivers, Grafana's and Jenkins' admins.
var PlatformCredentialKeys = []string{"grafana-admin-password", JenkinsAdminKey, "pagerduty-routing-key", "slack-webhook-url"}

// JenkinsAdminKey is Jenkins' break-glass admin password.
const JenkinsAdminKey = "jenkins-admin-password"

// GeneratedCredentialKeys are the credentials nobody needs to choose: a
// stack with AWS (staging, prod) generates each one it does not set
// (pulumi-random, kept in state as a Pulumi secret) and hands it to
// whatever reads it (ElastiCache's AUTH and the services, Vault, the
// charts). Dev stacks keep their committed dev-only values.
var GeneratedCredentialKeys = []string{"grafana-admin-password", JenkinsAdminKey, "jwt-signing-key", "redis-password"}

// GeneratesCredentials reports whether the stack generates the
// GeneratedCredentialKeys it does not set.
func (c Config) GeneratesCredentials() bool { return c.AWS != nil }

// RequiredCredentialKeys are the keys a stack must set: the services', and
// the platform's where it installs charts, less those it generates.
func (c Config) RequiredCredentialKeys() []string {
	keys := CredentialKeys()
	if c.Charts {
		keys = append(keys, PlatformCredentialKeys...)
	}
	if c.GeneratesCredentials() {
		keys = slices.DeleteFunc(keys, func(k string) bool { return slices.Contains(GeneratedCredentialKeys, k) })
	}
	return slices.Sorted(slices.Values(keys))
}

func (c Config) validateCredentials() []error {
	var missing, empty []string
	required := c.RequiredCredentialKeys()
	for _, k := range required {
		v, ok := c.Credentials[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case strings.TrimSpace(v) == "":
			empty = append(empty, k)
		}
	}
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("config %s:credentials: missing %s; set them all with `pulumi config set --secret %s:credentials '{\"%s\": \"...\"}'`",
			Namespace, strings.Join(missing, ", "), Namespace, strings.Join(required, `": "...", "`)))
	}
	if len(empty) > 0 {
		errs = append(errs, fmt.Errorf("config %s:credentials: empty values for %s", Namespace, strings.Join(empty, ", ")))
	}
	for k := range c.Credentials {
		if known := append(CredentialKeys(), PlatformCredentialKeys...); !slices.Contains(known, k) {
			errs = append(errs, fmt.Errorf("config %s:credentials: %q is not a key any service or the platform reads; known keys: %s", Namespace, k, strings.Join(known, ", ")))
		}
	}
	return errs
}

// ParseShape parses a stack's file for what follows from its shape alone
// (the provider plugins it needs, its networks, its Falco rules), without
// its secrets: nothing is decrypted, and the credentials read as every key
// set to a placeholder. Never deploy from it.
func ParseShape(stack string, f File) (Config, error) {
	creds := map[string]string{}
	for _, k := range append(CredentialKeys(), PlatformCredentialKeys...) {
		creds[k] = "shapeonlyplaceholdercredential00"
	}
	b, err := json.Marshal(creds)
	if err != nil {
		return Config{}, err
	}
	return Parse(stack, func(k string) (string, bool) {
		if k == "credentials" {
			return string(b), true
		}
		return f.Lookup(k)
	})
}
