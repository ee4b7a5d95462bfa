package rules

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

type m = map[string]any

func goodCluster() m {
	return m{
		"vpcConfig":              m{"endpointPrivateAccess": true, "endpointPublicAccess": false},
		"encryptionConfig":       m{"resources": []any{"secrets"}, "provider": m{"keyArn": "arn:aws:kms:eu-west-1:123456789012:key/k"}},
		"enabledClusterLogTypes": []any{"api", "audit", "authenticator", "controllerManager", "scheduler"},
		"accessConfig":           m{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": false},
	}
}

func with(base m, mutate func(m)) m { mutate(base); return base }

const trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity",
"Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"},
"Condition":{"StringEquals":{"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub":%s,"oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud":"sts.amazonaws.com"}}}]}`

func trustWith(sub string) string { return fmt.Sprintf(trust, sub) }

func goodVault() m {
	return m{"chart": "vault", "values": m{
		"global": m{"tlsDisable": false},
		"server": m{
			"ha":           m{"enabled": true, "replicas": 3, "raft": m{"enabled": true, "config": "seal \"awskms\" {\n region = \"eu-west-1\"\n}\n"}},
			"auditStorage": m{"enabled": true},
		},
	}}
}

func awsFixtures() []fixture {
	return []fixture{
		{"AWS-01", "private cluster", eksClusterType, goodCluster(), nil},
		{"AWS-01", "public to the internet", eksClusterType, with(goodCluster(), func(c m) {
			c["vpcConfig"] = m{"endpointPrivateAccess": false, "endpointPublicAccess": true, "publicAccessCidrs": []any{"0.0.0.0/0"}}
		}), []string{"endpointPrivateAccess", "0.0.0.0/0 opens the API"}},
		{"AWS-02", "no encryption", eksClusterType, with(goodCluster(), func(c m) { delete(c, "encryptionConfig") }), []string{"Secrets are stored unencrypted"}},
		{"AWS-03", "no audit log", eksClusterType, with(goodCluster(), func(c m) { c["enabledClusterLogTypes"] = []any{"api"} }), []string{"missing audit, authenticator, controllerManager, scheduler"}},
		{"AWS-04", "aws-auth and creator admin", eksClusterType, with(goodCluster(), func(c m) { c["accessConfig"] = m{"authenticationMode": "CONFIG_MAP"} }), []string{`"CONFIG_MAP"`, "bootstrapClusterCreatorAdminPermissions"}},
		{"AWS-05", "ssh node group", eksNodeGroupType, m{"remoteAccess": m{"ec2SshKey": "ops"}}, []string{"SSH", "launchTemplate"}},
		{"AWS-05", "IMDSv1 template", launchTemplateType, m{"metadataOptions": m{"httpTokens": "optional", "httpPutResponseHopLimit": 2}}, []string{"httpTokens", "httpPutResponseHopLimit"}},
		{"AWS-05", "IMDSv2 template", launchTemplateType, m{"metadataOptions": m{"httpTokens": "required", "httpPutResponseHopLimit": 1}}, nil},
		{"AWS-05", "public node address", launchTemplateType, m{"metadataOptions": m{"httpTokens": "required", "httpPutResponseHopLimit": 1}, "networkInterfaces": []any{m{"associatePublicIpAddress": "true"}}}, []string{"associatePublicIpAddress"}},
		{"AWS-05", "public private subnet", "aws:ec2/subnet:Subnet", m{"mapPublicIpOnLaunch": true, "tags": m{PrivateSubnetTag: "1"}}, []string{"mapPublicIpOnLaunch"}},
		{"AWS-05", "public subnet for load balancers", "aws:ec2/subnet:Subnet", m{"mapPublicIpOnLaunch": true, "tags": m{"kubernetes.io/role/elb": "1"}}, nil},
		{"AWS-06", "pinned IRSA role", iamRoleType, m{"assumeRolePolicy": trustWith(`"system:serviceaccount:intelliflow-prod:fraud"`)}, nil},
		{"AWS-06", "wildcard subject", iamRoleType, m{"assumeRolePolicy": trustWith(`"system:serviceaccount:intelliflow-prod:*"`)}, []string{"pin <issuer>:sub"}},
		{"AWS-06", "two apps one role", iamRoleType, m{"assumeRolePolicy": trustWith(`["system:serviceaccount:a:b","system:serviceaccount:a:c"]`)}, []string{"lists 2 subjects", "pin <issuer>:sub"}},
		{"AWS-06", "admin policy", "aws:iam/policy:Policy", m{"policy": `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`}, []string{"allows * on *"}},
		{"AWS-07", "mutable unscanned", ecrRepositoryType, m{"imageTagMutability": "MUTABLE"}, []string{"IMMUTABLE", "scanOnPush", "KMS"}},
		{"AWS-07", "good repository", ecrRepositoryType, m{"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": m{"scanOnPush": true}, "encryptionConfigurations": []any{m{"encryptionType": "KMS"}}}, nil},
		{"AWS-09", "open database", rdsInstanceType, m{"publiclyAccessible": true, "backupRetentionPeriod": 1}, []string{"storageEncrypted", "publiclyAccessible", "backupRetentionPeriod", "deletionProtection", "multiAz"}},
		{"AWS-09", "good database", rdsInstanceType, m{"storageEncrypted": true, "publiclyAccessible": false, "backupRetentionPeriod": 7, "deletionProtection": true, "multiAz": true}, nil},
		{"AWS-10", "no rotation", kmsKeyType, m{"enableKeyRotation": false}, []string{"enableKeyRotation"}},
		{"AWS-10", "ssh from the internet", "aws:ec2/securityGroup:SecurityGroup", m{"ingress": []any{m{"fromPort": 22, "toPort": 22, "cidrBlocks": []any{"0.0.0.0/0"}}}}, []string{"admits the internet on ports 22-22"}},
		{"AWS-10", "public LB on 443", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", m{"fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0", "tags": m{PublicLBTag: "true"}}, nil},
		{"AWS-10", "public LB on 80", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", m{"fromPort": 80, "toPort": 80, "cidrIpv4": "0.0.0.0/0", "tags": m{PublicLBTag: "true"}}, []string{"ports 80-80"}},
		{"VLT-01", "production vault", "kubernetes:helm.sh/v4:Chart", goodVault(), nil},
		{"VLT-01", "dev mode vault", "kubernetes:helm.sh/v4:Chart", m{"chart": "hashicorp/vault", "values": m{"server": m{"dev": m{"enabled": true, "devRootToken": "root"}}}}, []string{
			"dev mode", "tlsDisable", "enable HA", "replicas", `seal "awskms"`, "auditStorage", "root or dev token",
		}},
		{"VLT-01", "other charts are not Vault", "kubernetes:helm.sh/v4:Chart", m{"chart": "ingress-nginx"}, nil},
	}
}

func TestAWSFixtures(t *testing.T) {
	all := All(Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, Production: true})
	for _, f := range awsFixtures() {
		t.Run(f.rule+"/"+f.name, func(t *testing.T) { runFixture(t, all, f) })
	}
}

func TestAWS08Buckets(t *testing.T) {
	bucket := m{"bucket": "intelliflow-prod-models"}
	settings := map[string]any{
		publicBlock + "#pab":    m{"bucket": "intelliflow-prod-models", "blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true},
		sseConfigType + "#sse":  m{"bucket": "intelliflow-prod-models", "rules": []any{m{"applyServerSideEncryptionByDefault": m{"sseAlgorithm": "aws:kms"}}}},
		versioningType + "#ver": m{"bucket": "intelliflow-prod-models", "versioningConfiguration": m{"status": "Enabled"}},
		bucketType:              bucket,
	}
	check := func(objs map[string]any) []StackFinding { return AWS08Buckets().Check(stackResources(t, objs)) }
	require.Empty(t, check(settings))

	weak := map[string]any{}
	for k, v := range settings {
		weak[k] = v
	}
	weak[publicBlock+"#pab"] = m{"bucket": "intelliflow-prod-models", "blockPublicAcls": true}
	delete(weak, versioningType+"#ver")
	got := check(weak)
	require.Len(t, got, 1)
	require.Contains(t, got[0].Message, "all four flags")
	require.Contains(t, got[0].Message, "versioning")
	require.NotContains(t, got[0].Message, "SSE-KMS")
}
