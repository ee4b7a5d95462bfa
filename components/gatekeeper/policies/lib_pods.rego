# Shared by every template: the pod spec of whatever is admitted (a Pod, a
# workload's template, a CronJob's job template) and its containers.
package lib.intelliflow.pods

pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

pod_spec(obj) := obj.spec.template.spec if not obj.kind in {"Pod", "CronJob"}

# containers are the long-running containers with their kind for messages.
containers contains c if {
	some c in object.get(pod_spec(input.review.object), "containers", [])
}

# all_containers adds init and ephemeral containers.
all_containers contains c if {
	some c in containers
}

all_containers contains c if {
	some c in object.get(pod_spec(input.review.object), "initContainers", [])
}

all_containers contains c if {
	some c in object.get(pod_spec(input.review.object), "ephemeralContainers", [])
}

# pod_security_context is the pod-level securityContext, or {}.
pod_security_context := object.get(pod_spec(input.review.object), "securityContext", {})

# container_security_context is a container's securityContext, or {}.
container_security_context(c) := object.get(c, "securityContext", {})

# effective returns the container's value of a security field, else the pod's.
effective(c, field) := container_security_context(c)[field]

effective(c, field) := pod_security_context[field] if not field in object.keys(container_security_context(c))

name_of := sprintf("%s/%s", [object.get(input.review.object.metadata, "namespace", ""), input.review.object.metadata.name])
