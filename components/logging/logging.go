package logging

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/microservice"
	"github.com/intelliflow/platform/components/namespace"
)

// Pinned versions: the ECK operator, the Elastic Stack it runs, the
// Logstash chart.
const (
	OperatorChartVersion = "3.1.0"
	StackVersion         = "8.19.2"
	LogstashChartVersion = "8.5.1"
)

// Names of the objects the component creates.
const (
	ElasticsearchName = "intelliflow-logs"
	KibanaName        = "intelliflow-logs"
	elasticUserSecret = ElasticsearchName + "-es-elastic-user"
	esTLSSecret       = "logs-es-http-tls"
	logstashTLSSecret = "logstash-tls"
	logstashService   = "logstash-logstash"
)

// Args configures logging.
type Args struct {
	// Namespace (its name) and NamespaceReady hold the stack; the operator
	// runs in OperatorNamespace.
	Namespace         string
	NamespaceReady    pulumi.StringInput
	OperatorNamespace pulumi.StringInput
	// ChartRepository and ImageRegistry are the platform's mirrors.
	ChartRepository, ImageRegistry string
	// Nodes and StorageGiB size Elasticsearch (3 in prod, spread over
	// zones).
	Nodes, StorageGiB int
	// CurlImage runs the job that installs the lifecycle policy.
	CurlImage string
	// ShipperNamespace runs Filebeat on every node (its name, known now,
	// and NamespaceReady-style ordering); ControlPlaneCIDRs is where it
	// reaches the API for pod metadata.
	ShipperNamespace      string
	ShipperNamespaceReady pulumi.StringInput
	ControlPlaneCIDRs     []string
	// TLSIssuer is the cert-manager ClusterIssuer of the internal CA that
	// signs Elasticsearch's and Logstash's certificates.
	TLSIssuer string
	// IssuerReady is the ClusterIssuer's resource where the stack creates
	// it: certificates wait for it instead of sitting unready.
	IssuerReady []pulumi.Resource
}

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	if a.Namespace == "" || a.NamespaceReady == nil || a.OperatorNamespace == nil {
		errs = append(errs, errors.New("Namespace, NamespaceReady and OperatorNamespace are required"))
	}
	if chart.ValidRepository(a.ChartRepository) != nil || a.ImageRegistry == "" || a.CurlImage == "" {
		errs = append(errs, fmt.Errorf("ChartRepository %q, ImageRegistry and CurlImage are required", a.ChartRepository))
	}
	if a.ShipperNamespace == "" || a.ShipperNamespaceReady == nil || len(a.ControlPlaneCIDRs) == 0 {
		errs = append(errs, errors.New("ShipperNamespace, ShipperNamespaceReady and ControlPlaneCIDRs are required"))
	}
	if a.TLSIssuer == "" {
		errs = append(errs, errors.New("TLSIssuer is required: every hop of the pipeline is TLS"))
	}
	if a.Nodes < 1 || a.StorageGiB < 10 {
		errs = append(errs, fmt.Errorf("Nodes %d and StorageGiB %d: want at least 1 and 10", a.Nodes, a.StorageGiB))
	}
	return errors.Join(errs...)
}

// ElasticsearchURL is the cluster's in-cluster HTTPS address.
func ElasticsearchURL(namespace string) string {
	return fmt.Sprintf("https://%s-es-http.%s.svc:9200", ElasticsearchName, namespace)
}

// Logging is the installed log stack.
type Logging struct {
	pulumi.ResourceState
}

// restricted is the container security every pod of ours gets.
var restricted = map[string]any{
	"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
	"capabilities": map[string]any{"drop": []any{"ALL"}}, "seccompProfile": map[string]any{"type": "RuntimeDefault"},
}

// New installs the operator, Elasticsearch, Kibana, Logstash with our
// pipeline, the lifecycle policy, and Filebeat on every node shipping the
// containers' logs to Logstash over TLS.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Logging, error) {
	if args == nil {
		return nil, fmt.Errorf("logging %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("logging %q: %w", name, err)
	}
	l := &Logging{}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:Logging", name, l, opts...); err != nil {
		return nil, fmt.Errorf("logging %q: %w", name, err)
	}
	parent := pulumi.Parent(l)
	wrap := func(child string, err error) error { return fmt.Errorf("logging %q: %s: %w", name, child, err) }
	reg := strings.TrimSuffix(args.ImageRegistry, "/")
	labels := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}

	operator, err := chart.New(ctx, name+"-operator", chart.Args{
		Chart: "eck-operator", Version: OperatorChartVersion, Namespace: args.OperatorNamespace,
		Repository: args.ChartRepository,
		Values: pulumi.Map{
			"image":             pulumi.Map{"repository": pulumi.String(reg + "/eck/eck-operator")},
			"config":            pulumi.Map{"containerRegistry": pulumi.String(reg)},
			"managedNamespaces": pulumi.ToStringArray([]string{args.Namespace, args.ShipperNamespace}),
			"podAnnotations":    chart.CallsAPI(),
			"podSecurityContext": pulumi.Map{
				"runAsNonRoot": pulumi.Bool(true), "seccompProfile": pulumi.Map{"type": pulumi.String("RuntimeDefault")},
			},
			// Two, one leading (it elects a leader), both serving the
			// admission webhook the stack's objects go through.
			"replicaCount": pulumi.Int(2),
			// The chart's default minAvailable (1) off: with maxUnavailable
			// the API server refuses the budget.
			"podDisruptionBudget": pulumi.Map{"enabled": pulumi.Bool(true), "minAvailable": pulumi.Int(0), "maxUnavailable": pulumi.Int(1)},
			"webhook":             pulumi.Map{"port": pulumi.Int(OperatorWebhookPort)},
		},
	}, parent)
	if err != nil {
		return nil, wrap("operator", err)
	}
	if err := operatorNetwork(ctx, name, args, parent); err != nil {
		return nil, wrap("operator network policy", err)
	}
	cr := func(child, apiVersion, kind, objName string, spec map[string]any, deps ...pulumi.Resource) (pulumi.Resource, error) {
		return apiextensions.NewCustomResource(ctx, name+"-"+child, &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String(apiVersion), Kind: pulumi.String(kind),
			Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(objName), Namespace: args.NamespaceReady, Labels: labels},
			OtherFields: kubernetes.UntypedArgs{"spec": spec},
		}, parent, pulumi.DependsOn(deps))
	}
	// Every hop is TLS from the internal CA: Filebeat to Logstash,
	// Logstash and the lifecycle job to Elasticsearch.
	var certs []pulumi.Resource
	for secret, host := range map[string]string{esTLSSecret: ElasticsearchName + "-es-http", logstashTLSSecret: logstashService} {
		c, err := apiextensions.NewCustomResource(ctx, name+"-"+secret, &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("cert-manager.io/v1"), Kind: pulumi.String("Certificate"),
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(secret), Namespace: args.NamespaceReady, Labels: labels},
			OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
				"secretName": secret, "commonName": host + "." + args.Namespace + ".svc",
				"dnsNames": []any{host, host + "." + args.Namespace, host + "." + args.Namespace + ".svc", host + "." + args.Namespace + ".svc.cluster.local"},
				"duration": "2160h", "renewBefore": "360h",
				"privateKey": map[string]any{"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
				"issuerRef":  map[string]any{"kind": "ClusterIssuer", "name": args.TLSIssuer, "group": "cert-manager.io"},
			}},
		}, parent, pulumi.DependsOn(args.IssuerReady))
		if err != nil {
			return nil, wrap("certificate "+secret, err)
		}
		certs = append(certs, c)
	}
	podTemplate := func(container string, cpu, mem string) map[string]any {
		return map[string]any{"spec": map[string]any{
			"automountServiceAccountToken": false,
			"containers": []any{map[string]any{
				"name": container, "securityContext": restricted,
				"resources": map[string]any{"requests": map[string]any{"cpu": cpu, "memory": mem}, "limits": map[string]any{"memory": mem}},
			}},
		}}
	}

	// Elasticsearch: one node set, spread over zones, no mmap so no
	// privileged sysctl init container is needed.
	esPod := podTemplate("elasticsearch", "1", "4Gi")
	esPod["spec"].(map[string]any)["topologySpreadConstraints"] = []any{map[string]any{
		"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
		"labelSelector": map[string]any{"matchLabels": map[string]any{"elasticsearch.k8s.elastic.co/cluster-name": ElasticsearchName}},
	}}
	es, err := cr("elasticsearch", "elasticsearch.k8s.elastic.co/v1", "Elasticsearch", ElasticsearchName, map[string]any{
		"version": StackVersion,
		"http":    map[string]any{"tls": map[string]any{"certificate": map[string]any{"secretName": esTLSSecret}}},
		"nodeSets": []any{map[string]any{
			"name": "default", "count": args.Nodes,
			"config":      map[string]any{"node.store.allow_mmap": false},
			"podTemplate": esPod,
			"volumeClaimTemplates": []any{map[string]any{
				"metadata": map[string]any{"name": "elasticsearch-data"},
				"spec":     map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": fmt.Sprintf("%dGi", args.StorageGiB)}}},
			}},
		}},
	}, append(certs, operator)...)
	if err != nil {
		return nil, wrap("elasticsearch", err)
	}
	if _, err := cr("kibana", "kibana.k8s.elastic.co/v1", "Kibana", KibanaName, map[string]any{
		"version": StackVersion, "count": 2, "elasticsearchRef": map[string]any{"name": ElasticsearchName},
		"podTemplate": podTemplate("kibana", "250m", "1Gi"),
	}, es); err != nil {
		return nil, wrap("kibana", err)
	}

	logstashAccount, err := corev1.NewServiceAccount(ctx, name+"-logstash", &corev1.ServiceAccountArgs{
		Metadata:                     &metav1.ObjectMetaArgs{Name: pulumi.String("logstash"), Namespace: args.NamespaceReady, Labels: labels},
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return nil, wrap("logstash account", err)
	}
	logstash, err := chart.New(ctx, name+"-logstash", chart.Args{
		Chart: "logstash", Release: "logstash", Version: LogstashChartVersion, Namespace: args.NamespaceReady,
		Repository: args.ChartRepository,
		Values: pulumi.Map{
			"image": pulumi.String(reg + "/logstash/logstash"), "imageTag": pulumi.String(StackVersion), "replicas": pulumi.Int(2),
			"logstashPipeline": pulumi.Map{"logstash.conf": pulumi.String(LogstashConfig(ElasticsearchURL(args.Namespace)))},
			// Its server certificate and the CA that also signed Elasticsearch's.
			"secretMounts": pulumi.Array{pulumi.Map{"name": pulumi.String("certs"), "secretName": pulumi.String(logstashTLSSecret), "path": pulumi.String("/usr/share/logstash/certs")}},
			"extraEnvs": pulumi.Array{
				pulumi.Map{"name": pulumi.String("ELASTICSEARCH_USER"), "value": pulumi.String("elastic")},
				pulumi.Map{"name": pulumi.String("ELASTICSEARCH_PASSWORD"), "valueFrom": pulumi.Map{"secretKeyRef": pulumi.Map{"name": pulumi.String(elasticUserSecret), "key": pulumi.String("elastic")}}},
			},
			"resources": chart.Resources("500m", "2Gi"),
			"service":   pulumi.Map{"type": pulumi.String("ClusterIP"), "ports": pulumi.Array{pulumi.Map{"name": pulumi.String("beats"), "port": pulumi.Int(5044), "protocol": pulumi.String("TCP"), "targetPort": pulumi.Int(5044)}}},
			// Restricted, as the image's logstash user; its queue and
			// JRuby's scratch go to emptyDirs, the rest is read-only.
			"podSecurityContext": chart.RestrictedPod(1000, 1000),
			"securityContext":    chart.RestrictedContainer(),
			// An account of its own; Logstash never calls the API.
			"rbac":         pulumi.Map{"create": pulumi.Bool(false), "serviceAccountName": logstashAccount.Metadata.Name().Elem()},
			"extraVolumes": pulumi.Array{chart.Scratch("data", "1Gi"), chart.Scratch("tmp", "256Mi")},
			"extraVolumeMounts": pulumi.Array{
				pulumi.Map{"name": pulumi.String("data"), "mountPath": pulumi.String("/usr/share/logstash/data")},
				pulumi.Map{"name": pulumi.String("tmp"), "mountPath": pulumi.String("/tmp")},
			},
		},
		Tokenless: []string{"logstash-logstash"},
	}, parent, pulumi.DependsOn([]pulumi.Resource{es}))
	if err != nil {
		return nil, wrap("logstash", err)
	}
	if err := lifecycleJob(ctx, name, args, parent, pulumi.DependsOn([]pulumi.Resource{es, logstash})); err != nil {
		return nil, err
	}
	if err := shipper(ctx, name, args, parent, pulumi.DependsOn([]pulumi.Resource{operator, logstash})); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(l, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return l, nil
}

// lifecycleJob installs the ILM policy and one data-stream template per
// index through Elasticsearch's API, with the cluster's own credentials.
// PUT is idempotent, so the job runs on every change of the policy.
func lifecycleJob(ctx *pulumi.Context, name string, a *Args, opts ...pulumi.ResourceOption) error {
	files := map[string]string{}
	policy, err := json.Marshal(LifecyclePolicy())
	if err != nil {
		return err
	}
	files["policy.json"] = string(policy)
	script := []string{"set -eu", fmt.Sprintf(`put() { curl --fail --silent --show-error --cacert /certs/ca.crt -u "elastic:${ELASTIC_PASSWORD}" -H 'Content-Type: application/json' -X PUT "%s/$1" --data-binary "@/lifecycle/$2"; echo; }`, ElasticsearchURL(a.Namespace)),
		"put _ilm/policy/" + PolicyName + " policy.json"}
	for _, idx := range Indices() {
		t, err := json.Marshal(IndexTemplate(idx))
		if err != nil {
			return err
		}
		files[idx+".json"] = string(t)
		script = append(script, fmt.Sprintf("put _index_template/%s %s.json", idx, idx))
	}
	cm, err := corev1.NewConfigMap(ctx, name+"-lifecycle", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("logging-lifecycle"), Namespace: a.NamespaceReady},
		Data:     pulumi.ToStringMap(files),
	}, opts...)
	if err != nil {
		return fmt.Errorf("logging %q: lifecycle config: %w", name, err)
	}
	// The job talks to Elasticsearch on 9200 and to nothing else.
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-lifecycle", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("logging-lifecycle"), Namespace: a.NamespaceReady},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("logging-lifecycle")}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Egress: networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{
				To: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{
					MatchLabels: pulumi.StringMap{"elasticsearch.k8s.elastic.co/cluster-name": pulumi.String(ElasticsearchName)},
				}}},
				Ports: namespace.TCP(9200),
			}},
		},
	}, opts...); err != nil {
		return fmt.Errorf("logging %q: lifecycle network policy: %w", name, err)
	}
	sa, err := corev1.NewServiceAccount(ctx, name+"-lifecycle", &corev1.ServiceAccountArgs{
		Metadata:                     &metav1.ObjectMetaArgs{Name: pulumi.String("logging-lifecycle"), Namespace: a.NamespaceReady},
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, opts...)
	if err != nil {
		return fmt.Errorf("logging %q: lifecycle account: %w", name, err)
	}
	_, err = batchv1.NewJob(ctx, name+"-lifecycle", &batchv1.JobArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("logging-lifecycle"), Namespace: a.NamespaceReady},
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit: pulumi.Int(6), TtlSecondsAfterFinished: pulumi.Int(86400),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("logging-lifecycle")}},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName: sa.Metadata.Name().Elem(), AutomountServiceAccountToken: pulumi.Bool(false), RestartPolicy: pulumi.String("OnFailure"),
					SecurityContext: &corev1.PodSecurityContextArgs{RunAsNonRoot: pulumi.Bool(true), RunAsUser: pulumi.Int(10001), RunAsGroup: pulumi.Int(10001),
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")}},
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name: pulumi.String("apply"), Image: pulumi.String(a.CurlImage),
						Command: pulumi.ToStringArray([]string{"/bin/sh", "-c", strings.Join(script, "\n")}),
						Env: corev1.EnvVarArray{&corev1.EnvVarArgs{Name: pulumi.String("ELASTIC_PASSWORD"), ValueFrom: &corev1.EnvVarSourceArgs{
							SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String(elasticUserSecret), Key: pulumi.String("elastic")}}}},
						SecurityContext: microservice.RestrictedContainer(),
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("50m"), "memory": pulumi.String("32Mi"), "ephemeral-storage": pulumi.String("16Mi")},
							Limits:   pulumi.StringMap{"memory": pulumi.String("64Mi"), "ephemeral-storage": pulumi.String("64Mi")},
						},
						VolumeMounts: corev1.VolumeMountArray{
							&corev1.VolumeMountArgs{Name: pulumi.String("lifecycle"), MountPath: pulumi.String("/lifecycle"), ReadOnly: pulumi.Bool(true)},
							&corev1.VolumeMountArgs{Name: pulumi.String("certs"), MountPath: pulumi.String("/certs"), ReadOnly: pulumi.Bool(true)},
						},
					}},
					Volumes: corev1.VolumeArray{
						&corev1.VolumeArgs{Name: pulumi.String("lifecycle"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String("logging-lifecycle")}},
						&corev1.VolumeArgs{Name: pulumi.String("certs"), Secret: &corev1.SecretVolumeSourceArgs{SecretName: pulumi.String(esTLSSecret)}},
					},
				},
			},
		},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{cm, sa}))...)
	if err != nil {
		return fmt.Errorf("logging %q: lifecycle job: %w", name, err)
	}
	return nil
}

// ShipperException is why the shipper's namespace runs below restricted.
const ShipperException = "Filebeat reads every container's log files from the node (hostPath /var/log/containers and /var/log/pods, read-only, as root) to ship them to Logstash"

// ShipperAccount is Filebeat's ServiceAccount: it reads pod metadata.
const ShipperAccount = "filebeat"

// shipperRules let Filebeat enrich lines with their pod's metadata; read
// only, no Secrets.
var shipperRules = []map[string]any{
	{"apiGroups": []string{""}, "resources": []string{"pods", "namespaces", "nodes"}, "verbs": []string{"get", "list", "watch"}},
	{"apiGroups": []string{"apps"}, "resources": []string{"replicasets"}, "verbs": []string{"get", "list", "watch"}},
	{"apiGroups": []string{"batch"}, "resources": []string{"jobs"}, "verbs": []string{"get", "list", "watch"}},
}

// shipper runs Filebeat (an ECK Beat) in its own namespace, the one that
// may read the nodes' log files (Pod Security privileged, named exception,
// exempt from Gatekeeper), with a client certificate of the internal CA
// and exactly the network it needs: Logstash on 5044, the API on 443.
func shipper(ctx *pulumi.Context, name string, a *Args, opts ...pulumi.ResourceOption) error {
	wrap := func(child string, err error) error { return fmt.Errorf("logging %q: shipper %s: %w", name, child, err) }
	labels := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}
	sa, err := corev1.NewServiceAccount(ctx, name+"-filebeat", &corev1.ServiceAccountArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(ShipperAccount), Namespace: a.ShipperNamespaceReady, Labels: labels},
	}, opts...)
	if err != nil {
		return wrap("service account", err)
	}
	var rules rbacv1.PolicyRuleArray
	for _, r := range shipperRules {
		rules = append(rules, &rbacv1.PolicyRuleArgs{ApiGroups: pulumi.ToStringArray(r["apiGroups"].([]string)), Resources: pulumi.ToStringArray(r["resources"].([]string)), Verbs: pulumi.ToStringArray(r["verbs"].([]string))})
	}
	if _, err := rbacv1.NewClusterRole(ctx, name+"-filebeat", &rbacv1.ClusterRoleArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("intelliflow-filebeat"), Labels: labels}, Rules: rules,
	}, opts...); err != nil {
		return wrap("role", err)
	}
	if _, err := rbacv1.NewClusterRoleBinding(ctx, name+"-filebeat", &rbacv1.ClusterRoleBindingArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("intelliflow-filebeat"), Labels: labels},
		RoleRef:  &rbacv1.RoleRefArgs{ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("ClusterRole"), Name: pulumi.String("intelliflow-filebeat")},
		Subjects: rbacv1.SubjectArray{&rbacv1.SubjectArgs{Kind: pulumi.String("ServiceAccount"), Name: pulumi.String(ShipperAccount), Namespace: pulumi.String(a.ShipperNamespace)}},
	}, opts...); err != nil {
		return wrap("binding", err)
	}
	cert, err := apiextensions.NewCustomResource(ctx, name+"-filebeat-tls", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cert-manager.io/v1"), Kind: pulumi.String("Certificate"),
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("filebeat-tls"), Namespace: a.ShipperNamespaceReady, Labels: labels},
		OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
			"secretName": "filebeat-tls", "commonName": "filebeat." + a.ShipperNamespace, "usages": []any{"client auth"},
			"duration": "2160h", "renewBefore": "360h", "privateKey": map[string]any{"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
			"issuerRef": map[string]any{"kind": "ClusterIssuer", "name": a.TLSIssuer, "group": "cert-manager.io"},
		}},
	}, append(opts, pulumi.DependsOn(a.IssuerReady))...)
	if err != nil {
		return wrap("certificate", err)
	}
	// Logstash admits the shipper's namespace on 5044 only.
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-logstash-beats", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("logstash-beats"), Namespace: a.NamespaceReady, Labels: labels},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app": pulumi.String(logstashService)}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress"}),
			Ingress:     networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{From: namespace.Namespaces(a.ShipperNamespace), Ports: namespace.TCP(5044)}},
		},
	}, opts...); err != nil {
		return wrap("logstash network policy", err)
	}
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-filebeat", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("filebeat"), Namespace: a.ShipperNamespaceReady, Labels: labels},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"beat.k8s.elastic.co/name": pulumi.String("filebeat")}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Egress: networkingv1.NetworkPolicyEgressRuleArray{
				&networkingv1.NetworkPolicyEgressRuleArgs{To: namespace.Namespaces(a.Namespace), Ports: namespace.TCP(5044)},
				&networkingv1.NetworkPolicyEgressRuleArgs{To: namespace.CIDRs(a.ControlPlaneCIDRs...), Ports: namespace.TCP(443)},
			},
		},
	}, opts...); err != nil {
		return wrap("network policy", err)
	}
	hostPath := func(n, p string) map[string]any {
		return map[string]any{"name": n, "hostPath": map[string]any{"path": p, "type": "Directory"}}
	}
	mount := func(n, p string, ro bool) map[string]any {
		return map[string]any{"name": n, "mountPath": p, "readOnly": ro}
	}
	if _, err := apiextensions.NewCustomResource(ctx, name+"-filebeat", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("beat.k8s.elastic.co/v1beta1"), Kind: pulumi.String("Beat"),
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("filebeat"), Namespace: a.ShipperNamespaceReady, Labels: labels},
		OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
			"type": "filebeat", "version": StackVersion,
			"config": map[string]any{
				"filebeat.inputs": []any{map[string]any{
					"type": "filestream", "id": "containers", "paths": []any{"/var/log/containers/*.log"},
					"parsers":    []any{map[string]any{"container": map[string]any{}}},
					"processors": []any{map[string]any{"add_kubernetes_metadata": map[string]any{"host": "${NODE_NAME}", "matchers": []any{map[string]any{"logs_path": map[string]any{"logs_path": "/var/log/containers/"}}}}}},
				}},
				"output.logstash": map[string]any{
					"hosts":                       []any{fmt.Sprintf("%s.%s.svc:5044", logstashService, a.Namespace)},
					"ssl.enabled":                 true,
					"ssl.certificate_authorities": []any{"/certs/ca.crt"},
					"ssl.certificate":             "/certs/tls.crt", "ssl.key": "/certs/tls.key",
				},
			},
			"daemonSet": map[string]any{"podTemplate": map[string]any{"spec": map[string]any{
				"serviceAccountName": ShipperAccount, "automountServiceAccountToken": true,
				// Every node is watched, the GPU group included.
				"tolerations":     []any{map[string]any{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}},
				"securityContext": map[string]any{"runAsUser": 0}, // the node's log files are root's
				"containers": []any{map[string]any{
					"name":            "filebeat",
					"env":             []any{map[string]any{"name": "NODE_NAME", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "spec.nodeName"}}}},
					"securityContext": map[string]any{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": map[string]any{"drop": []any{"ALL"}, "add": []any{"DAC_READ_SEARCH"}}},
					"resources":       map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "200Mi"}, "limits": map[string]any{"memory": "400Mi"}},
					"volumeMounts": []any{
						mount("varlogcontainers", "/var/log/containers", true), mount("varlogpods", "/var/log/pods", true),
						mount("certs", "/certs", true), mount("data", "/usr/share/filebeat/data", false),
					},
				}},
				"volumes": []any{
					hostPath("varlogcontainers", "/var/log/containers"), hostPath("varlogpods", "/var/log/pods"),
					map[string]any{"name": "certs", "secret": map[string]any{"secretName": "filebeat-tls"}},
					// The read position survives restarts, per node.
					map[string]any{"name": "data", "hostPath": map[string]any{"path": "/var/lib/intelliflow-filebeat", "type": "DirectoryOrCreate"}},
				},
			}}},
		}},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{sa, cert}))...); err != nil {
		return wrap("beat", err)
	}
	return nil
}

// OperatorWebhookPort is where the ECK operator serves its admission
// webhook (the API server calls it).
const OperatorWebhookPort = 9443

// operatorNetwork lets the ECK operator, in its own namespace, take the API
// server's webhook calls and reach the API and the Elasticsearch clusters it
// manages (their HTTP API, where it sets users and settings), and lets
// Elasticsearch admit it.
func operatorNetwork(ctx *pulumi.Context, name string, a *Args, opts ...pulumi.ResourceOption) error {
	control := namespace.CIDRs(a.ControlPlaneCIDRs...)
	es := map[string]string{"elasticsearch.k8s.elastic.co/cluster-name": ElasticsearchName}
	if _, err := namespace.NewPodPolicy(ctx, name+"-operator", namespace.PodPolicy{
		Name: "elastic-operator", Namespace: a.OperatorNamespace, Pods: map[string]string{"app.kubernetes.io/name": "elastic-operator"},
		Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{namespace.From(control, namespace.TCP(OperatorWebhookPort))},
		Egress: []*networkingv1.NetworkPolicyEgressRuleArgs{
			namespace.To(control, namespace.TCP(443)),
			namespace.To(namespace.PodsIn(a.Namespace, es), namespace.TCP(9200)),
		},
	}, opts...); err != nil {
		return err
	}
	operator := networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
		NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": a.OperatorNamespace}},
	}}
	_, err := namespace.NewPodPolicy(ctx, name+"-elasticsearch-operator", namespace.PodPolicy{
		Name: "elasticsearch-operator", Namespace: a.NamespaceReady, Pods: es,
		Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{namespace.From(operator, namespace.TCP(9200))},
	}, opts...)
	return err
}
