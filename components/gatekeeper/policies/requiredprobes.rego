# Readiness and liveness probes on every serving container (one that
# declares ports), as the pack's REL-04 asks; a sidecar serving nothing
# (a config reloader) has nothing to probe, and init containers run to
# completion.
package intelliflowrequiredprobes

import data.lib.intelliflow.pods

violation contains {"msg": msg} if {
	some c in pods.containers
	count(object.get(c, "ports", [])) > 0
	some probe in ["readinessProbe", "livenessProbe"]
	not c[probe]
	msg := sprintf("%s %s: container %q has no %s", [input.review.object.kind, pods.name_of, c.name, probe])
}
