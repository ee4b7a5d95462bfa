package rules

import (
	"fmt"
	"strings"
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

// vaultStatefulSet is the Vault chart's server StatefulSet, reduced to what
// VLT-01 reads: scheme is VAULT_ADDR's, dev adds the dev flag and token.
func vaultStatefulSet(replicas int, scheme, dev string) string {
	token := ""
	if dev != "" {
		token = "\n        - {name: VAULT_DEV_ROOT_TOKEN_ID, value: root}"
	}
	return fmt.Sprintf(`metadata: {name: vault, namespace: intelliflow-security}
spec:
  replicas: %d
  template:
    spec:
      containers:
      - name: vault
        command: [/bin/sh, -ec]
        args: ["/usr/local/bin/docker-entrypoint.sh vault server -config=/tmp/storageconfig.hcl %s"]
        env:
        - {name: VAULT_ADDR, value: "%s://127.0.0.1:8200"}%s
        volumeMounts:
        - {name: data, mountPath: /vault/data}
        - {name: audit, mountPath: /vault/audit}
  volumeClaimTemplates:
  - metadata: {name: data}
  - metadata: {name: audit}
`, replicas, dev, scheme, token)
}

// vaultConfigMap is the chart's server configuration with seal appended.
func vaultConfigMap(seal string) string {
	return fmt.Sprintf(`metadata: {name: vault-config, namespace: intelliflow-security}
data:
  extraconfig-from-values.hcl: |
    listener "tcp" {
      address = "[::]:8200"
      tls_cert_file = "/vault/userconfig/tls/tls.crt"
    }
    storage "raft" {
      path = "/vault/data"
    }
    %s
`, seal)
}

func awsFixtures() []fixture {
	return []fixture{
		{"AWS-01-private-endpoint", "private cluster", eksClusterType, goodCluster(), nil, nil},
		{"AWS-01-private-endpoint", "public to the internet", eksClusterType, with(goodCluster(), func(c m) {
			c["vpcConfig"] = m{"endpointPrivateAccess": false, "endpointPublicAccess": true, "publicAccessCidrs": []any{"0.0.0.0/0"}}
		}), []string{"endpointPrivateAccess", "0.0.0.0/0 opens the API"}, nil},
		{"AWS-02-secrets-encryption", "no encryption", eksClusterType, with(goodCluster(), func(c m) { delete(c, "encryptionConfig") }), []string{"Secrets are stored unencrypted"}, nil},
		{"AWS-03-control-plane-logs", "no audit log", eksClusterType, with(goodCluster(), func(c m) { c["enabledClusterLogTypes"] = []any{"api"} }), []string{"missing audit, authenticator, controllerManager, scheduler"}, nil},
		{"AWS-04-access-entries", "aws-auth and creator admin", eksClusterType, with(goodCluster(), func(c m) { c["accessConfig"] = m{"authenticationMode": "CONFIG_MAP"} }), []string{`"CONFIG_MAP"`, "bootstrapClusterCreatorAdminPermissions"}, nil},
		{"AWS-05-nodes", "ssh node group", eksNodeGroupType, m{"remoteAccess": m{"ec2SshKey": "ops"}}, []string{"SSH", "launchTemplate"}, nil},
		{"AWS-05-nodes", "IMDSv1 template", launchTemplateType, m{"metadataOptions": m{"httpTokens": "optional", "httpPutResponseHopLimit": 2}}, []string{"httpTokens", "httpPutResponseHopLimit"}, nil},
		{"AWS-05-nodes", "IMDSv2 template", launchTemplateType, m{"metadataOptions": m{"httpTokens": "required", "httpPutResponseHopLimit": 1}}, nil, nil},
		{"AWS-05-nodes", "public node address", launchTemplateType, m{"metadataOptions": m{"httpTokens": "required", "httpPutResponseHopLimit": 1}, "networkInterfaces": []any{m{"associatePublicIpAddress": "true"}}}, []string{"associatePublicIpAddress"}, nil},
		{"AWS-05-nodes", "public private subnet", "aws:ec2/subnet:Subnet", m{"mapPublicIpOnLaunch": true, "tags": m{PrivateSubnetTag: "1"}}, []string{"mapPublicIpOnLaunch"}, nil},
		{"AWS-05-nodes", "public subnet for load balancers", "aws:ec2/subnet:Subnet", m{"mapPublicIpOnLaunch": true, "tags": m{"kubernetes.io/role/elb": "1"}}, nil, nil},
		{"AWS-06-irsa", "pinned IRSA role", iamRoleType, m{"assumeRolePolicy": trustWith(`"system:serviceaccount:intelliflow-prod:fraud"`)}, nil, nil},
		{"AWS-06-irsa", "wildcard subject", iamRoleType, m{"assumeRolePolicy": trustWith(`"system:serviceaccount:intelliflow-prod:*"`)}, []string{"pin <issuer>:sub"}, nil},
		{"AWS-06-irsa", "two apps one role", iamRoleType, m{"assumeRolePolicy": trustWith(`["system:serviceaccount:a:b","system:serviceaccount:a:c"]`)}, []string{"lists 2 subjects", "pin <issuer>:sub"}, nil},
		{"AWS-06-irsa", "admin policy", "aws:iam/policy:Policy", m{"policy": `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`}, []string{"allows * on *"}, nil},
		{"AWS-07-ecr", "mutable unscanned", ecrRepositoryType, m{"imageTagMutability": "MUTABLE"}, []string{"IMMUTABLE", "scanOnPush", "KMS"}, nil},
		{"AWS-07-ecr", "good repository", ecrRepositoryType, m{"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": m{"scanOnPush": true}, "encryptionConfigurations": []any{m{"encryptionType": "KMS"}}}, nil, nil},
		{"AWS-09-databases", "open database", rdsInstanceType, m{"publiclyAccessible": true, "backupRetentionPeriod": 1}, []string{"storageEncrypted", "publiclyAccessible", "backupRetentionPeriod", "deletionProtection", "multiAz"}, nil},
		{"AWS-09-databases", "good database", rdsInstanceType, m{"storageEncrypted": true, "publiclyAccessible": false, "backupRetentionPeriod": 7, "deletionProtection": true, "multiAz": true}, nil, nil},
		{"AWS-06-irsa", "inline admin policy", "aws:iam/rolePolicy:RolePolicy", m{"policy": `{"Statement":[{"Effect":"Allow","Action":["s3:GetObject","*"],"Resource":["*"]}]}`}, []string{"policy.Statement[0]: allows * on *"}, nil},
		{"AWS-06-irsa", "scoped inline policy", "aws:iam/rolePolicy:RolePolicy", m{"policy": `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::models/fraud/*"}]}`}, nil, nil},
		{"AWS-09-databases", "open Aurora cluster", rdsClusterType, m{"storageEncrypted": false, "backupRetentionPeriod": 3}, []string{"storageEncrypted", "backupRetentionPeriod", "deletionProtection"}, nil},
		{"AWS-09-databases", "good Aurora cluster", rdsClusterType, m{"storageEncrypted": true, "backupRetentionPeriod": 14, "deletionProtection": true}, nil, nil},
		{"AWS-09-databases", "unprotected DocumentDB", docdbClusterType, m{"storageEncrypted": true, "backupRetentionPeriod": 1}, []string{"backupRetentionPeriod", "deletionProtection"}, nil},
		{"AWS-09-databases", "good DocumentDB", docdbClusterType, m{"storageEncrypted": true, "backupRetentionPeriod": 14, "deletionProtection": true}, nil, nil},
		{"AWS-09-databases", "single-AZ database outside prod", rdsInstanceType, m{"storageEncrypted": true, "backupRetentionPeriod": 7, "deletionProtection": true},
			nil, &Settings{PodSecurityVersion: "v1.33", Production: false}},
		{"AWS-10-kms-and-ingress", "no rotation", kmsKeyType, m{"enableKeyRotation": false}, []string{"enableKeyRotation"}, nil},
		{"AWS-10-kms-and-ingress", "ssh from the internet", "aws:ec2/securityGroup:SecurityGroup", m{"ingress": []any{m{"fromPort": 22, "toPort": 22, "cidrBlocks": []any{"0.0.0.0/0"}}}}, []string{"admits the internet on ports 22-22"}, nil},
		{"AWS-10-kms-and-ingress", "rotating key", kmsKeyType, m{"enableKeyRotation": true}, nil, nil},
		{"AWS-10-kms-and-ingress", "postgres rule open to the internet", "aws:ec2/securityGroupRule:SecurityGroupRule",
			m{"type": "ingress", "fromPort": 5432, "toPort": 5432, "ipv6CidrBlocks": []any{"::/0"}}, []string{"cidrBlocks: admits the internet on ports 5432-5432"}, nil},
		{"AWS-10-kms-and-ingress", "egress rule to the internet", "aws:ec2/securityGroupRule:SecurityGroupRule",
			m{"type": "egress", "fromPort": 443, "toPort": 443, "cidrBlocks": []any{"0.0.0.0/0"}}, nil, nil},
		{"AWS-10-kms-and-ingress", "VPC-only rule", "aws:ec2/securityGroupRule:SecurityGroupRule",
			m{"type": "ingress", "fromPort": 5432, "toPort": 5432, "cidrBlocks": []any{"10.30.0.0/16"}}, nil, nil},
		{"AWS-10-kms-and-ingress", "public LB on 443", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", m{"fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0", "tags": m{PublicLBTag: "true"}}, nil, nil},
		{"AWS-10-kms-and-ingress", "public LB on 80", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", m{"fromPort": 80, "toPort": 80, "cidrIpv4": "0.0.0.0/0", "tags": m{PublicLBTag: "true"}}, []string{"ports 80-80"}, nil},
		{"VLT-01-vault", "production vault", "kubernetes:helm.sh/v4:Chart", goodVault(), nil, nil},
		{"VLT-01-vault", "dev mode vault", "kubernetes:helm.sh/v4:Chart", m{"chart": "hashicorp/vault", "values": m{"server": m{"dev": m{"enabled": true, "devRootToken": "root"}}}}, []string{
			"dev mode", "tlsDisable", "enable HA", "replicas", `seal "awskms"`, "auditStorage", "root or dev token",
		}, nil},
		{"VLT-01-vault", "helm v3 Release in dev mode", "kubernetes:helm.sh/v3:Release", m{"chart": "vault", "values": m{"server": m{"dev": m{"enabled": true}}}}, []string{
			"dev mode", "tlsDisable", "enable HA", "replicas", `seal "awskms"`, "auditStorage",
		}, nil},
		{"VLT-01-vault", "helm v3 Chart without HA", "kubernetes:helm.sh/v3:Chart", with(goodVault(), func(v m) {
			v["values"].(m)["server"].(m)["ha"] = m{"enabled": false}
		}), []string{"enable HA", "replicas", `seal "awskms"`}, nil},
		{"VLT-01-vault", "other charts are not Vault", "kubernetes:helm.sh/v4:Chart", m{"chart": "ingress-nginx"}, nil, nil},
		{"VLT-01-vault", "Shamir seal without AWS", "kubernetes:helm.sh/v4:Chart", with(goodVault(), func(v m) {
			v["values"].(m)["server"].(m)["ha"].(m)["raft"].(m)["config"] = `storage "raft" {}`
		}), nil, &Settings{PodSecurityVersion: "v1.33", Production: true}},
		// What the chart renders, as the engine shows it to the pack.
		{"VLT-01-vault", "rendered server", statefulSetType, vaultStatefulSet(3, "https", ""), nil, nil},
		{"VLT-01-vault", "rendered dev server", statefulSetType, vaultStatefulSet(1, "http", "-dev"), []string{
			"runs vault server -dev", "env VAULT_DEV_ROOT_TOKEN_ID", "VAULT_ADDR http://", "spec.replicas: 1",
		}, nil},
		{"VLT-01-vault", "rendered server without audit storage", statefulSetType,
			strings.Replace(vaultStatefulSet(3, "https", ""), "mountPath: /vault/audit", "mountPath: /vault/logs", 1), []string{"mounts no audit volume"}, nil},
		{"VLT-01-vault", "one server outside prod", statefulSetType, vaultStatefulSet(1, "https", ""), nil, &Settings{PodSecurityVersion: "v1.33"}},
		{"VLT-01-vault", "other StatefulSets are not Vault", statefulSetType, strings.ReplaceAll(vaultStatefulSet(1, "http", "-dev"), "vault server", "redis-server"), nil, nil},
		{"VLT-01-vault", "rendered config", configMapType, vaultConfigMap(`seal "awskms" {}`), nil, nil},
		{"VLT-01-vault", "rendered config, plain HTTP, file storage, Shamir", configMapType,
			strings.Replace(strings.Replace(vaultConfigMap(""), `storage "raft"`, `storage "file"`, 1), "tls_cert_file", "tls_disable = 1\n      tls_cert_file", 1), []string{
				"tls_disable", `no storage "raft"`, `no seal "awskms"`,
			}, nil},
		{"VLT-01-vault", "Shamir config without AWS", configMapType, vaultConfigMap(""), nil, &Settings{PodSecurityVersion: "v1.33", Production: true}},
		{"VLT-01-vault", "other ConfigMaps are not Vault", configMapType, "metadata: {name: grafana}\ndata:\n  grafana.ini: 'x'\n", nil, nil},
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
