# Images come from the allowed registries only (SEC-18).
package intelliflowallowedregistries

import data.lib.intelliflow.pods

allowed(image) if {
	some r in input.parameters.registries
	startswith(image, concat("", [trim_suffix(r, "/"), "/"]))
}

violation contains {"msg": msg} if {
	some c in pods.all_containers
	not allowed(c.image)
	msg := sprintf("%s %s: container %q uses image %q, not from an allowed registry %v", [input.review.object.kind, pods.name_of, c.name, c.image, input.parameters.registries])
}
