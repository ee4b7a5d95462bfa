package infra

import (
	"fmt"
	"slices"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/irsa"
	"github.com/intelliflow/platform/components/kafka"
	"github.com/intelliflow/platform/stacks"
)

// kafkaAccess is who produces and consumes which topic (the topics are the
// services' KAFKA_TOPIC_* config; a test keeps the two in step).
// Transactions publish payments; fraud publishes its review and decline
// decisions (it is called, it consumes nothing); analytics aggregates
// both; notifications mail the alerts. Each consumer owns its dead-letter
// topic.
var kafkaAccess = map[string]kafka.Access{
	catalog.Transactions:  {Write: []string{"transactions.events"}},
	catalog.Fraud:         {Write: []string{"fraud-alerts"}},
	catalog.Analytics:     {Read: []string{"transactions.events", "fraud-alerts"}, Write: []string{"analytics.dead-letter"}, Group: catalog.Analytics},
	catalog.Notifications: {Read: []string{"fraud-alerts"}, Write: []string{"fraud-alerts.dead-letter"}, Group: catalog.Notifications},
	// The orchestrator rebuilds its quality window from the topics at
	// start, without a group; it creates the labels topic the chargeback
	// feed and case handling publish to.
	catalog.Orchestrator: {Read: []string{"transactions.events", "fraud-labels"}, Own: []string{"fraud-labels"}},
}

// modelPrefixes are the bucket folders a service reads models from.
var modelReaders = map[string]string{catalog.Fraud: "fraud/*"}

// modelWriter trains and promotes models: it writes every folder.
const modelWriter = catalog.Orchestrator

// appPermissions is what a service may do in AWS: nothing, unless it needs
// the model bucket, Kafka (MSK IAM authentication) or SES. Every grant names
// its resources; KMS use goes only through S3 and only on the stack's key.
func appPermissions(cfg stacks.Config, f *Foundation, svc catalog.Service) []irsa.Statement {
	a := cfg.AWS
	var out []irsa.Statement
	bucket := fmt.Sprintf("arn:%s:s3:::%s", f.Partition, a.ModelBucket)
	kmsViaS3 := func(actions ...string) irsa.Statement {
		return irsa.Statement{
			Actions:   actions,
			Resources: []string{fmt.Sprintf("arn:%s:kms:%s:%s:key/*", f.Partition, f.Region, f.Account)},
			Condition: map[string]map[string]string{
				"StringEquals":             {"kms:ViaService": "s3." + f.Region + ".amazonaws.com"},
				"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/" + cfg.ClusterName()},
			},
		}
	}
	if prefix, ok := modelReaders[svc.Name]; ok && slices.Contains(svc.Stores, catalog.S3) {
		out = append(out,
			irsa.Statement{Actions: []string{"s3:GetObject", "s3:GetObjectVersion"}, Resources: []string{bucket + "/" + prefix}},
			kmsViaS3("kms:Decrypt"))
	}
	if svc.Name == modelWriter && slices.Contains(svc.Stores, catalog.S3) {
		out = append(out,
			irsa.Statement{Actions: []string{"s3:ListBucket", "s3:ListBucketVersions"}, Resources: []string{bucket}},
			irsa.Statement{Actions: []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}, Resources: []string{bucket + "/*"}},
			kmsViaS3("kms:Decrypt", "kms:GenerateDataKey"))
	}
	if access, ok := kafkaAccess[svc.Name]; ok && slices.Contains(svc.Stores, catalog.Kafka) {
		out = append(out, kafka.Permissions(f.Partition, f.Region, f.Account, cfg.ClusterName(), access)...)
	}
	if slices.Contains(svc.Stores, catalog.SMTP) {
		// Notifications send through SES, from the stack's verified domain only.
		out = append(out, irsa.Statement{
			Actions:   []string{"ses:SendEmail", "ses:SendRawEmail"},
			Resources: []string{fmt.Sprintf("arn:%s:ses:%s:%s:identity/%s", f.Partition, f.Region, f.Account, a.SESIdentity)},
		})
	}
	return out
}
