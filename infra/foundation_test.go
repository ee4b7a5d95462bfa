package infra

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/cluster"
	"github.com/intelliflow/platform/components/clusteraddons"
	"github.com/intelliflow/platform/components/ingress"
	"github.com/intelliflow/platform/components/rbac"
	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/stacks"
)

// requireClusterKubeconfig: the stack's Kubernetes objects go to the EKS
// cluster the foundation creates, through a kubeconfig with no credential.
func requireClusterKubeconfig(t *testing.T, p pulumitest.Resource, cfg stacks.Config) {
	t.Helper()
	require.Nil(t, p.Get("renderYamlToDirectory"))
	var kc struct {
		Clusters []struct {
			Cluster map[string]string `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			User struct {
				Exec struct {
					Command string   `json:"command"`
					Args    []string `json:"args"`
				} `json:"exec"`
			} `json:"user"`
		} `json:"users"`
	}
	require.NoError(t, json.Unmarshal([]byte(p.Get("kubeconfig").(string)), &kc))
	require.Len(t, kc.Clusters, 1)
	require.Contains(t, kc.Clusters[0].Cluster["server"], ".eks.amazonaws.com")
	require.Equal(t, "aws", kc.Users[0].User.Exec.Command)
	require.Equal(t, []string{"eks", "get-token", "--cluster-name", cfg.ClusterName(), "--region", cfg.AWS.Region, "--output", "json"}, kc.Users[0].User.Exec.Args)
}

// one returns the only resource of a type.
func one(t *testing.T, mocks *pulumitest.Mocks, typ string) pulumitest.Resource {
	t.Helper()
	rs := mocks.OfType(typ)
	require.Len(t, rs, 1, typ)
	return rs[0]
}

func policyDoc(t *testing.T, raw any) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw.(string)), &doc))
	return doc
}

// TestFoundation runs staging and prod under AWS mocks and asserts what the
// issue and the seed ask of the foundation.
func TestFoundation(t *testing.T) {
	for _, stack := range []string{"staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, cfg := runStack(t, stack, false)
			prod := stack == "prod"
			a := cfg.AWS

			// One AWS provider in the configured region; every AWS
			// resource uses it.
			p := one(t, mocks, "pulumi:providers:aws")
			require.Equal(t, a.Region, p.Get("region"))
			require.Equal(t, stack, p.Get("defaultTags.tags").(map[string]any)["intelliflow.io/stack"])
			counts := map[string]int{}
			for _, r := range mocks.Resources() {
				if r.Custom && strings.HasPrefix(r.Type, "aws:") {
					require.Contains(t, r.Provider, "pulumi:providers:aws::aws", "%s %s", r.Type, r.Name)
					counts["aws"]++
				}
				if r.Custom && strings.HasPrefix(r.Type, "kubernetes:") {
					counts["kubernetes"]++
				}
			}
			t.Logf("%s: %d resources registered (%d AWS, %d Kubernetes)", stack, len(mocks.Resources()), counts["aws"], counts["kubernetes"])

			// Network: the first three zones of the invoke's four.
			var zones []string
			private := 0
			for _, s := range mocks.OfType("aws:ec2/subnet:Subnet") {
				zones = append(zones, s.Get("availabilityZone").(string))
				tags := s.Get("tags").(map[string]any)
				require.Equal(t, "shared", tags["kubernetes.io/cluster/"+cfg.ClusterName()])
				require.Equal(t, false, s.Get("mapPublicIpOnLaunch"))
				if tags["kubernetes.io/role/internal-elb"] == "1" {
					private++
				}
			}
			sort.Strings(zones)
			zones = slices.Compact(zones)
			require.Equal(t, []string{a.Region + "a", a.Region + "b", a.Region + "c"}, zones)
			require.Equal(t, 3, private)
			require.Len(t, mocks.OfType("aws:ec2/natGateway:NatGateway"), map[bool]int{true: 3, false: 1}[prod], "NAT per zone in prod, one in staging")
			var endpoints []string
			for _, e := range mocks.OfType("aws:ec2/vpcEndpoint:VpcEndpoint") {
				endpoints = append(endpoints, strings.TrimPrefix(e.Get("serviceName").(string), "com.amazonaws."+a.Region+"."))
			}
			require.ElementsMatch(t, []string{"s3", "ecr.api", "ecr.dkr", "sts"}, endpoints)
			require.Equal(t, "ALL", one(t, mocks, "aws:ec2/flowLog:FlowLog").Get("trafficType"))

			// KMS: one customer-managed key, rotating, used everywhere.
			require.Len(t, mocks.OfType("aws:kms/key:Key"), 2, "the platform's key and Vault's unseal key")
			for _, key := range mocks.OfType("aws:kms/key:Key") {
				require.Equal(t, true, key.Get("enableKeyRotation"), key.Name)
			}
			keyARN := "arn:aws:kms:" + a.Region + ":" + pulumitest.AWSAccount + ":key/key"

			// EKS.
			eks := one(t, mocks, "aws:eks/cluster:Cluster")
			require.Equal(t, a.KubernetesVersion, eks.Get("version"))
			require.Equal(t, true, eks.Get("vpcConfig.endpointPrivateAccess"))
			require.Equal(t, false, eks.Get("vpcConfig.endpointPublicAccess"), "no public access unless CIDRs are configured")
			require.Equal(t, []any{"secrets"}, eks.Get("encryptionConfig.resources"))
			require.Equal(t, keyARN, eks.Get("encryptionConfig.provider.keyArn"))
			require.ElementsMatch(t, []any{"api", "audit", "authenticator", "controllerManager", "scheduler"}, eks.Get("enabledClusterLogTypes"))
			require.Equal(t, "API", eks.Get("accessConfig.authenticationMode"))
			require.Equal(t, false, eks.Get("accessConfig.bootstrapClusterCreatorAdminPermissions"))
			require.Equal(t, false, eks.Get("bootstrapSelfManagedAddons"))
			entries := map[string]string{}
			for _, e := range mocks.OfType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation") {
				entries[e.Get("principalArn").(string)] = e.Get("policyArn").(string)
				require.Equal(t, "cluster", e.Get("accessScope.type"))
			}
			require.Equal(t, map[string]string{
				a.AdminRoleARNs[0]:    "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
				a.DeployerRoleARNs[0]: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
			}, entries, "only admins and the pulumi deployer are cluster admins")
			k8sGroups := map[string]any{}
			for _, e := range mocks.OfType("aws:eks/accessEntry:AccessEntry") {
				k8sGroups[e.Get("principalArn").(string)] = e.Get("kubernetesGroups")
			}
			require.Equal(t, []any{rbac.DeployersGroup}, k8sGroups[a.AppDeployerRoleARNs[0]], "the pipeline gets the namespaced deployer role")
			require.Equal(t, []any{rbac.ViewersGroup}, k8sGroups[a.ViewerRoleARNs[0]], "on-call gets the read-only role")
			require.Len(t, k8sGroups, 4)
			require.Equal(t, []any{"sts.amazonaws.com"}, one(t, mocks, "aws:iam/openIdConnectProvider:OpenIdConnectProvider").Get("clientIdLists"))
			addons := map[string]pulumitest.Resource{}
			for _, ad := range mocks.OfType("aws:eks/addon:Addon") {
				addons[ad.Get("addonName").(string)] = ad
			}
			require.ElementsMatch(t, cluster.Addons, slices.Collect(func(yield func(string) bool) {
				for k := range addons {
					yield(k)
				}
			}))
			require.JSONEq(t, `{"enableNetworkPolicy":"true"}`, addons[cluster.AddonVPCCNI].Get("configurationValues").(string), "the VPC CNI enforces NetworkPolicies")
			require.Contains(t, addons[cluster.AddonVPCCNI].Get("serviceAccountRoleArn"), "eks-vpc-cni", "the CNI has its own IRSA role")
			require.Contains(t, addons[cluster.AddonEBSCSI].Get("serviceAccountRoleArn"), "eks-aws-ebs-csi-driver")

			// Node groups: general and GPU, private subnets, hardened
			// launch templates.
			groups := map[string]pulumitest.Resource{}
			for _, g := range mocks.OfType("aws:eks/nodeGroup:NodeGroup") {
				groups[g.Get("nodeGroupName").(string)] = g
				require.Nil(t, g.Get("remoteAccess"), "no SSH")
				require.NotNil(t, g.Get("launchTemplate"))
				require.Len(t, g.Get("subnetIds"), 3)
				for _, id := range g.Get("subnetIds").([]any) {
					require.Contains(t, id, "-private-", "nodes run in private subnets only")
				}
			}
			require.Len(t, groups, 2)
			gpu := groups[stacks.GPUNodeGroupName]
			require.Equal(t, "AL2023_x86_64_NVIDIA", gpu.Get("amiType"))
			require.Equal(t, []any{map[string]any{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}}, gpu.Get("taints"))
			require.Equal(t, "true", gpu.Get("labels").(map[string]any)["nvidia.com/gpu.present"])
			require.Equal(t, float64(a.NodeGroups.GPU.Max), gpu.Get("scalingConfig.maxSize"))
			require.Equal(t, float64(a.NodeGroups.GPU.Min), gpu.Get("scalingConfig.minSize"))
			require.Equal(t, "AL2023_x86_64_STANDARD", groups["general"].Get("amiType"))
			require.Nil(t, groups["general"].Get("taints"))
			for _, lt := range mocks.OfType("aws:ec2/launchTemplate:LaunchTemplate") {
				require.Equal(t, "required", lt.Get("metadataOptions.httpTokens"))
				require.Equal(t, float64(1), lt.Get("metadataOptions.httpPutResponseHopLimit"))
				require.Equal(t, "true", lt.Get("blockDeviceMappings.0.ebs.encrypted"))
				require.Equal(t, keyARN, lt.Get("blockDeviceMappings.0.ebs.kmsKeyId"))
			}

			// Storage: the model and backup buckets, one ECR repository per image.
			var buckets []any
			for _, b := range mocks.OfType("aws:s3/bucketV2:BucketV2") {
				buckets = append(buckets, b.Get("bucket"))
			}
			require.ElementsMatch(t, []any{a.ModelBucket, a.BackupBucket}, buckets)
			for _, sse := range mocks.OfType("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2") {
				require.Equal(t, "aws:kms", sse.Get("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm"))
			}
			for _, v := range mocks.OfType("aws:s3/bucketVersioningV2:BucketVersioningV2") {
				require.Equal(t, "Enabled", v.Get("versioningConfiguration.status"))
			}
			for _, block := range mocks.OfType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock") {
				for _, f := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
					require.Equal(t, true, block.Get(f), f)
				}
			}
			require.Len(t, mocks.OfType("aws:ecr/repository:Repository"), len(stacks.Images()))

			// Data stores: the seed's recovery settings, multi-AZ in prod.
			db := one(t, mocks, "aws:rds/instance:Instance")
			require.Equal(t, prod, db.Get("multiAz"))
			require.GreaterOrEqual(t, db.Get("backupRetentionPeriod"), float64(7), "point-in-time recovery (RPO about 5 minutes)")
			require.Equal(t, true, db.Get("deletionProtection"))
			require.Equal(t, true, db.Get("storageEncrypted"))
			require.Equal(t, false, db.Get("publiclyAccessible"))
			cache := one(t, mocks, "aws:elasticache/replicationGroup:ReplicationGroup")
			require.Equal(t, true, cache.Get("transitEncryptionEnabled"))
			require.Equal(t, true, cache.Get("atRestEncryptionEnabled"))
			require.Equal(t, prod, cache.Get("automaticFailoverEnabled"))
			require.Equal(t, prod, cache.Get("multiAzEnabled"))
			require.Equal(t, float64(map[bool]int{true: 3, false: 1}[prod]), cache.Get("numCacheClusters"))
			require.True(t, cache.Inputs["authToken"].IsSecret(), "the AUTH token is a secret in state")
			require.Equal(t, pulumitest.GeneratedPassword("credential-redis-password", 32), cache.Get("authToken"), "the generated token")
			kafka := one(t, mocks, "aws:msk/cluster:Cluster")
			require.Equal(t, float64(a.Kafka.Brokers), kafka.Get("numberOfBrokerNodes"))
			require.Equal(t, true, kafka.Get("clientAuthentication.sasl.iam"))
			require.Equal(t, false, kafka.Get("clientAuthentication.unauthenticated"))
			require.Equal(t, "TLS", kafka.Get("encryptionInfo.encryptionInTransit.clientBroker"))
			require.Equal(t, keyARN, kafka.Get("encryptionInfo.encryptionAtRestKmsKeyArn"))
			docs := one(t, mocks, "aws:docdb/cluster:Cluster")
			require.Equal(t, true, docs.Get("storageEncrypted"))
			require.Equal(t, true, docs.Get("manageMasterUserPassword"))
			require.Nil(t, docs.Get("masterPassword"))
			require.Len(t, mocks.OfType("aws:docdb/clusterInstance:ClusterInstance"), a.DocumentDB.Instances)
			require.Equal(t, "tls", one(t, mocks, "aws:docdb/clusterParameterGroup:ClusterParameterGroup").Get("parameters.0.name"))

			// IRSA: one role per service that calls AWS, pinned to its
			// service account; the ServiceAccount carries the role.
			ns := cfg.Environment.AppNamespace()
			roles := map[string]map[string]any{}
			for _, r := range mocks.OfType("aws:iam/role:Role") {
				if !strings.HasPrefix(r.Name, "irsa-") {
					continue
				}
				svc := strings.TrimPrefix(r.Name, "irsa-")
				ns := ns
				switch {
				case strings.HasPrefix(svc, "vault"):
					ns = stacks.SecurityNamespace // Vault's server and snapshot job
				case svc == "cert-manager":
					ns = stacks.CertManagerNamespace
				case svc == clusteraddons.LoadBalancerAccount || svc == clusteraddons.AutoscalerAccount:
					ns = clusteraddons.SystemNamespace
				}
				st := policyDoc(t, r.Get("assumeRolePolicy"))["Statement"].([]any)[0].(map[string]any)
				eq := st["Condition"].(map[string]any)["StringEquals"].(map[string]any)
				for k, v := range eq {
					switch {
					case strings.HasSuffix(k, ":sub"):
						require.Equal(t, "system:serviceaccount:"+ns+":"+svc, v)
					case strings.HasSuffix(k, ":aud"):
						require.Equal(t, "sts.amazonaws.com", v)
					}
				}
				require.Len(t, eq, 2)
				pol, ok := mocks.Find("aws:iam/rolePolicy:RolePolicy", r.Name)
				require.True(t, ok, r.Name)
				roles[svc] = policyDoc(t, pol.Get("policy"))
			}
			require.ElementsMatch(t, []string{catalog.Fraud, catalog.Orchestrator, catalog.Notifications, catalog.Transactions, catalog.Analytics, "vault", "vault-snapshot", "cert-manager",
				clusteraddons.LoadBalancerAccount, clusteraddons.AutoscalerAccount}, keysOf(roles))
			// The AWS controllers read anything (AWS has no resource-level
			// reads) but change only what is tagged as this cluster's, or
			// what they create with that tag.
			for _, svc := range []string{clusteraddons.LoadBalancerAccount, clusteraddons.AutoscalerAccount} {
				for _, s := range roles[svc]["Statement"].([]any) {
					st := s.(map[string]any)
					reads := true
					for _, act := range st["Action"].([]any) {
						verb := strings.SplitN(act.(string), ":", 2)[1]
						reads = reads && (strings.HasPrefix(verb, "Describe") || strings.HasPrefix(verb, "List") || strings.HasPrefix(verb, "Get"))
					}
					if !reads {
						_, conditioned := st["Condition"]
						require.True(t, conditioned || !slices.Contains(st["Resource"].([]any), any("*")), "%s: %v changes anything untagged", svc, st["Action"])
					}
				}
			}
			b, err := json.Marshal(roles[clusteraddons.AutoscalerAccount])
			require.NoError(t, err)
			require.Contains(t, string(b), `"aws:ResourceTag/k8s.io/cluster-autoscaler/`+cfg.ClusterName()+`":"owned"`, "it resizes this cluster's node groups only")
			actions := func(svc string) map[string][]string {
				out := map[string][]string{}
				for _, s := range roles[svc]["Statement"].([]any) {
					st := s.(map[string]any)
					for _, act := range st["Action"].([]any) {
						require.NotEqual(t, "*", act)
						for _, res := range st["Resource"].([]any) {
							require.NotEqual(t, "*", res)
							out[act.(string)] = append(out[act.(string)], res.(string))
						}
					}
				}
				return out
			}
			bucket := "arn:aws:s3:::" + a.ModelBucket
			require.Equal(t, []string{bucket + "/fraud/*"}, actions(catalog.Fraud)["s3:GetObject"], "fraud reads its models")
			require.NotContains(t, actions(catalog.Fraud), "s3:PutObject")
			require.Equal(t, []string{bucket + "/*"}, actions(catalog.Orchestrator)["s3:PutObject"], "the orchestrator publishes models")
			require.Contains(t, actions(catalog.Notifications), "ses:SendRawEmail")
			require.Equal(t, []string{"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"}, slices.Sorted(maps.Keys(actions("vault"))), "Vault may only use a key, for its seal")
			require.Contains(t, policyDoc(t, mustFind(t, mocks, "aws:iam/rolePolicy:RolePolicy", "irsa-vault").Get("policy")), "Statement")
			require.Equal(t, []string{"arn:aws:s3:::" + a.BackupBucket + "/vault/*"}, actions("vault-snapshot")["s3:PutObject"], "snapshots go to Vault's folder of the backup bucket only")
			zone := "arn:aws:route53:::hostedzone/" + pulumitest.HostedZoneID
			require.Equal(t, map[string][]string{"route53:ChangeResourceRecordSets": {zone}, "route53:ListResourceRecordSets": {zone}, "route53:GetChange": {"arn:aws:route53:::change/*"}},
				actions("cert-manager"), "cert-manager writes records in the API's zone only")
			for _, st := range roles["cert-manager"]["Statement"].([]any) {
				st := st.(map[string]any)
				if slices.Contains(st["Action"].([]any), any("route53:ChangeResourceRecordSets")) {
					cond := st["Condition"].(map[string]any)
					require.Equal(t, "_acme-challenge.*", cond["ForAllValues:StringLike"].(map[string]any)["route53:ChangeResourceRecordSetsNormalizedRecordNames"])
					require.Equal(t, "TXT", cond["ForAllValues:StringEquals"].(map[string]any)["route53:ChangeResourceRecordSetsRecordTypes"])
				}
			}
			require.Contains(t, actions(catalog.Transactions), "kafka-cluster:WriteData")
			require.NotContains(t, actions(catalog.Transactions), "kafka-cluster:ReadData")
			for _, sa := range mocks.OfType("kubernetes:core/v1:ServiceAccount") {
				name := sa.Get("metadata.name").(string)
				ann, _ := sa.Get("metadata.annotations").(map[string]any)
				if _, ok := roles[name]; ok {
					require.Equal(t, "arn:aws:iam::"+pulumitest.AWSAccount+":role/irsa-"+name, ann["eks.amazonaws.com/role-arn"], name)
				} else {
					require.Nil(t, ann["eks.amazonaws.com/role-arn"], "%s calls no AWS API", name)
				}
			}

			// The managed stores' endpoints reach the services' ConfigMaps.
			cm := func(svc string) map[string]any {
				r, ok := mocks.Find("kubernetes:core/v1:ConfigMap", svc+"-config")
				require.True(t, ok)
				return r.Get("data").(map[string]any)
			}
			tx := cm(catalog.Transactions)
			require.Equal(t, "postgres.abc123."+a.Region+".rds.amazonaws.com", tx["DATABASE_HOST"])
			users := cm(catalog.Users)
			require.Equal(t, "master.redis.abc123.euw1.cache.amazonaws.com:6379", users["REDIS_ADDR"])
			require.Equal(t, "true", users["REDIS_TLS"])
			require.Contains(t, tx["KAFKA_BROKERS"], ":9098,")
			require.Equal(t, "AWS_MSK_IAM", tx["KAFKA_SASL_MECHANISM"])
			require.Contains(t, cm(catalog.Analytics)["MONGODB_URI"], "mongodb://documentdb.cluster-abc123."+a.Region+".docdb.amazonaws.com:27017/intelliflow?tls=true")
			for _, np := range mocks.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy") {
				if np.Get("metadata.name") != catalog.Transactions {
					continue
				}
				b, _ := json.Marshal(np.Get("spec.egress"))
				require.Contains(t, string(b), a.VPCCIDR, "stores are reached inside the VPC")
				require.NotContains(t, string(b), "172.16.0.0/12")
			}

			requireNoPlaintextCredentials(t, mocks, cfg)
		})
	}
}

func mustFind(t *testing.T, mocks *pulumitest.Mocks, typ, name string) pulumitest.Resource {
	t.Helper()
	r, ok := mocks.Find(typ, name)
	require.True(t, ok, "%s %s", typ, name)
	return r
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// requireNoPlaintextCredentials walks every input of every resource: a
// credential's value may appear only inside a secret, so it is encrypted
// in state.
func requireNoPlaintextCredentials(t *testing.T, mocks *pulumitest.Mocks, cfg stacks.Config) {
	t.Helper()
	secrets := map[string]bool{"mock-master-password-0123": true} // the RDS master password (pulumitest.MasterSecret)
	for _, v := range cfg.Credentials {
		secrets[v] = true
	}
	for _, p := range mocks.OfType(pulumitest.RandomPasswordType) {
		secrets[pulumitest.GeneratedPassword(p.Name, int(p.Get("length").(float64)))] = true
	}
	var walk func(where string, v resource.PropertyValue)
	walk = func(where string, v resource.PropertyValue) {
		switch {
		case v.IsSecret():
			return
		case v.IsString():
			for s := range secrets {
				require.NotContains(t, v.StringValue(), s, "%s holds a credential in plain text", where)
			}
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(where, e)
			}
		case v.IsObject():
			for k, e := range v.ObjectValue() {
				walk(where+"."+string(k), e)
			}
		case v.IsOutput() && v.OutputValue().Known:
			if !v.OutputValue().Secret {
				walk(where, v.OutputValue().Element)
			}
		}
	}
	for _, r := range mocks.Resources() {
		for k, v := range r.Inputs {
			walk(r.Type+" "+r.Name+" "+string(k), v)
		}
	}
}

// TestFoundationInvokes: the region and zones come from AWS, and a
// mismatch is a clear error before anything is created.
func TestFoundationInvokes(t *testing.T) {
	f, err := stacks.ReadFile("../Pulumi.staging.yaml")
	require.NoError(t, err)
	values := f.Values()
	values["intelliflow:credentials"] = testCredentials()
	for _, tt := range []struct {
		name string
		aws  pulumitest.AWS
		want string
	}{
		{"other region", pulumitest.AWS{Region: "us-east-1", Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"}}, "config intelliflow:aws.region is eu-west-1 but the AWS provider is in us-east-1"},
		{"too few zones", pulumitest.AWS{Region: "eu-west-1", Zones: []string{"eu-west-1a", "eu-west-1b"}}, "config intelliflow:aws.zones is 3 but eu-west-1 has 2 available zones (eu-west-1a, eu-west-1b)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "staging", Config: values, Mocks: pulumitest.NewAWSMocks(tt.aws)}, Run)
			require.ErrorContains(t, err, tt.want)
			for _, r := range mocks.Resources() {
				require.Contains(t, r.Type, "pulumi:providers:", "nothing but the providers exists: %s", r.Type)
			}
		})
	}
}

// TestKafkaTopicsMatchConfig keeps the IAM grants and the services' topics
// in step: a service is granted exactly the topics its config names.
func TestKafkaTopicsMatchConfig(t *testing.T) {
	for name, access := range kafkaAccess {
		svc, err := catalog.Get(name)
		require.NoError(t, err)
		var configured []string
		for k, v := range svc.Config {
			if strings.HasPrefix(k, "KAFKA_TOPIC_") {
				configured = append(configured, v)
			}
		}
		all := append(append(append([]string{}, access.Read...), access.Write...), access.Own...)
		require.ElementsMatch(t, configured, slices.Compact(slices.Sorted(slices.Values(all))), name)
		if len(access.Read) > 0 && access.Group != "" {
			require.Equal(t, name, access.Group, "a consumer reads as its own group")
		}
	}
	for _, svc := range catalog.All() {
		if slices.Contains(svc.Stores, catalog.Kafka) {
			require.Contains(t, kafkaAccess, svc.Name, "%s uses Kafka but has no grant", svc.Name)
		}
	}
}

// TestGeneratedCredentials: a stack with AWS generates the credentials
// nobody needs to choose, as secrets through an explicit random provider,
// and every reader gets the same generated value; one the team sets wins;
// dev generates nothing.
func TestGeneratedCredentials(t *testing.T) {
	run := func(t *testing.T, stack string, creds string) *pulumitest.Mocks {
		values, cfg := stackConfig(t, stack)
		if creds != "" {
			values["intelliflow:credentials"] = creds
		}
		return runValues(t, stack, values, cfg, false)
	}

	mocks := run(t, "staging", "")
	passwords := mocks.OfType(pulumitest.RandomPasswordType)
	require.Len(t, passwords, len(stacks.GeneratedCredentialKeys))
	mustFind(t, mocks, "pulumi:providers:random", "random")
	for _, key := range stacks.GeneratedCredentialKeys {
		p := mustFind(t, mocks, pulumitest.RandomPasswordType, "credential-"+key)
		require.Equal(t, false, p.Get("special"), key)
		require.GreaterOrEqual(t, p.Get("length"), 32.0, key)
		require.Contains(t, p.Provider, "pulumi:providers:random::random", "the stacks disable default providers")
	}
	generated := func(key string) string {
		p := mustFind(t, mocks, pulumitest.RandomPasswordType, "credential-"+key)
		return pulumitest.GeneratedPassword(p.Name, int(p.Get("length").(float64)))
	}
	require.Len(t, generated("jwt-signing-key"), 64, "an HMAC-SHA256 key")

	// Every reader gets the generated value, as a secret.
	grafana := mustFind(t, mocks, "kubernetes:core/v1:Secret", "monitoring-grafana-admin")
	require.True(t, grafana.Inputs["stringData"].ContainsSecrets())
	require.Equal(t, generated("grafana-admin-password"), grafana.Get("stringData.admin-password"))
	jenkins := mustFind(t, mocks, "kubernetes:core/v1:Secret", "jenkins-admin")
	require.Equal(t, generated(stacks.JenkinsAdminKey), jenkins.Get("stringData.jenkins-admin-password"))
	require.Equal(t, generated("redis-password"), one(t, mocks, "aws:elasticache/replicationGroup:ReplicationGroup").Get("authToken"))
	users := mustFind(t, mocks, "vault:kv/secretV2:SecretV2", "vault-config-kv-"+catalog.Users)
	var kv map[string]string
	require.NoError(t, json.Unmarshal([]byte(users.Get("dataJson").(string)), &kv))
	require.Equal(t, generated("jwt-signing-key"), kv["jwt-signing-key"])
	require.Equal(t, generated("redis-password"), kv["redis-password"], "the services read the token ElastiCache has")

	// A credential the team sets is used, not generated.
	var set map[string]string
	require.NoError(t, json.Unmarshal([]byte(testCredentials(stacks.GeneratedCredentialKeys...)), &set))
	set["grafana-admin-password"] = "chosen-by-the-team"
	b, err := json.Marshal(set)
	require.NoError(t, err)
	mocks = run(t, "staging", string(b))
	require.Len(t, mocks.OfType(pulumitest.RandomPasswordType), len(stacks.GeneratedCredentialKeys)-1)
	require.Equal(t, "chosen-by-the-team", mustFind(t, mocks, "kubernetes:core/v1:Secret", "monitoring-grafana-admin").Get("stringData.admin-password"))

	// Dev keeps its committed dev-only values.
	require.Empty(t, run(t, "dev", "").OfType(pulumitest.RandomPasswordType))
}

// TestClusterAddons: wherever charts go, the ingress controller (allowed
// our security headers) and metrics-server; on AWS also the Load Balancer
// Controller and the autoscaler, each with its IRSA role and this cluster.
func TestClusterAddons(t *testing.T) {
	for _, stack := range []string{"charts", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, cfg := runStack(t, stack, false)
			charts := map[string]pulumitest.Resource{}
			for _, r := range mocks.OfType("kubernetes:helm.sh/v4:Chart") {
				if strings.HasPrefix(r.Name, "addons-") {
					charts[strings.TrimPrefix(r.Name, "addons-")] = r
				}
			}
			want := []string{"ingress-nginx", "metrics-server"}
			if cfg.AWS != nil {
				want = append(want, "aws-load-balancer-controller", "cluster-autoscaler")
			}
			require.ElementsMatch(t, want, keysOf(charts))
			nginx := charts["ingress-nginx"]
			require.Equal(t, stacks.IngressNamespace, nginx.Get("namespace"))
			allowed := strings.Split(nginx.Get("values.controller.config.global-allowed-response-headers").(string), ",")
			require.ElementsMatch(t, slices.Collect(maps.Keys(ingress.SecurityHeaders)), allowed, "every header the Ingress adds, or nginx drops it")
			require.Equal(t, true, nginx.Get("values.controller.admissionWebhooks.certManager.enabled"))
			require.Equal(t, "kube-system", charts["metrics-server"].Get("namespace"))
			require.GreaterOrEqual(t, charts["metrics-server"].Get("values.replicas"), 2.0)
			if cfg.AWS == nil {
				return
			}
			lb := charts["aws-load-balancer-controller"]
			require.Equal(t, cfg.ClusterName(), lb.Get("values.clusterName"))
			require.Equal(t, "arn:aws:iam::"+pulumitest.AWSAccount+":role/irsa-aws-load-balancer-controller", lb.Get("values.serviceAccount.annotations").(map[string]any)["eks.amazonaws.com/role-arn"])
			ca := charts["cluster-autoscaler"]
			require.Equal(t, cfg.ClusterName(), ca.Get("values.autoDiscovery.clusterName"))
			require.Equal(t, cfg.AWS.Region, ca.Get("values.awsRegion"))
		})
	}
}
