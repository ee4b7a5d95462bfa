package rules

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// S3 type tokens: the bucket and the resources that configure it.
const (
	bucketType     = "aws:s3/bucketV2:BucketV2"
	bucketV1Type   = "aws:s3/bucket:Bucket"
	publicBlock    = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	sseConfigType  = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	versioningType = "aws:s3/bucketVersioningV2:BucketVersioningV2"
)

// AWS08Buckets: every bucket blocks public access with all four flags,
// encrypts with KMS and keeps versions. The settings are separate resources
// that name the bucket, so this looks at the whole stack.
func AWS08Buckets() StackRule {
	return StackRule{
		Name:        "AWS-08-s3-buckets",
		Description: "AWS-08: S3 buckets have all four public-access-block flags, SSE-KMS and versioning.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       []string{bucketType, bucketV1Type},
		Check: func(resources []policyx.AnalyzerResource) []StackFinding {
			type settings struct{ block, kms, versioned bool }
			byBucket := map[string]*settings{}
			var unknownRefs bool
			s := func(r policyx.AnalyzerResource) *settings {
				b := get(r, "bucket")
				if b.computed {
					unknownRefs = true
					return &settings{}
				}
				if byBucket[b.str()] == nil {
					byBucket[b.str()] = &settings{}
				}
				return byBucket[b.str()]
			}
			for _, r := range resources {
				switch r.Type {
				case publicBlock:
					ok := true
					for _, f := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
						ok = ok && get(r, f).isTrue()
					}
					s(r).block = s(r).block || ok
				case sseConfigType:
					rules := get(r, "rules")
					if rules.present && rules.v.IsArray() {
						for _, e := range rules.v.AsArray().AsSlice() {
							if e.IsMap() && get(policyx.AnalyzerResource{Properties: e.AsMap()}, "applyServerSideEncryptionByDefault", "sseAlgorithm").str() == "aws:kms" {
								s(r).kms = true
							}
						}
					}
				case versioningType:
					if get(r, "versioningConfiguration", "status").str() == "Enabled" {
						s(r).versioned = true
					}
				}
			}
			var out []StackFinding
			for _, r := range resources {
				if r.Type != bucketType && r.Type != bucketV1Type {
					continue
				}
				name := get(r, "bucket")
				if name.computed || unknownRefs {
					out = append(out, StackFinding{Finding: unchecked("bucket names are not known yet"), URN: r.URN, Name: r.Name, Type: r.Type})
					continue
				}
				set := byBucket[name.str()]
				if set == nil {
					set = &settings{}
				}
				var missing []string
				if !set.block {
					missing = append(missing, "a BucketPublicAccessBlock with all four flags true")
				}
				if !set.kms {
					missing = append(missing, "SSE-KMS (BucketServerSideEncryptionConfigurationV2, sseAlgorithm aws:kms)")
				}
				if !set.versioned {
					missing = append(missing, "versioning (BucketVersioningV2, status Enabled)")
				}
				if len(missing) > 0 {
					out = append(out, StackFinding{Finding: violation("bucket %q lacks %s", name.str(), strings.Join(missing, "; ")), URN: r.URN, Name: r.Name, Type: r.Type})
				}
			}
			return out
		},
	}
}

// chartTypes are the forms a chart installation takes.
var chartTypes = []string{"kubernetes:helm.sh/v4:Chart", helmReleaseType, "kubernetes:helm.sh/v3:Chart"}

// chartValues returns the values of a Vault chart, if r is one.
func chartValues(r policyx.AnalyzerResource) (map[string]any, bool) {
	if !slices.Contains(chartTypes, r.Type) {
		return nil, false
	}
	if !strings.Contains(get(r, "chart").str(), "vault") {
		return nil, false
	}
	v := get(r, "values")
	if !v.present {
		return map[string]any{}, true
	}
	m, _ := plain(v.v).(map[string]any)
	return m, true
}

func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// VLT01Vault: Vault never runs in dev mode, serves TLS, is HA on raft (three
// or more in prod), unseals with AWS KMS where the stack has AWS (a cluster
// without it has no KMS: Shamir's key shares), keeps an audit log and holds
// no root token in its config. It reads every form Vault takes: the chart's
// values (the Chart resource, as mocks and a Release show it) and what the
// chart renders, which is what the engine shows the pack: the server's
// StatefulSet (any container running "vault server") and its HCL
// configuration in a ConfigMap.
func VLT01Vault(requireHA, requireAutoUnseal bool) Rule {
	return Rule{
		Name:        "VLT-01-vault",
		Description: "VLT-01: Vault no dev mode, TLS on, HA raft >= 3 in prod, auto-unseal (awskms), audit device on, no root token in config.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       append(slices.Clone(chartTypes), statefulSetType, configMapType),
		Check: func(r policyx.AnalyzerResource) []Finding {
			switch r.Type {
			case statefulSetType:
				return vaultServer(r, requireHA)
			case configMapType:
				return vaultConfig(r, requireAutoUnseal)
			}
			return vaultValues(r, requireHA, requireAutoUnseal)
		},
	}
}

// sealAWSKMS is the auto-unseal stanza.
const sealAWSKMS = `seal "awskms"`

func vaultValues(r policyx.AnalyzerResource, requireHA, requireAutoUnseal bool) []Finding {
	values, ok := chartValues(r)
	if !ok {
		return nil
	}
	if get(r, "values").computed {
		return []Finding{unchecked("chart values are not known yet")}
	}
	var out []Finding
	if dig(values, "server", "dev", "enabled") == true {
		out = append(out, violation("values.server.dev.enabled: dev mode keeps everything in memory with a known root token; remove it"))
	}
	if dig(values, "global", "tlsDisable") != false {
		out = append(out, violation("values.global.tlsDisable: the chart defaults to plain HTTP; set false and mount the TLS certificate"))
	}
	if dig(values, "server", "ha", "enabled") != true || dig(values, "server", "ha", "raft", "enabled") != true {
		out = append(out, violation("values.server.ha: enable HA with integrated raft storage"))
	}
	if n, _ := dig(values, "server", "ha", "replicas").(float64); requireHA && n < 3 {
		out = append(out, violation("values.server.ha.replicas: %v; prod runs at least 3 for raft quorum", n))
	}
	cfg, _ := dig(values, "server", "ha", "raft", "config").(string)
	if requireAutoUnseal && !strings.Contains(cfg, sealAWSKMS) {
		out = append(out, violation(`values.server.ha.raft.config: no seal "awskms" stanza; without auto-unseal every restart needs key holders`))
	}
	if dig(values, "server", "auditStorage", "enabled") != true {
		out = append(out, violation("values.server.auditStorage.enabled: set true; the audit device needs durable storage"))
	}
	raw, _ := yaml.Marshal(values)
	if slices.ContainsFunc([]string{"devRootToken", "VAULT_DEV_ROOT_TOKEN_ID", "VAULT_TOKEN"}, func(k string) bool { return strings.Contains(string(raw), k) }) {
		out = append(out, violation("values: a root or dev token is set in the chart values; tokens come from Vault's auth methods, never config"))
	}
	return out
}

// vaultServer checks a StatefulSet whose containers run a Vault server.
func vaultServer(r policyx.AnalyzerResource, requireHA bool) []Finding {
	var set appsv1.StatefulSet
	if fs := decodeWhole(r, &set, "StatefulSet"); fs != nil {
		return fs
	}
	var out []Finding
	servers := 0
	for i, c := range set.Spec.Template.Spec.Containers {
		line := strings.Join(append(slices.Clone(c.Command), c.Args...), " ")
		if !strings.Contains(line, "vault server") {
			continue
		}
		servers++
		field := fmt.Sprintf("spec.template.spec.containers[%d]", i)
		if slices.ContainsFunc(strings.Fields(line), func(f string) bool { return f == "-dev" || strings.HasPrefix(f, "-dev=") }) {
			out = append(out, violation("%s runs vault server -dev: dev mode keeps everything in memory with a known root token", field))
		}
		for _, e := range c.Env {
			switch {
			case (e.Name == "VAULT_DEV_ROOT_TOKEN_ID" || e.Name == "VAULT_TOKEN") && e.Value != "":
				out = append(out, violation("%s.env %s: a root or dev token in the pod spec; tokens come from Vault's auth methods, never config", field, e.Name))
			case e.Name == "VAULT_ADDR" && strings.HasPrefix(e.Value, "http://"):
				out = append(out, violation("%s.env VAULT_ADDR %s: the server listens without TLS", field, e.Value))
			}
		}
		audit := false
		for _, m := range c.VolumeMounts {
			for _, claim := range set.Spec.VolumeClaimTemplates {
				audit = audit || (claim.Name == m.Name && strings.Contains(m.MountPath, "audit"))
			}
		}
		if !audit {
			out = append(out, violation("%s mounts no audit volume from a claim template; the audit device needs durable storage (chart: server.auditStorage)", field))
		}
	}
	if servers == 0 {
		return nil
	}
	if replicas := int32(1); requireHA {
		if set.Spec.Replicas != nil {
			replicas = *set.Spec.Replicas
		}
		if replicas < 3 {
			out = append(out, violation("spec.replicas: %d; prod runs at least 3 Vault servers for raft quorum", replicas))
		}
	}
	return out
}

// tlsDisabled matches a listener's tls_disable set on, in any HCL spelling.
var tlsDisabled = regexp.MustCompile(`(?m)^\s*tls_disable\s*=\s*"?(1|true)"?\s*$`)

// vaultConfig checks a ConfigMap holding a Vault server's HCL
// configuration: a .hcl key with a listener.
func vaultConfig(r policyx.AnalyzerResource, requireAutoUnseal bool) []Finding {
	var cm corev1.ConfigMap
	if fs := decodeWhole(r, &cm, "ConfigMap"); fs != nil {
		return fs
	}
	var out []Finding
	for _, key := range slices.Sorted(maps.Keys(cm.Data)) {
		hcl := cm.Data[key]
		if !strings.HasSuffix(key, ".hcl") || !strings.Contains(hcl, `listener "tcp"`) {
			continue
		}
		if tlsDisabled.MatchString(hcl) {
			out = append(out, violation("data[%s]: tls_disable on the listener; Vault serves TLS only", key))
		}
		if !strings.Contains(hcl, `storage "raft"`) {
			out = append(out, violation(`data[%s]: no storage "raft"; Vault runs HA on integrated raft storage`, key))
		}
		if requireAutoUnseal && !strings.Contains(hcl, sealAWSKMS) {
			out = append(out, violation(`data[%s]: no seal "awskms" stanza; without auto-unseal every restart needs key holders`, key))
		}
	}
	return out
}
