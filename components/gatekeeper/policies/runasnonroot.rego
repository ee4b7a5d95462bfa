# Run as non-root (SEC-04): runAsNonRoot true and never UID 0, from the
# container or the pod.
package intelliflowrunasnonroot

import data.lib.intelliflow.pods

# A helper rule rather than `not pods.effective(...) == true`: with OPA
# 1.22 that negated comparison on an undefined function result produced no
# violation (the disallowed-no-runasnonroot case caught it).
non_root(c) if pods.effective(c, "runAsNonRoot") == true

violation contains {"msg": msg} if {
	some c in pods.all_containers
	not non_root(c)
	msg := sprintf("%s %s: container %q does not set runAsNonRoot: true (on itself or the pod)", [input.review.object.kind, pods.name_of, c.name])
}

violation contains {"msg": msg} if {
	some c in pods.all_containers
	pods.effective(c, "runAsUser") == 0
	msg := sprintf("%s %s: container %q runs as UID 0", [input.review.object.kind, pods.name_of, c.name])
}
