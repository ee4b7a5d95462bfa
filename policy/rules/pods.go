package rules

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	corev1 "k8s.io/api/core/v1"
)

// pod is a workload's pod template, decoded into the Kubernetes API types.
type pod struct {
	// field is where the pod spec sits, e.g. spec.template.spec.
	field string
	tmpl  corev1.PodTemplateSpec
}

// namedContainer is any container of a pod with where it sits.
type namedContainer struct {
	field string
	c     corev1.Container
}

// containers lists init, app and ephemeral containers.
func (p pod) containers() []namedContainer {
	var out []namedContainer
	for i, c := range p.tmpl.Spec.InitContainers {
		out = append(out, namedContainer{fmt.Sprintf("%s.initContainers[%d]", p.field, i), c})
	}
	for i, c := range p.tmpl.Spec.Containers {
		out = append(out, namedContainer{fmt.Sprintf("%s.containers[%d]", p.field, i), c})
	}
	for i, c := range p.tmpl.Spec.EphemeralContainers {
		out = append(out, namedContainer{fmt.Sprintf("%s.ephemeralContainers[%d]", p.field, i), corev1.Container(c.EphemeralContainerCommon)})
	}
	return out
}

// withPod runs check on the pod template a workload carries. Resources
// without one are skipped; a template with unknown values is reported as
// unchecked, never guessed at.
func withPod(r policyx.AnalyzerResource, check func(p pod) []Finding) []Finding {
	path, ok := podSpecPaths[r.Type]
	if !ok {
		return nil
	}
	field := strings.Join(path, ".")
	tmplPath := path[:len(path)-1]
	tmpl := property.New(r.Properties)
	if len(tmplPath) > 0 {
		v, present := at(r.Properties, tmplPath...)
		if !present {
			return []Finding{violation("%s: the workload has no pod template", strings.Join(tmplPath, "."))}
		}
		tmpl = v
	}
	if tmpl.HasComputed() {
		return []Finding{unchecked("%s has values not known yet", field)}
	}
	p := pod{field: field}
	if err := decode(tmpl, &p.tmpl); err != nil {
		return []Finding{violation("%s does not decode as a pod template: %v", field, err)}
	}
	return check(p)
}

// effective returns a container's setting, falling back to the pod's.
func runAsNonRoot(p pod, c corev1.Container) (set, value bool) {
	if sc := c.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		return true, *sc.RunAsNonRoot
	}
	if psc := p.tmpl.Spec.SecurityContext; psc != nil && psc.RunAsNonRoot != nil {
		return true, *psc.RunAsNonRoot
	}
	return false, false
}

func runAsUser(p pod, c corev1.Container) *int64 {
	if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil {
		return sc.RunAsUser
	}
	if psc := p.tmpl.Spec.SecurityContext; psc != nil {
		return psc.RunAsUser
	}
	return nil
}

func runAsGroup(p pod, c corev1.Container) *int64 {
	if sc := c.SecurityContext; sc != nil && sc.RunAsGroup != nil {
		return sc.RunAsGroup
	}
	if psc := p.tmpl.Spec.SecurityContext; psc != nil {
		return psc.RunAsGroup
	}
	return nil
}

func seccompType(p pod, c corev1.Container) corev1.SeccompProfileType {
	if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		return sc.SeccompProfile.Type
	}
	if psc := p.tmpl.Spec.SecurityContext; psc != nil && psc.SeccompProfile != nil {
		return psc.SeccompProfile.Type
	}
	return ""
}
