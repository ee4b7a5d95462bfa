# Drop ALL capabilities (SEC-06), add back only what parameters.allowedAdd
# names (NET_BIND_SERVICE at most).
package intelliflowdropallcapabilities

import data.lib.intelliflow.pods

violation contains {"msg": msg} if {
	some c in pods.all_containers
	drops := {upper(d) | some d in object.get(pods.container_security_context(c), ["capabilities", "drop"], [])}
	not "ALL" in drops
	msg := sprintf("%s %s: container %q does not drop ALL capabilities", [input.review.object.kind, pods.name_of, c.name])
}

violation contains {"msg": msg} if {
	some c in pods.all_containers
	some added in object.get(pods.container_security_context(c), ["capabilities", "add"], [])
	not upper(added) in {upper(a) | some a in object.get(input.parameters, "allowedAdd", [])}
	msg := sprintf("%s %s: container %q adds capability %s; allowed: %v", [input.review.object.kind, pods.name_of, c.name, added, object.get(input.parameters, "allowedAdd", [])])
}
