# No privileged containers (SEC-02): a privileged container is root on the node.
package intelliflownoprivileged

import data.lib.intelliflow.pods

violation contains {"msg": msg} if {
	some c in pods.all_containers
	pods.container_security_context(c).privileged == true
	msg := sprintf("%s %s: container %q is privileged; it would be root on the node", [input.review.object.kind, pods.name_of, c.name])
}
