# Read-only root filesystem (SEC-08): scratch space is an emptyDir.
package intelliflowreadonlyrootfs

import data.lib.intelliflow.pods

violation contains {"msg": msg} if {
	some c in pods.all_containers
	not pods.container_security_context(c).readOnlyRootFilesystem == true
	msg := sprintf("%s %s: container %q has a writable root filesystem; set readOnlyRootFilesystem: true and mount an emptyDir for scratch", [input.review.object.kind, pods.name_of, c.name])
}
