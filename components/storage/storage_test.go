package storage

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

const key = "arn:aws:kms:eu-west-1:123456789012:key/k"

func args() *Args {
	return &Args{BucketName: "intelliflow-prod-models", KMSKeyARN: pulumi.String(key), Repositories: []string{"intelliflow/fraud", "intelliflow/users"}}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"bad bucket", func(a *Args) { a.BucketName = "Models_Bucket" }, "is not an S3 bucket name"},
		{"no key", func(a *Args) { a.KMSKeyARN = nil }, "KMSKeyARN is required"},
		{"duplicate repo", func(a *Args) { a.Repositories = []string{"a", "a"} }, `Repositories[1] "a"`},
		{"bad repo", func(a *Args) { a.Repositories = []string{"Fraud"} }, `Repositories[0] "Fraud"`},
		{"bad retention", func(a *Args) { a.NoncurrentVersionDays = -1 }, "NoncurrentVersionDays -1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := args()
			tt.mutate(a)
			require.ErrorContains(t, a.Validate(), tt.want)
		})
	}
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "storage", args())
		return err
	})
	require.NoError(t, err)

	pab, ok := mocks.Find("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "storage-models")
	require.True(t, ok)
	for _, f := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		require.Equal(t, true, pab.Get(f), f)
	}
	sse, _ := mocks.Find("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "storage-models")
	require.Equal(t, "aws:kms", sse.Get("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm"))
	require.Equal(t, key, sse.Get("rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId"))
	ver, _ := mocks.Find("aws:s3/bucketVersioningV2:BucketVersioningV2", "storage-models")
	require.Equal(t, "Enabled", ver.Get("versioningConfiguration.status"))
	lc, _ := mocks.Find("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "storage-models")
	require.Equal(t, 90.0, lc.Get("rules.0.noncurrentVersionExpiration.noncurrentDays"))
	require.Contains(t, TLSOnlyPolicy("arn:aws:s3:::b"), `"aws:SecureTransport":"false"`)

	repos := mocks.OfType("aws:ecr/repository:Repository")
	require.Len(t, repos, 2)
	for _, r := range repos {
		require.Equal(t, "IMMUTABLE", r.Get("imageTagMutability"))
		require.Equal(t, true, r.Get("imageScanningConfiguration.scanOnPush"))
		require.Equal(t, "KMS", r.Get("encryptionConfigurations.0.encryptionType"))
	}

	// Every resource rule and the whole-stack S3 rule (AWS-08) pass.
	analyzed := mocks.Analyzed()
	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, Production: true})
	for _, a := range analyzed {
		require.Empty(t, rules.Check(all, a), a.Name)
	}
	require.Empty(t, rules.AWS08Buckets().Check(analyzed))
	// Negative control: without the public access block AWS-08 fires.
	var stripped []policyx.AnalyzerResource
	for _, a := range analyzed {
		if a.Type != "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock" {
			stripped = append(stripped, a)
		}
	}
	require.Len(t, rules.AWS08Buckets().Check(stripped), 1)
}
