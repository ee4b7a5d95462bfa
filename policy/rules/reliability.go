package rules

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// hpaTypes are every served HorizontalPodAutoscaler version: REL-06 examines
// all of them to send the older ones to autoscaling/v2.
var hpaTypes = []string{
	"kubernetes:autoscaling/v1:HorizontalPodAutoscaler", hpaType,
	"kubernetes:autoscaling/v2beta1:HorizontalPodAutoscaler", "kubernetes:autoscaling/v2beta2:HorizontalPodAutoscaler",
}

const (
	deploymentType  = "kubernetes:apps/v1:Deployment"
	statefulSetType = "kubernetes:apps/v1:StatefulSet"
	hpaType         = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
	serviceType     = "kubernetes:core/v1:Service"
	configMapType   = "kubernetes:core/v1:ConfigMap"
	appLabel        = "app.kubernetes.io/name"
)

// REL01Replicas requires two replicas or more for services that run
// continuously; a replica count left unset (an HPA owns it) passes here, and
// the stack check (REL-01-hpa-owns-replicas) holds the HPA to the same.
func REL01Replicas() Rule {
	return Rule{
		Name:        "REL-01-replicas",
		Description: "REL-01: replicas >= 2 for long-running services; spec.replicas unset when an HPA owns it.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       []string{deploymentType, statefulSetType},
		Check: func(r policyx.AnalyzerResource) []Finding {
			v, ok := at(r.Properties, "spec", "replicas")
			switch {
			case !ok || v.IsNull():
				return nil
			case v.IsComputed():
				return []Finding{unchecked("spec.replicas is not known yet")}
			case v.IsNumber() && v.AsNumber() < 2:
				return []Finding{violation("spec.replicas: %v; run at least 2 (or leave it unset under an HPA with minReplicas >= 2)", v.AsNumber())}
			}
			return nil
		},
	}
}

// REL03Spread requires spreading across zones and hosts for the named
// services (the payment path).
func REL03Spread(services []string) Rule {
	return podRule("REL-03-spread", fmt.Sprintf("REL-03: %v spread across zones and hosts.", services), policyx.EnforcementLevelMandatory,
		func(p pod) []Finding {
			name := p.tmpl.Labels[appLabel]
			if !slices.Contains(services, name) {
				return nil
			}
			spec := p.tmpl.Spec
			zone, host := false, false
			for _, c := range spec.TopologySpreadConstraints {
				zone = zone || c.TopologyKey == corev1.LabelTopologyZone
				host = host || c.TopologyKey == corev1.LabelHostname
			}
			if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil {
				for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
					host = host || t.TopologyKey == corev1.LabelHostname
					zone = zone || t.TopologyKey == corev1.LabelTopologyZone
				}
				for _, t := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
					host = host || t.PodAffinityTerm.TopologyKey == corev1.LabelHostname
				}
			}
			var out []Finding
			if !zone {
				out = append(out, violation("%s.topologySpreadConstraints: %s must spread across zones (topologyKey %s)", p.field, name, corev1.LabelTopologyZone))
			}
			if !host {
				out = append(out, violation("%s: %s must spread across hosts (a %s spread constraint or pod anti-affinity)", p.field, name, corev1.LabelHostname))
			}
			return out
		})
}

func sameProbe(a, b *corev1.Probe) bool {
	if a == nil || b == nil {
		return false
	}
	if a.HTTPGet != nil && b.HTTPGet != nil {
		return a.HTTPGet.Path == b.HTTPGet.Path && a.HTTPGet.Port == b.HTTPGet.Port
	}
	if a.Exec != nil && b.Exec != nil {
		return slices.Equal(a.Exec.Command, b.Exec.Command)
	}
	if a.TCPSocket != nil && b.TCPSocket != nil {
		return a.TCPSocket.Port == b.TCPSocket.Port
	}
	return false
}

// REL04Probes requires readiness on serving containers, a liveness check
// that differs from readiness (liveness never follows downstream health).
func REL04Probes() Rule {
	return podRule("REL-04-probes", "REL-04: readiness probe on serving containers; liveness differs from readiness.", policyx.EnforcementLevelMandatory,
		func(p pod) []Finding {
			var out []Finding
			for i, c := range p.tmpl.Spec.Containers {
				field := fmt.Sprintf("%s.containers[%d]", p.field, i)
				if len(c.Ports) > 0 && c.ReadinessProbe == nil {
					out = append(out, violation("%s.readinessProbe: container %q serves ports but has no readiness probe; traffic would reach it before it is ready", field, c.Name))
				}
				if sameProbe(c.LivenessProbe, c.ReadinessProbe) {
					out = append(out, violation("%s.livenessProbe: container %q checks the same endpoint for liveness and readiness; a downstream outage would restart every pod. Point liveness at its own endpoint (/livez)", field, c.Name))
				}
			}
			return out
		})
}

// REL04StartupProbe asks for a startup probe on serving containers, so a
// slow start (a model load) is not killed by liveness.
func REL04StartupProbe() Rule {
	return podRule("REL-04-startup-probe", "REL-04: startupProbe where loading is slow.", policyx.EnforcementLevelAdvisory,
		func(p pod) []Finding {
			var out []Finding
			for i, c := range p.tmpl.Spec.Containers {
				if len(c.Ports) > 0 && c.LivenessProbe != nil && c.StartupProbe == nil {
					out = append(out, violation("%s.containers[%d].startupProbe: container %q has liveness without a startup probe; a slow start will be restarted", p.field, i, c.Name))
				}
			}
			return out
		})
}

// REL05GracefulTermination requires a pre-stop delay, a grace period longer
// than it, and rolling updates that never take a serving pod away first.
func REL05GracefulTermination() Rule {
	return Rule{
		Name:        "REL-05-graceful-termination",
		Description: "REL-05: preStop delay, terminationGracePeriodSeconds longer than the drain, RollingUpdate maxUnavailable 0.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       []string{deploymentType},
		Check: func(r policyx.AnalyzerResource) []Finding {
			out := withPod(r, func(p pod) []Finding {
				var out []Finding
				grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
				if g := p.tmpl.Spec.TerminationGracePeriodSeconds; g != nil {
					grace = *g
				}
				for i, c := range p.tmpl.Spec.Containers {
					if len(c.Ports) == 0 {
						continue
					}
					field := fmt.Sprintf("%s.containers[%d].lifecycle.preStop", p.field, i)
					if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
						out = append(out, violation("%s: container %q has no pre-stop delay; endpoints keep sending it traffic while it shuts down (use sleep: {seconds: 5})", field, c.Name))
						continue
					}
					if s := c.Lifecycle.PreStop.Sleep; s != nil && grace <= s.Seconds {
						out = append(out, violation("%s.terminationGracePeriodSeconds: %d is not longer than the %ds pre-stop sleep; the server never gets to drain", p.field, grace, s.Seconds))
					}
				}
				return out
			})
			t, ok := at(r.Properties, "spec", "strategy", "type")
			if ok && t.IsString() && t.AsString() == "Recreate" {
				return append(out, violation("spec.strategy.type: Recreate takes every pod down at once; use RollingUpdate with maxUnavailable 0"))
			}
			mu, ok := at(r.Properties, "spec", "strategy", "rollingUpdate", "maxUnavailable")
			switch {
			case !ok:
				out = append(out, violation("spec.strategy.rollingUpdate.maxUnavailable: unset means 25%%; set it to 0"))
			case mu.IsComputed():
				out = append(out, unchecked("spec.strategy.rollingUpdate.maxUnavailable is not known yet"))
			default:
				var v intstr.IntOrString
				if err := decode(mu, &v); err != nil || !(v.IntValue() == 0 && (v.Type == intstr.Int || v.StrVal == "0%")) {
					out = append(out, violation("spec.strategy.rollingUpdate.maxUnavailable: %v; set it to 0 so a rollout never lowers serving capacity", plain(mu)))
				}
			}
			return out
		},
	}
}

// REL06HPA requires autoscaling/v2 HPAs with minReplicas >= 2, max > min and
// an explicit scaling behavior.
func REL06HPA() Rule {
	return Rule{
		Name:        "REL-06-hpa",
		Description: "REL-06: HPA autoscaling/v2, minReplicas >= 2, maxReplicas > minReplicas, explicit behavior.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       hpaTypes,
		Check: func(r policyx.AnalyzerResource) []Finding {
			if r.Type != hpaType {
				return []Finding{violation("%s: use autoscaling/v2", r.Type)}
			}
			spec, ok := at(r.Properties, "spec")
			if !ok {
				return []Finding{violation("spec: missing")}
			}
			if spec.HasComputed() {
				return []Finding{unchecked("spec is not known yet")}
			}
			var s autoscalingv2.HorizontalPodAutoscalerSpec
			if err := decode(spec, &s); err != nil {
				return []Finding{violation("spec does not decode: %v", err)}
			}
			var out []Finding
			if s.MinReplicas == nil || *s.MinReplicas < 2 {
				out = append(out, violation("spec.minReplicas: must be 2 or more"))
			}
			if s.MinReplicas != nil && s.MaxReplicas <= *s.MinReplicas {
				out = append(out, violation("spec.maxReplicas: %d must be greater than minReplicas %d", s.MaxReplicas, *s.MinReplicas))
			}
			if s.Behavior == nil || s.Behavior.ScaleUp == nil || s.Behavior.ScaleDown == nil {
				out = append(out, violation("spec.behavior: set scaleUp and scaleDown explicitly, so scaling is reviewed, not defaulted"))
			}
			return out
		},
	}
}
