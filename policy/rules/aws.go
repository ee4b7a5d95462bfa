package rules

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Pulumi AWS type tokens the rules check.
const (
	eksClusterType     = "aws:eks/cluster:Cluster"
	eksNodeGroupType   = "aws:eks/nodeGroup:NodeGroup"
	launchTemplateType = "aws:ec2/launchTemplate:LaunchTemplate"
	iamRoleType        = "aws:iam/role:Role"
	ecrRepositoryType  = "aws:ecr/repository:Repository"
	rdsInstanceType    = "aws:rds/instance:Instance"
	rdsClusterType     = "aws:rds/cluster:Cluster"
	docdbClusterType   = "aws:docdb/cluster:Cluster"
	kmsKeyType         = "aws:kms/key:Key"
)

// field reads a known scalar; unknown reports whether it is computed.
type field struct {
	v        property.Value
	present  bool
	computed bool
}

func get(r policyx.AnalyzerResource, path ...string) field {
	v, ok := at(r.Properties, path...)
	return field{v: v, present: ok && !v.IsNull(), computed: ok && v.HasComputed()}
}

func (f field) isTrue() bool  { return f.present && f.v.IsBool() && f.v.AsBool() }
func (f field) isFalse() bool { return f.present && f.v.IsBool() && !f.v.AsBool() }
func (f field) str() string {
	if f.present && f.v.IsString() {
		return f.v.AsString()
	}
	return ""
}
func (f field) num() (float64, bool) {
	if f.present && f.v.IsNumber() {
		return f.v.AsNumber(), true
	}
	return 0, false
}
func (f field) strings() []string {
	if !f.present || !f.v.IsArray() {
		return nil
	}
	var out []string
	for _, e := range f.v.AsArray().AsSlice() {
		if e.IsString() {
			out = append(out, e.AsString())
		}
	}
	return out
}

// awsRule builds a rule for some AWS types; unknown inputs it names are
// reported unchecked first.
func awsRule(name, description string, level policyx.EnforcementLevel, types []string, check func(r policyx.AnalyzerResource) []Finding) Rule {
	return Rule{Name: name, Description: description, Level: level, Types: types, Check: check}
}

// AWS01PrivateEndpoint: the EKS API is private; public access is off or
// limited to named networks, never the internet.
func AWS01PrivateEndpoint() Rule {
	return awsRule("AWS-01-private-endpoint", "AWS-01: EKS API endpoint private; public access off or CIDR-restricted, never 0.0.0.0/0.", policyx.EnforcementLevelMandatory,
		[]string{eksClusterType}, func(r policyx.AnalyzerResource) []Finding {
			vpc := get(r, "vpcConfig")
			if vpc.computed {
				return []Finding{unchecked("vpcConfig is not known yet")}
			}
			var out []Finding
			if !get(r, "vpcConfig", "endpointPrivateAccess").isTrue() {
				out = append(out, violation("vpcConfig.endpointPrivateAccess: set it to true so nodes and operators reach the API inside the VPC"))
			}
			if get(r, "vpcConfig", "endpointPublicAccess").isFalse() {
				return out
			}
			cidrs := get(r, "vpcConfig", "publicAccessCidrs").strings()
			if len(cidrs) == 0 {
				out = append(out, violation("vpcConfig.publicAccessCidrs: public access is on for the whole internet; turn endpointPublicAccess off or list the operators' networks"))
			}
			for _, c := range cidrs {
				if c == "0.0.0.0/0" || c == "::/0" {
					out = append(out, violation("vpcConfig.publicAccessCidrs: %s opens the API to the internet; list the operators' networks", c))
				}
			}
			return out
		})
}

// AWS02SecretsEncryption: Kubernetes Secrets are envelope-encrypted with a
// key the platform owns.
func AWS02SecretsEncryption() Rule {
	return awsRule("AWS-02-secrets-encryption", "AWS-02: EKS secrets encryption with a customer-managed KMS key.", policyx.EnforcementLevelMandatory,
		[]string{eksClusterType}, func(r policyx.AnalyzerResource) []Finding {
			enc := get(r, "encryptionConfig")
			switch {
			case enc.computed:
				return nil // the key ARN is another resource's output: known on update
			case !enc.present:
				return []Finding{violation("encryptionConfig: Secrets are stored unencrypted in etcd; encrypt resources [secrets] with the cluster's KMS key")}
			}
			var out []Finding
			if !slices.Contains(get(r, "encryptionConfig", "resources").strings(), "secrets") {
				out = append(out, violation("encryptionConfig.resources: must include secrets"))
			}
			if k := get(r, "encryptionConfig", "provider", "keyArn"); !k.computed && k.str() == "" {
				out = append(out, violation("encryptionConfig.provider.keyArn: name the customer-managed KMS key"))
			}
			return out
		})
}

// requiredLogs are the control-plane logs AWS-03 asks for.
var requiredLogs = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}

// AWS03ControlPlaneLogs: every control-plane log type goes to CloudWatch.
func AWS03ControlPlaneLogs() Rule {
	return awsRule("AWS-03-control-plane-logs", "AWS-03: EKS control-plane logs api, audit, authenticator, controllerManager, scheduler.", policyx.EnforcementLevelMandatory,
		[]string{eksClusterType}, func(r policyx.AnalyzerResource) []Finding {
			have := get(r, "enabledClusterLogTypes").strings()
			var missing []string
			for _, l := range requiredLogs {
				if !slices.Contains(have, l) {
					missing = append(missing, l)
				}
			}
			if len(missing) > 0 {
				return []Finding{violation("enabledClusterLogTypes: missing %s; an incident without audit logs cannot be investigated", strings.Join(missing, ", "))}
			}
			return nil
		})
}

// AWS04AccessEntries: access is managed by access entries, and the creator
// gets no hidden admin.
func AWS04AccessEntries() Rule {
	return awsRule("AWS-04-access-entries", "AWS-04: access entries (authenticationMode API), no creator admin bootstrap.", policyx.EnforcementLevelAdvisory,
		[]string{eksClusterType}, func(r policyx.AnalyzerResource) []Finding {
			var out []Finding
			if m := get(r, "accessConfig", "authenticationMode"); !m.computed && m.str() != "API" {
				out = append(out, violation("accessConfig.authenticationMode: %q; use API (access entries) instead of the aws-auth ConfigMap", m.str()))
			}
			if !get(r, "accessConfig", "bootstrapClusterCreatorAdminPermissions").isFalse() {
				out = append(out, violation("accessConfig.bootstrapClusterCreatorAdminPermissions: set false; grant admins through access entries, visibly"))
			}
			return out
		})
}

// PrivateSubnetTag marks the subnets nodes and internal load balancers use.
const PrivateSubnetTag = "kubernetes.io/role/internal-elb"

// AWS05Nodes: node groups have no SSH and launch from templates that
// require IMDSv2 with a hop limit of 1, so pods cannot reach node
// credentials; nodes get no public address, and the private subnets never
// hand one out.
func AWS05Nodes() Rule {
	return awsRule("AWS-05-nodes", "AWS-05: nodes require IMDSv2 with hop limit 1, no SSH remote access, private subnets.", policyx.EnforcementLevelMandatory,
		[]string{eksNodeGroupType, launchTemplateType, "aws:ec2/subnet:Subnet"}, func(r policyx.AnalyzerResource) []Finding {
			var out []Finding
			if r.Type == "aws:ec2/subnet:Subnet" {
				if get(r, "tags", PrivateSubnetTag).present && get(r, "mapPublicIpOnLaunch").isTrue() {
					out = append(out, violation("mapPublicIpOnLaunch: a private (node) subnet must not give instances public addresses; set false"))
				}
				return out
			}
			if r.Type == eksNodeGroupType {
				if get(r, "remoteAccess").present {
					out = append(out, violation("remoteAccess: SSH into nodes is off-limits; use SSM Session Manager"))
				}
				if !get(r, "launchTemplate").present {
					out = append(out, violation("launchTemplate: without one the node group cannot require IMDSv2; use the platform's launch template"))
				}
				return out
			}
			md := get(r, "metadataOptions")
			if md.computed {
				return []Finding{unchecked("metadataOptions is not known yet")}
			}
			if get(r, "metadataOptions", "httpTokens").str() != "required" {
				out = append(out, violation("metadataOptions.httpTokens: set required (IMDSv2)"))
			}
			if n, ok := get(r, "metadataOptions", "httpPutResponseHopLimit").num(); !ok || n != 1 {
				out = append(out, violation("metadataOptions.httpPutResponseHopLimit: set 1 so pods cannot reach the node's credentials"))
			}
			nics := get(r, "networkInterfaces")
			if nics.present && nics.v.IsArray() {
				for i, n := range nics.v.AsArray().AsSlice() {
					if !n.IsMap() {
						continue
					}
					if a := get(policyx.AnalyzerResource{Properties: n.AsMap()}, "associatePublicIpAddress"); a.str() == "true" || a.isTrue() {
						out = append(out, violation("networkInterfaces[%d].associatePublicIpAddress: nodes live in private subnets without public addresses; set false", i))
					}
				}
			}
			return out
		})
}

// policyDocument decodes an IAM policy given as a JSON string or object.
func policyDocument(f field) (map[string]any, bool) {
	if !f.present || f.computed {
		return nil, false
	}
	var doc map[string]any
	if f.v.IsString() {
		if json.Unmarshal([]byte(f.v.AsString()), &doc) != nil {
			return nil, false
		}
		return doc, true
	}
	if b, err := json.Marshal(plain(f.v)); err == nil && json.Unmarshal(b, &doc) == nil {
		return doc, true
	}
	return nil, false
}

func statements(doc map[string]any) []map[string]any {
	var out []map[string]any
	switch s := doc["Statement"].(type) {
	case []any:
		for _, e := range s {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
	case map[string]any:
		out = append(out, s)
	}
	return out
}

func asList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// AWS06IRSA: roles assumed by pods pin the exact service account and the STS
// audience, and no policy grants every action on every resource.
func AWS06IRSA() Rule {
	return awsRule("AWS-06-irsa", "AWS-06: IRSA trust pins :sub (namespace and service account) and :aud; no * actions on *.", policyx.EnforcementLevelMandatory,
		[]string{iamRoleType, "aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy"}, func(r policyx.AnalyzerResource) []Finding {
			var out []Finding
			docField := "policy"
			if r.Type == iamRoleType {
				docField = "assumeRolePolicy"
			}
			doc, ok := policyDocument(get(r, docField))
			if !ok {
				if get(r, docField).computed {
					return []Finding{unchecked("%s is not known yet", docField)}
				}
				return nil
			}
			for i, st := range statements(doc) {
				if st["Effect"] != "Allow" {
					continue
				}
				if slices.Contains(asList(st["Action"]), "*") && slices.Contains(asList(st["Resource"]), "*") {
					out = append(out, violation("%s.Statement[%d]: allows * on *; grant the actions and resources the app uses", docField, i))
				}
				if r.Type != iamRoleType {
					continue
				}
				principal, _ := st["Principal"].(map[string]any)
				federated := strings.Join(asList(principal["Federated"]), ",")
				if !strings.Contains(federated, "oidc-provider") {
					continue
				}
				cond, _ := st["Condition"].(map[string]any)
				eq, _ := cond["StringEquals"].(map[string]any)
				sub, aud := "", ""
				for k, v := range eq {
					vals := asList(v)
					if strings.HasSuffix(k, ":sub") {
						if len(vals) != 1 {
							out = append(out, violation("%s.Statement[%d].Condition: %s lists %d subjects; one role per app", docField, i, k, len(vals)))
						} else {
							sub = vals[0]
						}
					}
					if strings.HasSuffix(k, ":aud") && len(vals) == 1 {
						aud = vals[0]
					}
				}
				if parts := strings.Split(sub, ":"); len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" || strings.ContainsAny(sub, "*?") {
					out = append(out, violation("%s.Statement[%d].Condition.StringEquals: pin <issuer>:sub to system:serviceaccount:<namespace>:<name> (got %q); any pod could assume the role otherwise", docField, i, sub))
				}
				if aud != "sts.amazonaws.com" {
					out = append(out, violation("%s.Statement[%d].Condition.StringEquals: pin <issuer>:aud to sts.amazonaws.com (got %q)", docField, i, aud))
				}
			}
			return out
		})
}

// AWS07ECR: registries keep tags immutable, scan on push and encrypt with KMS.
func AWS07ECR() Rule {
	return awsRule("AWS-07-ecr", "AWS-07: ECR immutable tags, scan on push, KMS encryption.", policyx.EnforcementLevelMandatory,
		[]string{ecrRepositoryType}, func(r policyx.AnalyzerResource) []Finding {
			var out []Finding
			if get(r, "imageTagMutability").str() != "IMMUTABLE" {
				out = append(out, violation("imageTagMutability: set IMMUTABLE so a tag can never point at another image"))
			}
			if !get(r, "imageScanningConfiguration", "scanOnPush").isTrue() {
				out = append(out, violation("imageScanningConfiguration.scanOnPush: set true"))
			}
			enc := get(r, "encryptionConfigurations")
			kms := false
			if enc.present && enc.v.IsArray() {
				for _, e := range enc.v.AsArray().AsSlice() {
					if t, ok := at(e.AsMap(), "encryptionType"); ok && t.IsString() && t.AsString() == "KMS" {
						kms = true
					}
				}
			}
			if !kms {
				out = append(out, violation("encryptionConfigurations: encrypt with KMS (encryptionType KMS)"))
			}
			return out
		})
}

// AWS09Databases: managed databases are encrypted, private, backed up for a
// week, protected from deletion, and multi-AZ in prod.
func AWS09Databases(multiAZ bool) Rule {
	return awsRule("AWS-09-databases", "AWS-09: RDS encrypted, not public, multi-AZ in prod, backups >= 7 days, deletion protection.", policyx.EnforcementLevelMandatory,
		[]string{rdsInstanceType, rdsClusterType, docdbClusterType}, func(r policyx.AnalyzerResource) []Finding {
			var out []Finding
			if !get(r, "storageEncrypted").isTrue() {
				out = append(out, violation("storageEncrypted: set true (with the platform's KMS key)"))
			}
			if get(r, "publiclyAccessible").isTrue() {
				out = append(out, violation("publiclyAccessible: a database is never reachable from the internet; set false"))
			}
			if n, ok := get(r, "backupRetentionPeriod").num(); !ok || n < 7 {
				out = append(out, violation("backupRetentionPeriod: keep at least 7 days of backups"))
			}
			if !get(r, "deletionProtection").isTrue() {
				out = append(out, violation("deletionProtection: set true so a stray destroy cannot drop the data"))
			}
			if multiAZ && r.Type == rdsInstanceType && !get(r, "multiAz").isTrue() {
				out = append(out, violation("multiAz: prod databases survive the loss of a zone; set true"))
			}
			return out
		})
}

// isPublicLB marks the one security group that may accept the internet.
const PublicLBTag = "intelliflow.io/public-lb"

// AWS10KeysAndIngress: KMS keys rotate; no security group admits the
// internet, except the public load balancer's on 443.
func AWS10KeysAndIngress() Rule {
	return awsRule("AWS-10-kms-and-ingress", "AWS-10: KMS key rotation on; no security-group ingress from 0.0.0.0/0 except the public load balancer on 443.", policyx.EnforcementLevelMandatory,
		[]string{kmsKeyType, "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/securityGroupRule:SecurityGroupRule", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"},
		func(r policyx.AnalyzerResource) []Finding {
			if r.Type == kmsKeyType {
				if !get(r, "enableKeyRotation").isTrue() {
					return []Finding{violation("enableKeyRotation: set true")}
				}
				return nil
			}
			publicLB := get(r, "tags", PublicLBTag).str() == "true"
			type ingress struct {
				field    string
				cidrs    []string
				from, to float64
			}
			var rules []ingress
			switch r.Type {
			case "aws:ec2/securityGroup:SecurityGroup":
				in := get(r, "ingress")
				if in.present && in.v.IsArray() {
					for i, e := range in.v.AsArray().AsSlice() {
						if !e.IsMap() {
							continue
						}
						m := policyx.AnalyzerResource{Properties: e.AsMap()}
						from, _ := get(m, "fromPort").num()
						to, _ := get(m, "toPort").num()
						rules = append(rules, ingress{fmt.Sprintf("ingress[%d]", i), append(get(m, "cidrBlocks").strings(), get(m, "ipv6CidrBlocks").strings()...), from, to})
					}
				}
			case "aws:ec2/securityGroupRule:SecurityGroupRule":
				if get(r, "type").str() == "ingress" {
					from, _ := get(r, "fromPort").num()
					to, _ := get(r, "toPort").num()
					rules = append(rules, ingress{"cidrBlocks", append(get(r, "cidrBlocks").strings(), get(r, "ipv6CidrBlocks").strings()...), from, to})
				}
			default:
				from, _ := get(r, "fromPort").num()
				to, _ := get(r, "toPort").num()
				rules = append(rules, ingress{"cidrIpv4", []string{get(r, "cidrIpv4").str(), get(r, "cidrIpv6").str()}, from, to})
			}
			var out []Finding
			for _, in := range rules {
				open := slices.Contains(in.cidrs, "0.0.0.0/0") || slices.Contains(in.cidrs, "::/0")
				if !open {
					continue
				}
				if publicLB && in.from == 443 && in.to == 443 {
					continue
				}
				out = append(out, violation("%s: admits the internet on ports %v-%v; only the public load balancer's group (tag %s) may, and only on 443", in.field, in.from, in.to, PublicLBTag))
			}
			return out
		})
}
