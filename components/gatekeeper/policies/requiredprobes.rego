# Readiness and liveness probes on every long-running container (REL-04);
# init containers run to completion and need none.
package intelliflowrequiredprobes

import data.lib.intelliflow.pods
import rego.v1

violation contains {"msg": msg} if {
	some c in pods.containers
	some probe in ["readinessProbe", "livenessProbe"]
	not c[probe]
	msg := sprintf("%s %s: container %q has no %s", [input.review.object.kind, pods.name_of, c.name, probe])
}
