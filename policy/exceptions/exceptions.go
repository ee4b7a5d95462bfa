// Package exceptions lists the platform's waivers of policy rules: one rule,
// one resource, one reason a reviewer can judge. Every waived finding is
// still reported as advisory on every preview (policy "excepted-findings").
// Add entries here, in review, never by turning a rule off. The pack
// (policy/main.go) and the stacks' policy tests (infra) read this list.
package exceptions

import (
	"github.com/intelliflow/platform/components/deviceplugin"
	"github.com/intelliflow/platform/policy/rules"
)

const daemonSet = "kubernetes:apps/v1:DaemonSet"

// devicePlugin is why the NVIDIA device plugin cannot be restricted.
const devicePlugin = "the NVIDIA device plugin registers GPUs with the kubelet through a socket in the host's " +
	deviceplugin.SocketDir + " (hostPath), which only root can write; it runs in kube-system on GPU nodes only, " +
	"unprivileged, with no capabilities, a read-only root filesystem and no network"

// List is every exception of the platform.
var List = []rules.Exception{
	{Rule: "SEC-01", Type: daemonSet, Name: deviceplugin.Name, Reason: devicePlugin},
	{Rule: "SEC-04", Type: daemonSet, Name: deviceplugin.Name, Reason: devicePlugin},
	{Rule: "SEC-05", Type: daemonSet, Name: deviceplugin.Name, Reason: devicePlugin},
	{Rule: "SEC-10", Type: daemonSet, Name: deviceplugin.Name, Reason: devicePlugin},
}
