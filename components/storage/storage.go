// Package storage provides the Storage component of the AWS foundation: the
// model bucket and the services' container repositories, each locked down
// as the policy pack expects (AWS-07, AWS-08): the bucket private, encrypted
// with the platform's KMS key, versioned, TLS-only, old versions expired;
// repositories with immutable tags, scan on push and KMS encryption.
package storage

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args configures storage.
type Args struct {
	// BucketName is the model bucket's globally unique name.
	BucketName string
	// KMSKeyARN encrypts the bucket and the repositories.
	KMSKeyARN pulumi.StringInput
	// NoncurrentVersionDays keeps replaced model versions this long (rollback
	// window); default 90.
	NoncurrentVersionDays int
	// Repositories are the ECR repositories to create (one per image).
	Repositories []string
}

// Storage is what was created.
type Storage struct {
	pulumi.ResourceState

	BucketName pulumi.StringOutput `pulumi:"bucketName"`
	BucketARN  pulumi.StringOutput `pulumi:"bucketArn"`
	// RepositoryURLs by repository name.
	RepositoryURLs pulumi.StringMapOutput `pulumi:"repositoryUrls"`
}

var (
	bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	repoRE   = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	if !bucketRE.MatchString(a.BucketName) {
		errs = append(errs, fmt.Errorf("BucketName %q is not an S3 bucket name (3-63 lower-case letters, digits, '-')", a.BucketName))
	}
	if a.KMSKeyARN == nil {
		errs = append(errs, errors.New("KMSKeyARN is required: the bucket and repositories are encrypted with the platform's key"))
	}
	if a.NoncurrentVersionDays < 0 || a.NoncurrentVersionDays > 3650 {
		errs = append(errs, fmt.Errorf("NoncurrentVersionDays %d, want 1..3650 (0 for the default)", a.NoncurrentVersionDays))
	}
	seen := map[string]bool{}
	for i, r := range a.Repositories {
		if !repoRE.MatchString(r) || len(r) > 256 || seen[r] {
			errs = append(errs, fmt.Errorf("Repositories[%d] %q is not a unique ECR repository name", i, r))
		}
		seen[r] = true
	}
	return errors.Join(errs...)
}

// TLSOnlyPolicy refuses every request to the bucket that is not over TLS.
func TLSOnlyPolicy(bucketARN string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["%[1]s","%[1]s/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, bucketARN)
}

// New creates the bucket and repositories.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Storage, error) {
	if args == nil {
		return nil, fmt.Errorf("storage %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("storage %q: %w", name, err)
	}
	days := args.NoncurrentVersionDays
	if days == 0 {
		days = 90
	}
	st := &Storage{}
	if err := ctx.RegisterComponentResource("intelliflow:aws:Storage", name, st, opts...); err != nil {
		return nil, fmt.Errorf("storage %q: %w", name, err)
	}
	parent := pulumi.Parent(st)
	wrap := func(child string, err error) error { return fmt.Errorf("storage %q: %s: %w", name, child, err) }
	tags := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}

	bucket, err := s3.NewBucketV2(ctx, name+"-models", &s3.BucketV2Args{Bucket: pulumi.String(args.BucketName), Tags: tags}, parent)
	if err != nil {
		return nil, wrap("bucket", err)
	}
	// The configuration resources name the bucket by its name (not an
	// output), so the policy pack can match them to it even in preview.
	bucketName := pulumi.String(args.BucketName)
	onBucket := pulumi.DependsOn([]pulumi.Resource{bucket})
	if _, err := s3.NewBucketPublicAccessBlock(ctx, name+"-models", &s3.BucketPublicAccessBlockArgs{
		Bucket: bucketName, BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	}, parent, onBucket); err != nil {
		return nil, wrap("public access block", err)
	}
	if _, err := s3.NewBucketOwnershipControls(ctx, name+"-models", &s3.BucketOwnershipControlsArgs{
		Bucket: bucketName, Rule: &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, parent, onBucket); err != nil {
		return nil, wrap("ownership controls", err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name+"-models", &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucketName,
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{&s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("aws:kms"), KmsMasterKeyId: args.KMSKeyARN,
			},
			BucketKeyEnabled: pulumi.Bool(true),
		}},
	}, parent, onBucket); err != nil {
		return nil, wrap("encryption", err)
	}
	if _, err := s3.NewBucketVersioningV2(ctx, name+"-models", &s3.BucketVersioningV2Args{
		Bucket: bucketName, VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, parent, onBucket); err != nil {
		return nil, wrap("versioning", err)
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-models", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucketName,
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
			Id: pulumi.String("expire-replaced-versions"), Status: pulumi.String("Enabled"),
			Filter:                         &s3.BucketLifecycleConfigurationV2RuleFilterArgs{},
			NoncurrentVersionExpiration:    &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(days)},
			AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{DaysAfterInitiation: pulumi.Int(7)},
		}},
	}, parent, onBucket); err != nil {
		return nil, wrap("lifecycle", err)
	}
	if _, err := s3.NewBucketPolicy(ctx, name+"-models", &s3.BucketPolicyArgs{
		Bucket: bucketName, Policy: bucket.Arn.ApplyT(TLSOnlyPolicy).(pulumi.StringOutput),
	}, parent); err != nil {
		return nil, wrap("bucket policy", err)
	}

	urls := pulumi.StringMap{}
	for _, repo := range args.Repositories {
		r, err := ecr.NewRepository(ctx, name+"-"+repo, &ecr.RepositoryArgs{
			Name:                       pulumi.String(repo),
			ImageTagMutability:         pulumi.String("IMMUTABLE"),
			ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
			EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{&ecr.RepositoryEncryptionConfigurationArgs{
				EncryptionType: pulumi.String("KMS"), KmsKey: args.KMSKeyARN,
			}},
			Tags: tags,
		}, parent)
		if err != nil {
			return nil, wrap("repository "+repo, err)
		}
		urls[repo] = r.RepositoryUrl
	}

	st.BucketName = bucket.Bucket
	st.BucketARN = bucket.Arn
	st.RepositoryURLs = urls.ToStringMapOutput()
	if err := ctx.RegisterResourceOutputs(st, pulumi.Map{"bucketName": st.BucketName, "bucketArn": st.BucketARN, "repositoryUrls": st.RepositoryURLs}); err != nil {
		return nil, wrap("outputs", err)
	}
	return st, nil
}
