package platformkey

import (
	"encoding/json"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
)

func TestValidate(t *testing.T) {
	ok := Args{Alias: "intelliflow-prod", AccountID: "111122223333", Partition: "aws", Region: "eu-west-1", DeletionWindowDays: 30}
	require.NoError(t, ok.Validate())
	bad := ok
	bad.AccountID, bad.DeletionWindowDays, bad.Alias = "me", 3, "has space"
	err := bad.Validate()
	require.ErrorContains(t, err, "AccountID")
	require.ErrorContains(t, err, "DeletionWindowDays 3")
	require.ErrorContains(t, err, "Alias")
}

func TestPolicy(t *testing.T) {
	var doc struct {
		Statement []struct {
			Sid       string
			Principal map[string]string
			Condition map[string]map[string]any
		}
	}
	require.NoError(t, json.Unmarshal([]byte(Policy("111122223333", "aws", "eu-west-1")), &doc))
	sids := map[string]map[string]string{}
	for _, s := range doc.Statement {
		sids[s.Sid] = s.Principal
	}
	require.Equal(t, "arn:aws:iam::111122223333:root", sids["AccountIAMPolicies"]["AWS"])
	require.Equal(t, "logs.eu-west-1.amazonaws.com", sids["CloudWatchLogs"]["Service"], "flow logs and broker logs are encrypted")
	require.Contains(t, sids["NodeVolumes"]["AWS"], "AWSServiceRoleForAutoScaling", "node groups can launch encrypted root volumes")
	require.Equal(t, true, doc.Statement[3].Condition["Bool"]["kms:GrantIsForAWSResource"])
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "key", &Args{Alias: "intelliflow-prod", AccountID: "111122223333", Partition: "aws", Region: "eu-west-1", DeletionWindowDays: 30})
		return err
	})
	require.NoError(t, err)
	k, _ := mocks.Find("aws:kms/key:Key", "key")
	require.Equal(t, true, k.Get("enableKeyRotation"))
	a, _ := mocks.Find("aws:kms/alias:Alias", "key")
	require.Equal(t, "alias/intelliflow-prod", a.Get("name"))
}
