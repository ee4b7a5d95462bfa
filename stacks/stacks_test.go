package stacks

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/loopbackca"
)

func lookupOf(m map[string]string) Lookup {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

var testDigest = "sha256:" + strings.Repeat("ab", 32)

// valid adds the keys every stack must set (credentials, the fraud model) to
// a test's raw config.
func valid(m map[string]string) map[string]string {
	creds := map[string]string{}
	for _, k := range append(CredentialKeys(), PlatformCredentialKeys...) {
		creds[k] = "dev-only-" + k
	}
	b, _ := json.Marshal(creds)
	out := map[string]string{
		"credentials": string(b),
		"fraudModel":  `{"uri": "s3://intelliflow-dev-models/fraud/model.json", "sha256": "` + strings.Repeat("0f", 32) + `"}`,
	}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// testAWS names the roles every AWS stack must set, and the bucket of
// valid()'s model.
const testAWS = `{"adminRoleArns": ["arn:aws:iam::111122223333:role/admin"], "deployerRoleArns": ["arn:aws:iam::111122223333:role/ci"], "modelBucket": "intelliflow-dev-models"}`

// shortRedis is valid credentials with a Redis password ElastiCache refuses.
func shortRedis() string {
	creds := map[string]string{}
	for _, k := range append(CredentialKeys(), PlatformCredentialKeys...) {
		creds[k] = "dev-only-" + k
	}
	creds["redis-password"] = "short"
	b, _ := json.Marshal(creds)
	return string(b)
}

func prodDigests() string {
	parts := []string{}
	for _, n := range Images() {
		parts = append(parts, fmt.Sprintf("%q: %q", n, testDigest))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestParseDefaults(t *testing.T) {
	t.Run("dev renders to out/<stack>, tags, no GPU, no ServiceMonitors", func(t *testing.T) {
		c, err := Parse("dev", lookupOf(valid(map[string]string{"environment": "dev"})))
		require.NoError(t, err)
		require.Equal(t, Kubernetes{RenderDir: "out/dev"}, c.Kubernetes)
		require.Equal(t, DefaultPodSecurityVersion, c.PodSecurityVersion)
		require.Equal(t, []string{"registry.intelliflow.internal"}, c.ImageRegistries)
		require.False(t, c.RequireImageDigests)
		require.False(t, c.ServiceMonitors)
		require.Empty(t, c.GPUNodeGroup)
		require.Zero(t, c.Services[catalog.Fraud].GPU)
		require.Equal(t, "registry.intelliflow.internal/intelliflow/fraud:0.1.0", c.Image(catalog.Fraud))
		for name, s := range c.Services {
			require.Equal(t, 2, s.MinReplicas, name)
		}
	})
	t.Run("dev with a kubeconfig deploys there instead", func(t *testing.T) {
		c, err := Parse("alice", lookupOf(valid(map[string]string{"environment": "dev", "kubeconfig": "/home/alice/.kube/config", "kubeContext": "kind"})))
		require.NoError(t, err)
		require.Equal(t, Kubernetes{Kubeconfig: "/home/alice/.kube/config", Context: "kind"}, c.Kubernetes)
	})
	t.Run("prod requires digests and pins images by them", func(t *testing.T) {
		c, err := Parse("prod", lookupOf(valid(map[string]string{
			"environment": "prod", "aws": testAWS, "imageDigests": prodDigests(),
			"imageRegistries": `["123456789012.dkr.ecr.eu-west-1.amazonaws.com"]`,
		})))
		require.NoError(t, err)
		require.True(t, c.RequireImageDigests)
		require.True(t, c.ServiceMonitors)
		require.Equal(t, "gpu", c.GPUNodeGroup)
		require.Equal(t, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/intelliflow/users@"+testDigest, c.Image(catalog.Users))
		require.Equal(t, Kubernetes{}, c.Kubernetes, "the foundation's cluster is the target")
		require.Equal(t, "intelliflow-prod", c.ClusterName())
		require.Equal(t, 3, c.AWS.Zones)
		require.Equal(t, 3, c.AWS.Kafka.Brokers, "the issue's 3 brokers in prod")
		require.Equal(t, Endpoint{Port: 9098, CIDRs: []string{"10.30.0.0/16"}}, c.DataStores[catalog.Kafka], "managed stores: VPC only, IAM over TLS")
		require.Equal(t, "s3.amazonaws.com", c.DataStores[catalog.S3].Host)
	})
	t.Run("staging and prod run Vault, configured from a token file", func(t *testing.T) {
		c, err := Parse("staging", lookupOf(valid(map[string]string{"environment": "staging", "aws": testAWS, "vault": `{"configure": false}`})))
		require.NoError(t, err)
		require.Equal(t, &Vault{Address: "https://vault.intelliflow-security.svc:8200", TokenFile: ".vault-token", CACertFile: ".vault-ca.pem", TLSIssuer: "intelliflow-internal-ca"}, c.Vault)
		c, err = Parse("staging", lookupOf(valid(map[string]string{"environment": "staging", "aws": testAWS, "charts": "false"})))
		require.NoError(t, err)
		require.Nil(t, c.Vault, "no charts, no Vault")
	})
	t.Run("dev has no AWS foundation", func(t *testing.T) {
		c, err := Parse("dev", lookupOf(valid(map[string]string{"environment": "dev"})))
		require.NoError(t, err)
		require.Nil(t, c.AWS)
	})
	t.Run("aws overrides merge into the environment's defaults", func(t *testing.T) {
		c, err := Parse("staging", lookupOf(valid(map[string]string{
			"environment": "staging",
			"aws":         `{"adminRoleArns": ["arn:aws:iam::111122223333:role/admin"], "deployerRoleArns": ["arn:aws:iam::111122223333:role/ci"], "modelBucket": "intelliflow-dev-models", "region": "us-east-2", "nodeGroups": {"gpu": {"max": 6}}, "postgres": {"instanceClass": "db.r6g.large"}}`,
		})))
		require.NoError(t, err)
		require.Equal(t, "us-east-2", c.AWS.Region)
		require.Equal(t, 6, c.AWS.NodeGroups.GPU.Max)
		require.Equal(t, []string{"g5.xlarge"}, c.AWS.NodeGroups.GPU.InstanceTypes, "fields not overridden keep the default")
		require.Equal(t, "db.r6g.large", c.AWS.Postgres.InstanceClass)
		require.Equal(t, "16", c.AWS.Postgres.Version)
	})
	t.Run("explicit settings win over defaults", func(t *testing.T) {
		c, err := Parse("alice", lookupOf(valid(map[string]string{
			"environment": "dev", "kubeconfig": "kc", "requireImageDigests": "false",
			"podSecurityVersion": "v1.30", "imageRegistries": `["registry.example.com:5000/team"]`,
			"imageTag": "2.3.1", "serviceMonitors": "false", "gpuNodeGroup": "a10g",
			"services":   `{"transactions": {"minReplicas": 6, "maxReplicas": 60}}`,
			"dataStores": `{"postgres": {"host": "db.internal", "cidrs": ["10.20.0.0/16"]}}`,
		})))
		require.NoError(t, err)
		require.Equal(t, "v1.30", c.PodSecurityVersion)
		require.False(t, c.RequireImageDigests)
		require.False(t, c.ServiceMonitors)
		require.Equal(t, "a10g", c.GPUNodeGroup)
		require.Equal(t, "registry.example.com:5000/team/intelliflow/gateway:2.3.1", c.Image(catalog.Gateway))
		tx := c.Services[catalog.Transactions]
		require.Equal(t, 6, tx.MinReplicas)
		require.Equal(t, 60, tx.MaxReplicas)
		require.Equal(t, DefaultSizes(Dev)[catalog.Transactions].CPURequest, tx.CPURequest, "fields not overridden keep the default")
		require.Equal(t, Endpoint{Host: "db.internal", Port: 5432, CIDRs: []string{"10.20.0.0/16"}}, c.DataStores[catalog.Postgres])
		require.Equal(t, "intelliflow-dev-ca", c.Ingress.ClusterIssuer)
		require.Equal(t, 1000, c.Ingress.RateLimitPerMinute, "the seed's rate limit")
	})
}

// TestProdSizesAreTheSeeds pins the seed's production figures.
func TestProdSizesAreTheSeeds(t *testing.T) {
	s := DefaultSizes(Prod)
	users := s[catalog.Users]
	require.Equal(t, 3, users.MinReplicas)
	require.Equal(t, [4]string{"250m", "512Mi", "1", "1Gi"}, [4]string{users.CPURequest, users.MemoryRequest, users.CPULimit, users.MemoryLimit})

	tx := s[catalog.Transactions]
	require.Equal(t, [2]int{5, 50}, [2]int{tx.MinReplicas, tx.MaxReplicas})
	require.Equal(t, [4]string{"500m", "1Gi", "2", "2Gi"}, [4]string{tx.CPURequest, tx.MemoryRequest, tx.CPULimit, tx.MemoryLimit})
	require.Equal(t, 60, tx.CPUUtilization)
	require.Equal(t, &MetricTarget{Name: "transaction_processing_rate", AverageValue: "200"}, tx.PodsMetric)
	require.Equal(t, &MetricTarget{Name: "sqs_queue_depth", AverageValue: "50"}, tx.ExternalMetric)
	require.True(t, tx.RequiredHostAntiAffinity)

	fraud := s[catalog.Fraud]
	require.Equal(t, 4, fraud.MinReplicas)
	require.Equal(t, [4]string{"1", "2Gi", "4", "4Gi"}, [4]string{fraud.CPURequest, fraud.MemoryRequest, fraud.CPULimit, fraud.MemoryLimit})
	require.Equal(t, 1, fraud.GPU)

	for _, env := range Environments {
		sizes := DefaultSizes(env)
		require.ElementsMatch(t, catalog.Names(), slices.Sorted(maps.Keys(sizes)), env)
		c := Config{Environment: env, Services: sizes, GPUNodeGroup: "gpu"}
		require.Empty(t, c.validateSizes(), env)
	}
}

func TestChartImageDigests(t *testing.T) {
	ref := "registry.intelliflow.internal:5000/falcosecurity/falco:0.41.3"
	c, err := Parse("dev", lookupOf(valid(map[string]string{"environment": "dev", "chartImageDigests": `{"` + ref + `": "` + testDigest + `"}`})))
	require.NoError(t, err)
	require.Equal(t, map[string]string{ref: testDigest}, c.ChartImageDigests)
}

func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		raw  map[string]string
		want []string // substrings of the error
	}{
		{"missing environment", map[string]string{}, []string{"intelliflow:environment is required", "pulumi config set intelliflow:environment"}},
		{"unknown environment", map[string]string{"environment": "qa", "renderDir": "x"}, []string{"intelliflow:environment", `unknown environment "qa"`}},
		{"staging without roles", map[string]string{"environment": "staging"}, []string{"intelliflow:aws.adminRoleArns: name at least one admin role", "intelliflow:aws.deployerRoleArns", `intelliflow:aws.modelBucket: "intelliflow-staging-models" is not the bucket of fraudModel.uri`}},
		{"staging with a render folder", map[string]string{"environment": "staging", "aws": testAWS, "renderDir": "out/staging"}, []string{"intelliflow:renderDir: staging deploys to the EKS cluster its AWS foundation creates"}},
		{"dns zone without the API host", map[string]string{"environment": "staging", "aws": strings.Replace(testAWS, "{", `{"dnsZone": "intelliflow.test", `, 1)}, []string{`intelliflow:aws.dnsZone: "intelliflow.test" does not hold the API's host "api.staging.intelliflow.example"`}},
		{"rollout timeout out of range", map[string]string{"environment": "dev", "renderDir": "x", "rolloutTimeoutSeconds": "5"}, []string{"intelliflow:rolloutTimeoutSeconds: 5: want 30..3600"}},
		{"rollout timeout not a number", map[string]string{"environment": "dev", "renderDir": "x", "rolloutTimeoutSeconds": "5m"}, []string{"intelliflow:rolloutTimeoutSeconds", "want a number of seconds"}},
		{"aws in dev", map[string]string{"environment": "dev", "aws": `{"region": "eu-west-1"}`}, []string{"intelliflow:aws: dev has no AWS foundation"}},
		{"aws unknown field", map[string]string{"environment": "prod", "aws": `{"regoin": "eu-west-1"}`}, []string{"intelliflow:aws", `unknown field "regoin"`}},
		{"managed store endpoint", map[string]string{"environment": "staging", "aws": testAWS, "dataStores": `{"postgres": {"host": "db.internal"}}`}, []string{"intelliflow:dataStores.postgres: the AWS foundation creates postgres"}},
		{"bad aws values", map[string]string{"environment": "prod", "aws": `{"adminRoleArns": ["admin"], "deployerRoleArns": ["arn:aws:iam::111122223333:role/ci"], "modelBucket": "intelliflow-dev-models", "region": "Europe", "vpcCidr": "8.8.0.0/16", "zones": 1, "kubernetesVersion": "1.30", "publicAccessCidrs": ["0.0.0.0/0"], "nodeGroups": {"general": {"instanceTypes": ["g5.xlarge"]}, "gpu": {"instanceTypes": ["m6i.large"], "diskGiB": 10}}, "kafka": {"brokers": 2}, "documentdb": {"instances": 1}, "flowLogRetentionDays": 2, "sesIdentity": "x"}`}, []string{
			`aws.region: "Europe"`, `aws.vpcCidr: "8.8.0.0/16"`, "aws.zones: 1", "aws.kubernetesVersion: 1.30 is older than podSecurityVersion v1.33",
			"aws.publicAccessCidrs[0]", `aws.adminRoleArns[0]: "admin"`, "aws.nodeGroups.general.instanceTypes: g5.xlarge: the general group takes CPU instance types",
			"aws.nodeGroups.gpu.instanceTypes: m6i.large: the gpu group takes GPU", "aws.nodeGroups.gpu.diskGiB: 10", "aws.kafka.brokers: 2: prod keeps three copies",
			"aws.documentdb.instances: 1", "aws.flowLogRetentionDays: 2", `aws.sesIdentity: "x"`,
		}},
		{"redis password unfit for ElastiCache", map[string]string{"environment": "staging", "aws": testAWS, "credentials": shortRedis()}, []string{
			"intelliflow:credentials: redis-password is 5 characters; ElastiCache wants 16 to 128",
		}},
		{"too few hosts for the spread", map[string]string{"environment": "prod", "aws": `{"adminRoleArns": ["arn:aws:iam::111122223333:role/admin"], "deployerRoleArns": ["arn:aws:iam::111122223333:role/ci"], "modelBucket": "intelliflow-dev-models", "nodeGroups": {"general": {"min": 3, "desired": 3, "max": 20}}}`}, []string{
			"aws.nodeGroups.general.min: 3 nodes, but transactions runs 5 replicas on distinct nodes",
			"aws.nodeGroups.general.max: 20 nodes, but transactions scales to 50 replicas",
		}},
		{"vault in dev", map[string]string{"environment": "dev", "vault": `{"configure": false}`}, []string{"intelliflow:vault: this stack runs no Vault"}},
		{"bad vault", map[string]string{"environment": "prod", "aws": testAWS, "imageDigests": prodDigests(), "vault": `{"address": "vault:8200", "tokenFile": "", "tlsIssuer": "Internal CA", "uiHost": "x"}`}, []string{
			`intelliflow:vault.address: "vault:8200"`, "intelliflow:vault.tokenFile", `intelliflow:vault.tlsIssuer: "Internal CA"`, `intelliflow:vault.uiHost: "x"`,
		}},
		{"too few GPU nodes", map[string]string{"environment": "prod", "aws": `{"adminRoleArns": ["arn:aws:iam::111122223333:role/admin"], "deployerRoleArns": ["arn:aws:iam::111122223333:role/ci"], "modelBucket": "intelliflow-dev-models", "nodeGroups": {"gpu": {"max": 4}}}`}, []string{
			"aws.nodeGroups.gpu.max: 4 nodes x 1 GPUs hold 4 GPU pods, but the services scale to 12",
		}},
		{"both targets", map[string]string{"environment": "dev", "renderDir": "x", "kubeconfig": "y"}, []string{"intelliflow:renderDir", "not both"}},
		{"context without kubeconfig", map[string]string{"environment": "dev", "kubeContext": "kind"}, []string{"intelliflow:kubeContext", "needs kubeconfig"}},
		{"latest PSS version", map[string]string{"environment": "dev", "podSecurityVersion": "latest"}, []string{"intelliflow:podSecurityVersion", `"latest" is not allowed`}},
		{"registries not a list", map[string]string{"environment": "dev", "imageRegistries": "registry.example.com"}, []string{"intelliflow:imageRegistries", "want a list"}},
		{"empty registries", map[string]string{"environment": "dev", "imageRegistries": "[]"}, []string{"intelliflow:imageRegistries", "at least one"}},
		{"registry with scheme", map[string]string{"environment": "dev", "imageRegistries": `["https://registry.example.com"]`}, []string{"intelliflow:imageRegistries", "not a registry host"}},
		{"digest flag not boolean", map[string]string{"environment": "prod", "aws": testAWS, "requireImageDigests": "yes"}, []string{"intelliflow:requireImageDigests", `want true or false, got "yes"`}},
		{"unknown service", map[string]string{"environment": "dev", "services": `{"ledger": {"minReplicas": 2}}`}, []string{"intelliflow:services.ledger: unknown service"}},
		{"unknown size field", map[string]string{"environment": "dev", "services": `{"users": {"replicas": 2}}`}, []string{"intelliflow:services.users", `unknown field "replicas"`}},
		{"one replica", map[string]string{"environment": "dev", "services": `{"users": {"minReplicas": 1}}`}, []string{"intelliflow:services.users.minReplicas: 1", "REL-01"}},
		{"min above max", map[string]string{"environment": "dev", "services": `{"users": {"minReplicas": 4, "maxReplicas": 3}}`}, []string{"intelliflow:services.users.maxReplicas: 3 must be greater than minReplicas 4"}},
		{"bad quantity", map[string]string{"environment": "dev", "services": `{"users": {"memoryLimit": "1GB"}}`}, []string{"intelliflow:services.users.memoryLimit", `"1GB" is not a positive Kubernetes quantity`}},
		{"request above limit", map[string]string{"environment": "dev", "services": `{"users": {"cpuRequest": "2", "cpuLimit": "1"}}`}, []string{"intelliflow:services.users.cpuRequest: 2 is above cpuLimit 1"}},
		{"GPU without a node group", map[string]string{"environment": "staging", "aws": testAWS, "gpuNodeGroup": "", "services": `{"fraud": {"gpu": 1}}`}, []string{"intelliflow:services.fraud.gpu: needs a GPU node group"}},
		{"GPU on a CPU service", map[string]string{"environment": "staging", "aws": testAWS, "services": `{"users": {"gpu": 1}}`}, []string{"intelliflow:services.users.gpu: users does not run on GPUs"}},
		{"bad utilization", map[string]string{"environment": "dev", "services": `{"users": {"cpuUtilization": 150}}`}, []string{"intelliflow:services.users.cpuUtilization: 150"}},
		{"bad metric", map[string]string{"environment": "dev", "services": `{"users": {"podsMetric": {"name": "", "averageValue": "x"}}}`}, []string{"services.users.podsMetric.name: is empty", "services.users.podsMetric.averageValue"}},
		{"latest tag", map[string]string{"environment": "dev", "imageTag": "latest"}, []string{"intelliflow:imageTag", "not latest"}},
		{"bad digest", map[string]string{"environment": "dev", "imageDigests": `{"users": "sha256:abc"}`}, []string{"intelliflow:imageDigests.users", "is not sha256:<64 hex digits>"}},
		{"digest for unknown service", map[string]string{"environment": "dev", "imageDigests": `{"ledger": "` + testDigest + `"}`}, []string{"intelliflow:imageDigests.ledger", "unknown image"}},
		{"chart image digests", map[string]string{"environment": "dev", "chartImageDigests": `{"registry.intelliflow.internal/falcosecurity/falco@sha256:00": "sha256:abc", "falco": "` + testDigest + `"}`}, []string{
			`intelliflow:chartImageDigests: "falco" is not an image reference with a tag`,
			`intelliflow:chartImageDigests: "registry.intelliflow.internal/falcosecurity/falco@sha256:00" is not an image reference`,
			`registry.intelliflow.internal/falcosecurity/falco@sha256:00: "sha256:abc" is not sha256:<64 hex digits>`,
		}},
		{"chart image digests not an object", map[string]string{"environment": "dev", "chartImageDigests": `["falco"]`}, []string{"intelliflow:chartImageDigests"}},
		{"prod without digests", map[string]string{"environment": "prod", "aws": testAWS}, []string{"intelliflow:imageDigests.fraud: missing", "pulumi config set --path intelliflow:imageDigests.fraud"}},
		{"unknown store", map[string]string{"environment": "dev", "dataStores": `{"oracle": {"port": 1521}}`}, []string{"intelliflow:dataStores.oracle: unknown store"}},
		{"auth mechanisms", map[string]string{"environment": "dev", "dataStores": `{"mongodb": {"authMechanism": "GSSAPI"}, "redis": {"authMechanism": "PLAIN"}}`}, []string{
			`intelliflow:dataStores.mongodb.authMechanism: "GSSAPI" is not one of SCRAM-SHA-1, SCRAM-SHA-256, PLAIN`, "intelliflow:dataStores.redis.authMechanism: only mongodb's",
		}},
		{"bad node placement", map[string]string{"environment": "dev", "nodePlacement": `{"nodeSelector": {"bad key!": "x", "zone": "a b"}, "tolerations": [{"key": "", "effect": "Never"}]}`}, []string{
			`intelliflow:nodePlacement.nodeSelector: "bad key!"`, `intelliflow:nodePlacement.nodeSelector.zone: "a b"`,
			`intelliflow:nodePlacement.tolerations[0].key: ""`, `intelliflow:nodePlacement.tolerations[0].effect: "Never" is not NoSchedule`,
		}},
		{"empty node placement", map[string]string{"environment": "dev", "nodePlacement": `{"tolerations": []}`}, []string{"intelliflow:nodePlacement.nodeSelector: name at least one node label"}},
		{"node placement unknown field", map[string]string{"environment": "dev", "nodePlacement": `{"nodeName": "real-0"}`}, []string{"intelliflow:nodePlacement", `unknown field "nodeName"`}},
		{"bad endpoint", map[string]string{"environment": "dev", "dataStores": `{"redis": {"host": "", "port": 0, "cidrs": ["10.0.0.0"]}}`}, []string{
			`intelliflow:dataStores.redis.host: "" is not a host name`, "intelliflow:dataStores.redis.port: 0", `intelliflow:dataStores.redis.cidrs: "10.0.0.0" is not a CIDR`,
		}},
		{"missing credentials", map[string]string{"environment": "dev", "credentials": `{"jwt-signing-key": "x"}`}, []string{"intelliflow:credentials: missing database-password", "pulumi config set --secret intelliflow:credentials"}},
		{"empty credential", map[string]string{"environment": "dev", "credentials": `{"jwt-signing-key": " "}`}, []string{"intelliflow:credentials: empty values for jwt-signing-key"}},
		{"unknown credential", map[string]string{"environment": "dev", "credentials": `{"root-password": "x"}`}, []string{`intelliflow:credentials: "root-password" is not a key any service or the platform reads`}},
		{"credentials not an object", map[string]string{"environment": "dev", "credentials": `"hunter2"`}, []string{"intelliflow:credentials: not a JSON object of strings"}},
		{"bad model uri", map[string]string{"environment": "dev", "fraudModel": `{"uri": "https://x/model.json", "sha256": "` + strings.Repeat("0f", 32) + `"}`}, []string{`intelliflow:fraudModel.uri: "https://x/model.json" is not s3://`}},
		{"bad model checksum", map[string]string{"environment": "dev", "fraudModel": `{"uri": "s3://bucket/model.json", "sha256": "abc"}`}, []string{"intelliflow:fraudModel.sha256"}},
		{"ingress unknown field", map[string]string{"environment": "dev", "ingress": `{"rateLimit": 5}`}, []string{"intelliflow:ingress", `unknown field "rateLimit"`}},
		{"bad serviceMonitors", map[string]string{"environment": "dev", "serviceMonitors": "on"}, []string{"intelliflow:serviceMonitors", `want true or false, got "on"`}},
		{
			"every problem at once",
			map[string]string{"environment": "qa", "podSecurityVersion": "1.33", "imageRegistries": "[]"},
			[]string{"intelliflow:environment", "intelliflow:podSecurityVersion", "intelliflow:imageRegistries", "intelliflow:kubeconfig"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("dev", lookupOf(valid(tt.raw)))
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// TestTrustedCA: the file is read relative to the project root, and
// anything but PEM certificates is refused with the key's name.
func TestTrustedCA(t *testing.T) {
	root := t.TempDir()
	ca, err := loopbackca.New("test CA", time.Hour)
	require.NoError(t, err)
	leaf, err := ca.Server("x", []string{"x"})
	require.NoError(t, err)
	files := map[string][]byte{"ca.pem": ca.PEM, "key.pem": append(leaf.KeyPEM, ca.PEM...), "empty.pem": []byte("no PEM here\n"), "broken.pem": []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(root, name), b, 0o600))
	}
	load := func(file string) (Config, error) {
		c, err := Parse("dev", lookupOf(valid(map[string]string{"environment": "dev", "trustedCAFile": file})))
		require.NoError(t, err)
		return c, c.LoadTrustedCA(root)
	}
	c, err := load("ca.pem")
	require.NoError(t, err)
	require.Equal(t, string(ca.PEM), c.TrustedCA)
	for file, want := range map[string]string{"key.pem": "holds a EC PRIVATE KEY block", "empty.pem": "no PEM certificate", "broken.pem": "certificate 1:", "missing.pem": "no such file"} {
		_, err := load(file)
		require.ErrorContains(t, err, "config intelliflow:trustedCAFile: ")
		require.ErrorContains(t, err, want)
	}
}

func TestCheckKeys(t *testing.T) {
	require.NoError(t, CheckKeys([]string{"intelliflow:environment", "kubernetes:context", "aws:region"}))
	err := CheckKeys([]string{"intelliflow:enviroment", "intelliflow:renderDir", "intelliflow:imageRegistry"})
	require.ErrorContains(t, err, "unknown config key(s) intelliflow:enviroment, intelliflow:imageRegistry")
	require.ErrorContains(t, err, "intelliflow:environment")
}

func TestNamespaces(t *testing.T) {
	for _, env := range Environments {
		c := Config{Environment: env}
		require.Equal(t, []string{"intelliflow-" + string(env), MonitoringNamespace, SecurityNamespace}, c.Namespaces())
	}
}

func TestCredentialErrorsNeverEchoValues(t *testing.T) {
	_, err := Parse("dev", lookupOf(valid(map[string]string{"environment": "dev", "credentials": `["hunter2"]`})))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}

// TestGeneratedCredentialsAreNotRequired: staging and prod generate the
// credentials nobody chooses and ask only for the rest; dev, with no
// generator, still needs every one.
func TestGeneratedCredentialsAreNotRequired(t *testing.T) {
	creds := map[string]string{}
	for _, k := range append(CredentialKeys(), PlatformCredentialKeys...) {
		if !slices.Contains(GeneratedCredentialKeys, k) {
			creds[k] = "dev-only-" + k
		}
	}
	b, err := json.Marshal(creds)
	require.NoError(t, err)
	c, err := Parse("staging", lookupOf(valid(map[string]string{"environment": "staging", "aws": testAWS, "vault": `{"configure": false}`, "credentials": string(b)})))
	require.NoError(t, err)
	require.True(t, c.GeneratesCredentials())
	for _, k := range GeneratedCredentialKeys {
		require.NotContains(t, c.RequiredCredentialKeys(), k)
	}
	require.Contains(t, c.RequiredCredentialKeys(), "pagerduty-routing-key", "what comes from outside is still asked for")

	_, err = Parse("dev", lookupOf(valid(map[string]string{"environment": "dev", "charts": "true", "credentials": string(b)})))
	require.ErrorContains(t, err, "missing grafana-admin-password, jenkins-admin-password, jwt-signing-key, redis-password")
}
