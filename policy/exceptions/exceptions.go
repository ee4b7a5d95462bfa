// Package exceptions lists the platform's waivers of policy rules: one rule,
// one resource, one reason a reviewer can judge. Every waived finding is
// still reported as advisory on every preview (policy "excepted-findings").
// Add entries here, in review, never by turning a rule off. The pack
// (policy/main.go) and the stacks' policy tests (infra) read this list.
package exceptions

import (
	"github.com/intelliflow/platform/components/deviceplugin"
	"github.com/intelliflow/platform/components/falco"
	"github.com/intelliflow/platform/policy/rules"
)

const daemonSet = "kubernetes:apps/v1:DaemonSet"

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
}, falcoExceptions()...)

// falcoExceptions waive, for the Falco DaemonSet only, the restricted
// profile's parts its eBPF probe cannot meet: root, added capabilities,
// host paths, a writable root, the token its chart mounts.
func falcoExceptions() []rules.Exception {
	var out []rules.Exception
	for _, rule := range []string{"SEC-01", "SEC-03", "SEC-04", "SEC-05", "SEC-06", "SEC-08", "SEC-10", "SEC-13"} {
		out = append(out, rules.Exception{Rule: rule, Type: daemonSet, Name: falco.DaemonSetName, Reason: falcoAgent})
	}
	return out
}
