package pulumitest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// AWSAccount is the account the AWS mocks answer with (AWS's documentation
// account).
const AWSAccount = "111122223333"

// HostedZoneID is the public Route 53 zone the mocks find.
const HostedZoneID = "Z0MOCKZONE0123456789"

// MasterSecret is the RDS master secret the mocks hold.
const MasterSecret = `{"username":"intelliflow_admin","password":"mock-master-password-0123"}`

// AWS describes the account and region the AWS mocks pretend to be in.
type AWS struct {
	Region string
	// Zones are the region's available zones.
	Zones []string
}

// NewAWSMocks answers the AWS invokes the foundation makes (caller identity,
// partition, region, availability zones) and adds the outputs AWS computes
// (ARNs, endpoints, the EKS OIDC issuer) so that code applying over them
// runs as it would against AWS.
func NewAWSMocks(a AWS) *Mocks {
	obj := func(m map[string]any) resource.PropertyMap { return resource.NewPropertyMapFromMap(m) }
	zones := make([]any, len(a.Zones))
	for i, z := range a.Zones {
		zones[i] = z
	}
	return &Mocks{
		Invokes: map[string]Invoke{
			"aws:index/getCallerIdentity:getCallerIdentity": func(resource.PropertyMap) (resource.PropertyMap, error) {
				return obj(map[string]any{"accountId": AWSAccount, "id": AWSAccount, "arn": "arn:aws:iam::" + AWSAccount + ":role/ci", "userId": "AROATEST"}), nil
			},
			"aws:index/getPartition:getPartition": func(resource.PropertyMap) (resource.PropertyMap, error) {
				return obj(map[string]any{"partition": "aws", "id": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}), nil
			},
			"aws:index/getRegion:getRegion": func(resource.PropertyMap) (resource.PropertyMap, error) {
				return obj(map[string]any{"name": a.Region, "id": a.Region, "endpoint": "ec2." + a.Region + ".amazonaws.com", "description": a.Region}), nil
			},
			// RDS keeps its master credentials in Secrets Manager.
			"aws:secretsmanager/getSecretVersion:getSecretVersion": func(args resource.PropertyMap) (resource.PropertyMap, error) {
				id := args["secretId"]
				if !id.IsString() || !strings.HasPrefix(id.StringValue(), "arn:aws:secretsmanager:") {
					return nil, fmt.Errorf("secretId %v is not a Secrets Manager ARN", id)
				}
				return obj(map[string]any{"id": id.StringValue(), "arn": id.StringValue(), "secretId": id.StringValue(),
					"secretString": MasterSecret, "versionId": "v1", "versionStages": []any{"AWSCURRENT"}}), nil
			},
			// The public zone of the API's host.
			"aws:route53/getZone:getZone": func(args resource.PropertyMap) (resource.PropertyMap, error) {
				if p := args["privateZone"]; !p.IsBool() || p.BoolValue() {
					return nil, fmt.Errorf("ask for the public zone, got privateZone %v", p)
				}
				name := args["name"].StringValue()
				return obj(map[string]any{"id": HostedZoneID, "zoneId": HostedZoneID, "name": name, "privateZone": false, "nameServers": []any{"ns-1.awsdns-01.org"}}), nil
			},
			"aws:index/getAvailabilityZones:getAvailabilityZones": func(args resource.PropertyMap) (resource.PropertyMap, error) {
				if s := args["state"]; !s.IsString() || s.StringValue() != "available" {
					return nil, fmt.Errorf("ask for available zones only, got state %v", s)
				}
				return obj(map[string]any{"names": zones, "id": a.Region, "zoneIds": zones}), nil
			},
		},
		Outputs: func(typ, name string, inputs resource.PropertyMap) resource.PropertyMap {
			if typ == RandomPasswordType {
				return randomPassword(name, inputs)
			}
			return awsOutputs(a.Region, typ, name, inputs)
		},
	}
}

// RandomPasswordType is pulumi-random's password, which the stacks with AWS
// generate their platform credentials with.
const RandomPasswordType = "random:index/randomPassword:RandomPassword"

// randomPassword is what the random provider would compute: a result of the
// asked length (hex digits derived from the name, so tests can tell two
// apart and follow each into its readers), as a secret.
func randomPassword(name string, inputs resource.PropertyMap) resource.PropertyMap {
	n := 16
	if l, ok := inputs["length"]; ok && l.IsNumber() {
		n = int(l.NumberValue())
	}
	return resource.PropertyMap{"result": resource.MakeSecret(resource.NewStringProperty(GeneratedPassword(name, n)))}
}

// GeneratedPassword is the result the mocks give the RandomPassword name
// of length n.
func GeneratedPassword(name string, n int) string {
	sum := sha256.Sum256([]byte(name))
	return strings.Repeat(hex.EncodeToString(sum[:]), n/64+1)[:n]
}

// awsOutputs are the outputs AWS would compute for a resource.
func awsOutputs(region, typ, name string, inputs resource.PropertyMap) resource.PropertyMap {
	if !strings.HasPrefix(typ, "aws:") || strings.HasPrefix(typ, "aws:index/") {
		return nil
	}
	out := map[string]any{}
	if _, ok := inputs["arn"]; !ok {
		service := strings.Split(strings.TrimPrefix(typ, "aws:"), "/")[0]
		out["arn"] = fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", service, region, AWSAccount, strings.ToLower(typ[strings.LastIndex(typ, ":")+1:]), name)
	}
	switch typ {
	case "aws:eks/cluster:Cluster":
		out["endpoint"] = "https://" + strings.ToUpper(name) + ".gr7." + region + ".eks.amazonaws.com"
		out["certificateAuthority"] = map[string]any{"data": "LS0tLS1CRUdJTi1tZXN0"}
		out["identities"] = []any{map[string]any{"oidcs": []any{map[string]any{"issuer": "https://oidc.eks." + region + ".amazonaws.com/id/" + strings.ToUpper(name)}}}}
	case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
		out["arn"] = "arn:aws:iam::" + AWSAccount + ":oidc-provider/oidc.eks." + region + ".amazonaws.com/id/" + strings.ToUpper(name)
	case "aws:iam/role:Role":
		out["arn"] = "arn:aws:iam::" + AWSAccount + ":role/" + name
	case "aws:rds/instance:Instance":
		out["address"] = name + ".abc123." + region + ".rds.amazonaws.com"
		out["masterUserSecrets"] = []any{map[string]any{
			"secretArn": "arn:aws:secretsmanager:" + region + ":" + AWSAccount + ":secret:rds!db-" + name, "secretStatus": "active",
		}}
	case "aws:elasticache/replicationGroup:ReplicationGroup":
		out["primaryEndpointAddress"] = "master." + name + ".abc123.euw1.cache.amazonaws.com"
	case "aws:msk/cluster:Cluster":
		out["bootstrapBrokersSaslIam"] = "b-1." + name + ".kafka." + region + ".amazonaws.com:9098,b-2." + name + ".kafka." + region + ".amazonaws.com:9098"
	case "aws:msk/configuration:Configuration":
		out["latestRevision"] = 1
	case "aws:docdb/cluster:Cluster":
		out["endpoint"] = name + ".cluster-abc123." + region + ".docdb.amazonaws.com"
	case "aws:ec2/launchTemplate:LaunchTemplate":
		out["latestVersion"] = 1
	case "aws:kms/key:Key":
		out["keyId"] = "key-" + name
	}
	return resource.NewPropertyMapFromMap(out)
}
