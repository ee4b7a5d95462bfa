// Package exceptions lists the platform's waivers of policy rules: one rule,
// one resource, one reason a reviewer can judge. Every waived finding is
// still reported as advisory on every preview (policy "excepted-findings").
// Add entries here, in review, never by turning a rule off. The pack
// (policy/main.go) and the stacks' policy tests (infra) read this list.
package exceptions

import (
	"slices"

	"github.com/intelliflow/platform/components/deviceplugin"
	"github.com/intelliflow/platform/components/falco"
	"github.com/intelliflow/platform/components/nodeaudit"
	"github.com/intelliflow/platform/policy/rules"
)

// ingressController is the ingress controller's Deployment and Service.
const ingressController = "addons-ingress-nginx:ingress-nginx/ingress-nginx-controller"

const (
	service     = "kubernetes:core/v1:Service"
	daemonSet   = "kubernetes:apps/v1:DaemonSet"
	deployment  = "kubernetes:apps/v1:Deployment"
	statefulSet = "kubernetes:apps/v1:StatefulSet"
)

// devicePlugin is why the NVIDIA device plugin cannot be restricted.
const devicePlugin = "the NVIDIA device plugin registers GPUs with the kubelet through a socket in the host's " +
	deviceplugin.SocketDir + " (hostPath), which only root can write; it runs in kube-system on GPU nodes only, " +
	"unprivileged, with no capabilities, a read-only root filesystem and no network"

// falcoAgent is why Falco's DaemonSet (rendered by its chart) cannot be
// restricted.
const falcoAgent = falco.NamespaceException + "; it runs in its own namespace (Pod Security privileged, " +
	"named exception), exempt from Gatekeeper, with a NetworkPolicy that lets it talk to Falcosidekick only"

// List is every exception of the platform.
var List = append([]rules.Exception{
	{Rule: "SEC-01", Type: daemonSet, Name: deviceplugin.Name, Reason: devicePlugin},
	{Rule: "SEC-04", Type: daemonSet, Name: deviceplugin.Name, Reason: devicePlugin},
	{Rule: "SEC-05", Type: daemonSet, Name: deviceplugin.Name, Reason: devicePlugin},
	{Rule: "SEC-10", Type: daemonSet, Name: deviceplugin.Name, Reason: devicePlugin},
}, slices.Concat(falcoExceptions(), nodeAuditExceptions(), controllerAccess, singletons, healthChecks, []rules.Exception{
	{Rule: "NET-03", Type: service, Name: ingressController, Reason: "the NLB passes TCP 443 through (proxy protocol) to " +
		"ingress-nginx, which terminates TLS 1.2 and 1.3 only (ssl-protocols) with each Ingress's cert-manager certificate; " +
		"NET-03 checks that every Ingress host has one. The Service has no plain-HTTP port"},
	{Rule: "SEC-08", Type: deployment, Name: ingressController, Reason: "ingress-nginx writes nginx.conf under /etc/nginx " +
		"on every change of an Ingress and reloads nginx, next to the image's own files there (an emptyDir would hide them); " +
		"it runs as its non-root user with no privilege escalation and only NET_BIND_SERVICE"},
	{Rule: "REL-04", Type: deployment, Name: ingressController, Reason: "ingress-nginx checks /healthz" + singleHealth},
	{Rule: "SEC-19", Type: statefulSet, Name: "logging-operator:elastic-system/elastic-operator", Reason: "WEBHOOK_SECRET holds the " +
		"name of the Secret the operator keeps its webhook's certificate in, not a secret value; the chart sets it and the " +
		"rule matches the variable's name"},
})...)

const (
	clusterRole = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
	role        = "kubernetes:rbac.authorization.k8s.io/v1:Role"
)

// Why each chart's controller holds the access RBAC-01 and RBAC-02 refuse
// an app: managing that kind of object is the controller's whole job. Each
// names the chart's role as the charts stack renders it ("<chart resource>:
// [<namespace>/]<role>"); the charts stack's test fails when one matches
// nothing.
const (
	certManagerSecrets = "cert-manager writes each Certificate's key pair into its Secret and reads the issuers' credentials " +
		"from Secrets; the cainjector copies CA bundles from Secrets into webhooks and CRDs. It has no other way to do its job, " +
		"runs in its own namespace with its own accounts, and no app can bind these roles"
	gatekeeperAny = "Gatekeeper evaluates constraints on any kind of object (so it must read every kind, including CRDs " +
		"installed later) and creates the constraint CRDs its templates define; its namespaced role keeps its webhook's " +
		"certificate in a Secret of its own namespace"
	jenkinsExec = "the Jenkins kubernetes plugin runs each pipeline step inside the agent pod it started, through pods/exec; " +
		"the role is namespaced to intelliflow-ci, where only Jenkins' own agents run (restricted, no cluster-admin)"
	eckSecrets = "the ECK operator creates the Elasticsearch and Kibana users' passwords and the stack's TLS certificates " +
		"as Secrets and watches them, in the namespaces it manages only (managedNamespaces)"
	adapterMetrics = "prometheus-adapter serves the custom and external metrics APIs: the HPA controller reads any metric " +
		"name under them, so its roles name every resource of those two API groups, and nothing outside them"
	operatorCRDs = "the Prometheus operator manages every monitoring.coreos.com object (Prometheus, Alertmanager, rules, " +
		"monitors) with every verb on that API group only; it is the group's controller"
	grafanaSidecar = "Grafana's chart gives its dashboard sidecar list and watch on ConfigMaps and Secrets together in one " +
		"rule; the sidecar reads only objects labelled grafana_dashboard, and the chart has no value for ConfigMaps alone"
	ingressSecrets = "ingress-nginx serves each Ingress's TLS certificate, which it reads from the Secret the Ingress names, " +
		"in any namespace with an Ingress of its class; it watches Secrets to pick up a renewed certificate without a restart. " +
		"Its namespaced role keeps its leader-election lease"
	injectorLeader = "the Vault agent injector's replicas elect a leader that generates the webhook's certificate and shares " +
		"it through a Secret in Vault's namespace; the role is namespaced there"
)

var controllerAccess = []rules.Exception{
	{Rule: "RBAC-02", Type: clusterRole, Name: "cert-manager:cert-manager-cainjector", Reason: certManagerSecrets},
	{Rule: "RBAC-02", Type: clusterRole, Name: "cert-manager:cert-manager-controller-certificates", Reason: certManagerSecrets},
	{Rule: "RBAC-02", Type: clusterRole, Name: "cert-manager:cert-manager-controller-challenges", Reason: certManagerSecrets},
	{Rule: "RBAC-02", Type: clusterRole, Name: "cert-manager:cert-manager-controller-clusterissuers", Reason: certManagerSecrets},
	{Rule: "RBAC-02", Type: clusterRole, Name: "cert-manager:cert-manager-controller-issuers", Reason: certManagerSecrets},
	{Rule: "RBAC-02", Type: clusterRole, Name: "cert-manager:cert-manager-controller-orders", Reason: certManagerSecrets},
	{Rule: "RBAC-02", Type: role, Name: "cert-manager:cert-manager/cert-manager-webhook:dynamic-serving", Reason: certManagerSecrets},
	{Rule: "RBAC-01", Type: clusterRole, Name: "gatekeeper:gatekeeper-manager-role", Reason: gatekeeperAny},
	{Rule: "RBAC-02", Type: role, Name: "gatekeeper:gatekeeper-system/gatekeeper-manager-role", Reason: gatekeeperAny},
	{Rule: "RBAC-02", Type: role, Name: "jenkins:intelliflow-ci/jenkins-schedule-agents", Reason: jenkinsExec},
	{Rule: "RBAC-02", Type: clusterRole, Name: "logging-operator:elastic-operator", Reason: eckSecrets},
	{Rule: "RBAC-01", Type: clusterRole, Name: "monitoring-adapter:prometheus-adapter-external-metrics", Reason: adapterMetrics},
	{Rule: "RBAC-01", Type: clusterRole, Name: "monitoring-adapter:prometheus-adapter-server-resources", Reason: adapterMetrics},
	{Rule: "RBAC-01", Type: clusterRole, Name: "monitoring:monitoring-kube-prometheus-operator", Reason: operatorCRDs},
	{Rule: "RBAC-02", Type: clusterRole, Name: "monitoring:monitoring-grafana-clusterrole", Reason: grafanaSidecar},
	{Rule: "RBAC-02", Type: role, Name: "vault:intelliflow-security/vault-agent-injector-leader-elector-role", Reason: injectorLeader},
	{Rule: "RBAC-02", Type: clusterRole, Name: "addons-ingress-nginx:ingress-nginx", Reason: ingressSecrets},
	{Rule: "RBAC-02", Type: role, Name: "addons-ingress-nginx:ingress-nginx/ingress-nginx", Reason: ingressSecrets},
}

// singletons are the chart workloads that run one pod by design (REL-01):
// a second would do the same work twice or fight over the same state. Each
// restarts in place; none is on the payment path.
var singletons = []rules.Exception{
	{Rule: "REL-01", Type: deployment, Name: "gatekeeper:gatekeeper-system/gatekeeper-audit", Reason: "Gatekeeper's audit " +
		"pass lists the whole cluster and writes each constraint's violations into its status; a second auditor would " +
		"double the API load and race the first on the same status. Admission runs in the webhook's replicas, not here"},
	{Rule: "REL-01", Type: deployment, Name: "monitoring:intelliflow-monitoring/monitoring-grafana", Reason: "Grafana keeps its " +
		"users and settings in SQLite on one volume (ReadWriteOnce); a second replica needs an external database. Dashboards " +
		"are provisioned from ConfigMaps and come back on restart; alerting runs in Alertmanager, not Grafana"},
	{Rule: "REL-01", Type: deployment, Name: "monitoring:intelliflow-monitoring/monitoring-kube-prometheus-operator", Reason: "the " +
		"Prometheus operator has no leader election: two would reconcile the same StatefulSets against each other. Prometheus " +
		"and Alertmanager keep running while it restarts"},
	{Rule: "REL-01", Type: deployment, Name: "monitoring:intelliflow-monitoring/monitoring-kube-state-metrics", Reason: "two " +
		"kube-state-metrics replicas would export every object's series twice; its chart scales by sharding, which one " +
		"cluster of this size does not need. A restart loses one scrape"},
	{Rule: "REL-01", Type: statefulSet, Name: "jenkins:intelliflow-ci/jenkins", Reason: "the Jenkins controller is a singleton: " +
		"its jobs, queue and build history live on its home volume (ReadWriteOnce) and two controllers would run every job " +
		"twice. Builds run in agent pods; a restart resumes the queue from the volume"},
}

// singleHealth is why a chart container checks one endpoint for liveness
// and readiness: the binary serves no other, and the endpoint reports the
// process's own state, never a dependency's, which is what REL-04 guards
// against (a downstream outage restarting every pod).
const singleHealth = "; its binary serves that one health endpoint only, reporting the process's own state and no dependency's, " +
	"so liveness cannot follow a downstream outage (what the rule guards against); the chart sets both probes"

// noTraffic is why a chart controller has no readiness probe.
const noTraffic = "; its ports serve only its own metrics and health, no Service routes callers to it, so readiness would gate " +
	"nothing; its liveness probe restarts it when it hangs"

var healthChecks = []rules.Exception{
	{Rule: "REL-04", Type: deployment, Name: "cert-manager:cert-manager/cert-manager", Reason: "cert-manager's controller" + noTraffic},
	{Rule: "REL-04", Type: deployment, Name: "cert-manager:cert-manager/cert-manager-cainjector", Reason: "cert-manager's CA injector" + noTraffic},
	{Rule: "REL-04", Type: deployment, Name: "addons-cluster-autoscaler:kube-system/cluster-autoscaler-aws-cluster-autoscaler", Reason: "the cluster-autoscaler" + noTraffic},
	{Rule: "REL-04", Type: statefulSet, Name: "logging-operator:elastic-system/elastic-operator", Reason: "the ECK operator's chart " +
		"has no probe values and the operator serves no health endpoint to point one at; it runs two replicas with a budget " +
		"of one, so one serves the webhook while the other restarts"},
	{Rule: "REL-04", Type: daemonSet, Name: falco.DaemonSetName, Reason: "Falco checks /healthz" + singleHealth},
	{Rule: "REL-04", Type: deployment, Name: falco.Release + ":" + falco.Namespace + "/" + falco.SidekickName, Reason: "Falcosidekick checks /ping" + singleHealth},
	{Rule: "REL-04", Type: statefulSet, Name: "jenkins:intelliflow-ci/jenkins", Reason: "Jenkins checks /login" + singleHealth},
	{Rule: "REL-04", Type: statefulSet, Name: "logging-logstash:intelliflow-monitoring/logstash-logstash", Reason: "Logstash checks its node API's /" + singleHealth},
	{Rule: "REL-04", Type: deployment, Name: "monitoring:intelliflow-monitoring/monitoring-kube-prometheus-operator", Reason: "the Prometheus operator checks /healthz" + singleHealth},
	{Rule: "REL-04", Type: deployment, Name: "vault:intelliflow-security/vault-agent-injector", Reason: "the Vault agent injector checks /health/ready" + singleHealth},
}

// nodeAudit is why kube-bench's CronJob cannot be restricted.
const nodeAudit = "kube-bench's CIS node checks read the kubelet's process (the host's PID namespace) and its root-only " +
	"config and credentials (hostPath, read-only, as root with no capability); it runs nightly among the node agents " +
	"(Falco's namespace: Pod Security privileged, exempt from Gatekeeper), with no token, no network, a read-only root"

// nodeAuditExceptions waive, for kube-bench's CronJob only, the parts of
// the restricted profile its checks cannot meet.
func nodeAuditExceptions() []rules.Exception {
	var out []rules.Exception
	for _, rule := range []string{"SEC-01", "SEC-04", "SEC-05", "SEC-09", "SEC-10"} {
		out = append(out, rules.Exception{Rule: rule, Type: "kubernetes:batch/v1:CronJob", Name: nodeaudit.Name, Reason: nodeAudit})
	}
	return out
}

// falcoExceptions waive, for the Falco DaemonSet only, the restricted
// profile's parts its eBPF probe cannot meet: root, added capabilities,
// host paths, a writable root, the token its chart mounts.
func falcoExceptions() []rules.Exception {
	var out []rules.Exception
	for _, rule := range []string{"SEC-01", "SEC-03", "SEC-04", "SEC-05", "SEC-06", "SEC-07", "SEC-08", "SEC-10", "SEC-13"} {
		out = append(out, rules.Exception{Rule: rule, Type: daemonSet, Name: falco.DaemonSetName, Reason: falcoAgent})
	}
	return out
}
