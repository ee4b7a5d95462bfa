# CPU and memory requests and a memory limit on every container (SEC-20).
package intelliflowrequiredresources

import data.lib.intelliflow.pods

required := [["requests", "cpu"], ["requests", "memory"], ["limits", "memory"]]

violation contains {"msg": msg} if {
	some c in pods.all_containers
	some path in required
	not object.get(object.get(c, "resources", {}), path, "") != ""
	msg := sprintf("%s %s: container %q has no resources.%s.%s", [input.review.object.kind, pods.name_of, c.name, path[0], path[1]])
}
