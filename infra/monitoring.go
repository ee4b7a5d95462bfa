package infra

import (
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/certmanager"
	"github.com/intelliflow/platform/components/falco"
	"github.com/intelliflow/platform/components/jenkins"
	"github.com/intelliflow/platform/components/logging"
	"github.com/intelliflow/platform/components/monitoring"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/stacks"
)

// deployMonitoring installs observability and delivery where the stack
// installs charts: kube-prometheus-stack with our rules, routed by
// severity; Elasticsearch, Kibana, Logstash and Filebeat with our pipeline;
// Jenkins with the reviewed pipelines. The log stack's certificates wait
// for their issuer.
func deployMonitoring(ctx *pulumi.Context, cfg stacks.Config, creds credentials, f *Foundation, namespaces map[string]*namespace.Namespace, is issuers, opts ...pulumi.ResourceOption) error {
	if !cfg.Charts {
		return nil
	}
	if err := deployExporters(ctx, cfg, f, namespaces, opts...); err != nil {
		return err
	}
	secret := creds.get
	a := cfg.Alerting
	smtp := cfg.DataStores[catalog.SMTP]
	replicas := 1
	if cfg.Environment == stacks.Prod {
		replicas = 2
	}
	controlPlane := clusterNetworks(cfg)
	_, err := monitoring.New(ctx, "monitoring", &monitoring.Args{
		Namespace: stacks.MonitoringNamespace, NamespaceReady: namespaces[stacks.MonitoringNamespace].Name,
		ChartRepository: cfg.ChartRepository, ImageRegistry: cfg.ImageRegistries[0], AppNamespace: cfg.Environment.AppNamespace(),
		RetentionDays: a.RetentionDays, StorageGiB: a.StorageGiB, Replicas: replicas,
		Routing: monitoring.Routing{
			SlackChannel: a.SlackChannel, EmailTo: a.EmailTo, EmailFrom: a.EmailFrom,
			SMTPHost: smtp.Host + ":" + strconv.Itoa(smtp.Port), SMTPUser: a.SMTPUser,
		},
		Receivers: map[string]pulumi.StringInput{
			monitoring.SlackWebhookKey:     secret(monitoring.SlackWebhookKey),
			monitoring.PagerDutyRoutingKey: secret(monitoring.PagerDutyRoutingKey),
			monitoring.SMTPPasswordKey:     secret(monitoring.SMTPPasswordKey),
		},
		GrafanaAdminPassword: secret("grafana-admin-password"),
		ControlPlaneCIDRs:    controlPlane,
		AlertNamespaces:      []string{falco.Namespace},
	}, opts...)
	if err != nil {
		return err
	}
	nodes, storage := 1, 100
	if cfg.Environment == stacks.Prod {
		nodes, storage = 3, 500
	}
	issuer := internalIssuer(cfg)
	_, err = logging.New(ctx, "logging", &logging.Args{
		Namespace: stacks.MonitoringNamespace, NamespaceReady: namespaces[stacks.MonitoringNamespace].Name,
		OperatorNamespace: namespaces[stacks.ElasticNamespace].Name,
		ChartRepository:   cfg.ChartRepository, ImageRegistry: cfg.ImageRegistries[0],
		Nodes: nodes, StorageGiB: storage, CurlImage: cfg.Image(stacks.CurlImage), TLSIssuer: issuer, IssuerReady: is.waitFor(issuer),
		ShipperNamespace: stacks.ShipperNamespace, ShipperNamespaceReady: namespaces[stacks.ShipperNamespace].Name,
		ControlPlaneCIDRs: controlPlane,
	}, opts...)
	if err != nil {
		return err
	}
	_, err = jenkins.New(ctx, "jenkins", &jenkins.Args{
		Namespace: stacks.CINamespace, NamespaceReady: namespaces[stacks.CINamespace].Name, AppNamespace: cfg.Environment.AppNamespace(),
		ChartRepository: cfg.ChartRepository, ImageRegistry: cfg.ImageRegistries[0], StorageGiB: 50,
		AdminPassword: creds.get(stacks.JenkinsAdminKey),
	}, opts...)
	return err
}

// internalIssuer is the ClusterIssuer of the platform's in-cluster TLS:
// Vault's PKI where the stack has Vault, else the internal CA.
func internalIssuer(cfg stacks.Config) string {
	if cfg.Vault != nil {
		return cfg.Vault.TLSIssuer
	}
	return certmanager.InternalCA
}
