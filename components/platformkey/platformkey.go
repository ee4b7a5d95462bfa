// Package platformkey provides the Key component: the stack's customer-managed
// KMS key, with rotation on, that encrypts Kubernetes Secrets, node volumes,
// the model bucket, ECR, the databases and the flow logs. Its key policy lets
// the account's IAM policies grant use (the AWS default), and names the two
// services that use the key on the platform's behalf without an IAM role of
// ours: CloudWatch Logs (encrypted log groups) and the Auto Scaling
// service-linked role (encrypted node root volumes).
package platformkey

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args configures the key.
type Args struct {
	// Alias names the key (without "alias/").
	Alias string
	// AccountID, Partition and Region come from the provider's invokes.
	AccountID, Partition, Region string
	// DeletionWindowDays is how long a scheduled deletion can be cancelled.
	DeletionWindowDays int
}

var (
	aliasRE   = regexp.MustCompile(`^[a-zA-Z0-9/_-]{1,200}$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	if !aliasRE.MatchString(a.Alias) {
		errs = append(errs, fmt.Errorf("Alias %q is not a KMS alias name", a.Alias))
	}
	if !accountRE.MatchString(a.AccountID) || a.Partition == "" || a.Region == "" {
		errs = append(errs, fmt.Errorf("AccountID/Partition/Region %q/%q/%q: they come from the provider's invokes", a.AccountID, a.Partition, a.Region))
	}
	if a.DeletionWindowDays < 7 || a.DeletionWindowDays > 30 {
		errs = append(errs, fmt.Errorf("DeletionWindowDays %d: KMS accepts 7..30", a.DeletionWindowDays))
	}
	return errors.Join(errs...)
}

// Policy is the key policy.
func Policy(account, partition, region string) string {
	root := fmt.Sprintf("arn:%s:iam::%s:root", partition, account)
	autoscaling := fmt.Sprintf("arn:%s:iam::%s:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", partition, account)
	use := []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			map[string]any{"Sid": "AccountIAMPolicies", "Effect": "Allow", "Principal": map[string]any{"AWS": root}, "Action": "kms:*", "Resource": "*"},
			map[string]any{
				"Sid": "CloudWatchLogs", "Effect": "Allow", "Principal": map[string]any{"Service": "logs." + region + ".amazonaws.com"},
				"Action": use, "Resource": "*",
				"Condition": map[string]any{"ArnLike": map[string]any{
					"kms:EncryptionContext:aws:logs:arn": fmt.Sprintf("arn:%s:logs:%s:%s:log-group:*", partition, region, account),
				}},
			},
			map[string]any{"Sid": "NodeVolumes", "Effect": "Allow", "Principal": map[string]any{"AWS": autoscaling}, "Action": use, "Resource": "*"},
			map[string]any{
				"Sid": "NodeVolumeGrants", "Effect": "Allow", "Principal": map[string]any{"AWS": autoscaling}, "Action": "kms:CreateGrant", "Resource": "*",
				"Condition": map[string]any{"Bool": map[string]any{"kms:GrantIsForAWSResource": true}},
			},
		},
	}
	b, _ := json.Marshal(doc) // maps of strings always marshal
	return string(b)
}

// Key is the created key.
type Key struct {
	pulumi.ResourceState

	ARN pulumi.StringOutput `pulumi:"arn"`
}

// New creates the key and its alias.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Key, error) {
	if args == nil {
		return nil, fmt.Errorf("key %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	k := &Key{}
	if err := ctx.RegisterComponentResource("intelliflow:aws:Key", name, k, opts...); err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	key, err := kms.NewKey(ctx, name, &kms.KeyArgs{
		Description:          pulumi.Sprintf("IntelliFlow %s: Secrets, volumes, buckets, registries, databases, logs", args.Alias),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(args.DeletionWindowDays),
		Policy:               pulumi.String(Policy(args.AccountID, args.Partition, args.Region)),
		Tags:                 pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")},
	}, pulumi.Parent(k))
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	if _, err := kms.NewAlias(ctx, name, &kms.AliasArgs{Name: pulumi.String("alias/" + args.Alias), TargetKeyId: key.KeyId}, pulumi.Parent(k)); err != nil {
		return nil, fmt.Errorf("key %q: alias: %w", name, err)
	}
	k.ARN = key.Arn
	if err := ctx.RegisterResourceOutputs(k, pulumi.Map{"arn": k.ARN}); err != nil {
		return nil, fmt.Errorf("key %q: outputs: %w", name, err)
	}
	return k, nil
}
