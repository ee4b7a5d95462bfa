package rules

import (
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	corev1 "k8s.io/api/core/v1"

	"github.com/intelliflow/platform/internal/secretname"
)

// podRule builds a rule that checks pod templates.
func podRule(name, description string, level policyx.EnforcementLevel, check func(p pod) []Finding) Rule {
	return Rule{Name: name, Description: description, Level: level, Types: workloadTypes, Check: func(r policyx.AnalyzerResource) []Finding {
		return withPod(r, check)
	}}
}

// perContainer runs check on every container of the pod.
func perContainer(check func(p pod, c namedContainer) []Finding) func(p pod) []Finding {
	return func(p pod) []Finding {
		var out []Finding
		for _, c := range p.containers() {
			out = append(out, check(p, c)...)
		}
		return out
	}
}

// SEC02NoPrivileged forbids privileged containers.
func SEC02NoPrivileged() Rule {
	return podRule("SEC-02-no-privileged", "SEC-02: no privileged containers.", policyx.EnforcementLevelMandatory,
		perContainer(func(_ pod, c namedContainer) []Finding {
			if sc := c.c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
				return []Finding{violation("%s.securityContext.privileged: container %q is privileged; remove it (a privileged container is root on the node)", c.field, c.c.Name)}
			}
			return nil
		}))
}

// SEC03NoPrivilegeEscalation requires allowPrivilegeEscalation: false.
func SEC03NoPrivilegeEscalation() Rule {
	return podRule("SEC-03-no-privilege-escalation", "SEC-03: allowPrivilegeEscalation false on every container.", policyx.EnforcementLevelMandatory,
		perContainer(func(_ pod, c namedContainer) []Finding {
			if sc := c.c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				return []Finding{violation("%s.securityContext.allowPrivilegeEscalation: container %q must set it to false", c.field, c.c.Name)}
			}
			return nil
		}))
}

// SEC04NonRoot requires runAsNonRoot and a non-zero UID.
func SEC04NonRoot() Rule {
	return podRule("SEC-04-non-root", "SEC-04: runAsNonRoot true and runAsUser not 0.", policyx.EnforcementLevelMandatory,
		perContainer(func(p pod, c namedContainer) []Finding {
			var out []Finding
			if set, v := runAsNonRoot(p, c.c); !set || !v {
				out = append(out, violation("%s.securityContext.runAsNonRoot: container %q must run as non-root (set runAsNonRoot: true on the pod or container)", c.field, c.c.Name))
			}
			if u := runAsUser(p, c.c); u != nil && *u == 0 {
				out = append(out, violation("%s.securityContext.runAsUser: container %q runs as UID 0; use a UID of 10000 or more", c.field, c.c.Name))
			}
			return out
		}))
}

// SEC05HighUID asks for UID and GID of 10000 or more, clear of the users an
// image or the node may define.
func SEC05HighUID() Rule {
	return podRule("SEC-05-high-uid", "SEC-05: run as UID and GID 10000 or more.", policyx.EnforcementLevelAdvisory,
		perContainer(func(p pod, c namedContainer) []Finding {
			var out []Finding
			if u := runAsUser(p, c.c); u == nil || *u < 10000 {
				out = append(out, violation("%s.securityContext.runAsUser: container %q should set a UID of 10000 or more", c.field, c.c.Name))
			}
			if g := runAsGroup(p, c.c); g == nil || *g < 10000 {
				out = append(out, violation("%s.securityContext.runAsGroup: container %q should set a GID of 10000 or more", c.field, c.c.Name))
			}
			return out
		}))
}

// SEC06Capabilities requires dropping ALL and adding at most NET_BIND_SERVICE.
func SEC06Capabilities() Rule {
	return podRule("SEC-06-capabilities", "SEC-06: capabilities drop ALL; add only NET_BIND_SERVICE.", policyx.EnforcementLevelMandatory,
		perContainer(func(_ pod, c namedContainer) []Finding {
			var out []Finding
			var caps *corev1.Capabilities
			if c.c.SecurityContext != nil {
				caps = c.c.SecurityContext.Capabilities
			}
			if caps == nil || !slices.Contains(caps.Drop, "ALL") {
				out = append(out, violation("%s.securityContext.capabilities.drop: container %q must drop ALL", c.field, c.c.Name))
			}
			if caps != nil {
				for _, a := range caps.Add {
					if a != "NET_BIND_SERVICE" {
						out = append(out, violation("%s.securityContext.capabilities.add: container %q adds %s; only NET_BIND_SERVICE may be added", c.field, c.c.Name, a))
					}
				}
			}
			return out
		}))
}

// SEC07Seccomp requires the RuntimeDefault (or a Localhost) seccomp profile.
func SEC07Seccomp() Rule {
	return podRule("SEC-07-seccomp", "SEC-07: seccomp profile RuntimeDefault.", policyx.EnforcementLevelMandatory,
		perContainer(func(p pod, c namedContainer) []Finding {
			switch seccompType(p, c.c) {
			case corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeLocalhost:
				return nil
			}
			return []Finding{violation("%s.securityContext.seccompProfile: container %q needs type RuntimeDefault (set it on the pod)", c.field, c.c.Name)}
		}))
}

// SEC08ReadOnlyRoot requires a read-only root filesystem; scratch space is an
// emptyDir.
func SEC08ReadOnlyRoot() Rule {
	return podRule("SEC-08-read-only-root", "SEC-08: readOnlyRootFilesystem true (emptyDir for scratch).", policyx.EnforcementLevelMandatory,
		perContainer(func(_ pod, c namedContainer) []Finding {
			if sc := c.c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				return []Finding{violation("%s.securityContext.readOnlyRootFilesystem: container %q must set it to true; mount an emptyDir where it writes", c.field, c.c.Name)}
			}
			return nil
		}))
}

// SEC09NoHostNamespaces forbids sharing the node's network, PID or IPC.
func SEC09NoHostNamespaces() Rule {
	return podRule("SEC-09-no-host-namespaces", "SEC-09: no hostNetwork, hostPID or hostIPC.", policyx.EnforcementLevelMandatory,
		func(p pod) []Finding {
			var out []Finding
			s := p.tmpl.Spec
			for _, h := range []struct {
				field string
				on    bool
			}{{"hostNetwork", s.HostNetwork}, {"hostPID", s.HostPID}, {"hostIPC", s.HostIPC}} {
				if h.on {
					out = append(out, violation("%s.%s: the pod shares the node's namespace; remove it", p.field, h.field))
				}
			}
			return out
		})
}

// SEC10SafeVolumes allows only the volume types of the restricted standard.
func SEC10SafeVolumes() Rule {
	return podRule("SEC-10-safe-volumes", "SEC-10: only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected and secret volumes.", policyx.EnforcementLevelMandatory,
		func(p pod) []Finding {
			var out []Finding
			for i, v := range p.tmpl.Spec.Volumes {
				s := v.VolumeSource
				safe := s.ConfigMap != nil || s.CSI != nil || s.DownwardAPI != nil || s.EmptyDir != nil || s.Ephemeral != nil ||
					s.PersistentVolumeClaim != nil || s.Projected != nil || s.Secret != nil
				if !safe {
					out = append(out, violation("%s.volumes[%d]: volume %q is of a type the restricted standard forbids (hostPath and friends reach the node); use an emptyDir, PVC or projected volume", p.field, i, v.Name))
				}
			}
			return out
		})
}

// SEC11NoHostPort forbids binding node ports from pods.
func SEC11NoHostPort() Rule {
	return podRule("SEC-11-no-host-port", "SEC-11: no hostPort.", policyx.EnforcementLevelMandatory,
		perContainer(func(_ pod, c namedContainer) []Finding {
			var out []Finding
			for i, port := range c.c.Ports {
				if port.HostPort != 0 {
					out = append(out, violation("%s.ports[%d].hostPort: container %q binds node port %d; expose it through a Service", c.field, i, c.c.Name, port.HostPort))
				}
			}
			return out
		}))
}

// safeSysctls are the sysctls the restricted standard allows.
var safeSysctls = []string{
	"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
}

// SEC12ProcMountSysctls allows only the default procMount and safe sysctls.
func SEC12ProcMountSysctls() Rule {
	return podRule("SEC-12-proc-mount-sysctls", "SEC-12: default procMount and only safe sysctls.", policyx.EnforcementLevelMandatory,
		func(p pod) []Finding {
			var out []Finding
			for _, c := range p.containers() {
				if sc := c.c.SecurityContext; sc != nil && sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
					out = append(out, violation("%s.securityContext.procMount: container %q uses %s; remove it", c.field, c.c.Name, *sc.ProcMount))
				}
			}
			if psc := p.tmpl.Spec.SecurityContext; psc != nil {
				for i, s := range psc.Sysctls {
					if !slices.Contains(safeSysctls, s.Name) {
						out = append(out, violation("%s.securityContext.sysctls[%d]: %s is not a safe sysctl; remove it", p.field, i, s.Name))
					}
				}
			}
			return out
		})
}

// KubernetesAPIAnnotation marks a pod template whose containers call the
// Kubernetes API and so need their service account token (SEC-13).
const KubernetesAPIAnnotation = "intelliflow.io/kubernetes-api"

// SEC13NoTokenAutomount requires automountServiceAccountToken: false unless
// the template declares that it calls the Kubernetes API.
func SEC13NoTokenAutomount() Rule {
	return podRule("SEC-13-no-token-automount", "SEC-13: automountServiceAccountToken false unless the workload calls the Kubernetes API.", policyx.EnforcementLevelMandatory,
		func(p pod) []Finding {
			if p.tmpl.Annotations[KubernetesAPIAnnotation] == "true" {
				return nil
			}
			if a := p.tmpl.Spec.AutomountServiceAccountToken; a == nil || *a {
				return []Finding{violation("%s.automountServiceAccountToken: must be false; a pod that calls the Kubernetes API says so with the %s: \"true\" annotation", p.field, KubernetesAPIAnnotation)}
			}
			return nil
		})
}

// SEC14NamedServiceAccount requires a service account of the workload's own.
func SEC14NamedServiceAccount() Rule {
	return podRule("SEC-14-named-service-account", "SEC-14: a named ServiceAccount the stack creates, never default.", policyx.EnforcementLevelMandatory,
		func(p pod) []Finding {
			sa := p.tmpl.Spec.ServiceAccountName
			if sa == "" || sa == "default" {
				return []Finding{violation("%s.serviceAccountName: %q; give the workload a ServiceAccount of its own", p.field, sa)}
			}
			return nil
		})
}

// SEC19NoLiteralSecrets forbids secret values written into env or ConfigMaps.
func SEC19NoLiteralSecrets() Rule {
	return Rule{
		Name:        "SEC-19-no-literal-secrets",
		Description: "SEC-19: no literal secret values in env or ConfigMaps; secrets come from Secret refs or Vault.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       append([]string{configMapType}, workloadTypes...),
		Check: func(r policyx.AnalyzerResource) []Finding {
			if r.Type == configMapType {
				data, ok := at(r.Properties, "data")
				if !ok || !data.IsMap() {
					return nil
				}
				var out []Finding
				for _, k := range sortedMapKeys(data.AsMap()) {
					if secretname.Looks(k) {
						out = append(out, violation("data[%q]: looks like a secret in a ConfigMap; move it to a Secret or Vault", k))
					}
				}
				return out
			}
			return withPod(r, perContainer(func(_ pod, c namedContainer) []Finding {
				var out []Finding
				for i, e := range c.c.Env {
					if e.Value != "" && secretname.Looks(e.Name) {
						out = append(out, violation("%s.env[%d]: container %q sets %s to a literal value; use valueFrom.secretKeyRef or Vault", c.field, i, c.c.Name, e.Name))
					}
				}
				return out
			}))
		},
	}
}

// SEC20Resources requires CPU and memory requests and a memory limit.
func SEC20Resources() Rule {
	return podRule("SEC-20-resources", "SEC-20: CPU and memory requests and a memory limit on every container.", policyx.EnforcementLevelMandatory,
		perContainer(func(_ pod, c namedContainer) []Finding {
			var out []Finding
			for _, need := range []struct {
				list corev1.ResourceList
				name corev1.ResourceName
				kind string
			}{{c.c.Resources.Requests, corev1.ResourceCPU, "requests"}, {c.c.Resources.Requests, corev1.ResourceMemory, "requests"}, {c.c.Resources.Limits, corev1.ResourceMemory, "limits"}} {
				if _, ok := need.list[need.name]; !ok {
					out = append(out, violation("%s.resources.%s.%s: container %q must set it", c.field, need.kind, need.name, c.c.Name))
				}
			}
			return out
		}))
}

// SEC21EphemeralStorage asks for ephemeral-storage requests and limits, so a
// runaway log or scratch file evicts its own pod, not its neighbours.
func SEC21EphemeralStorage() Rule {
	return podRule("SEC-21-ephemeral-storage", "SEC-21: ephemeral-storage request and limit.", policyx.EnforcementLevelAdvisory,
		perContainer(func(_ pod, c namedContainer) []Finding {
			_, req := c.c.Resources.Requests[corev1.ResourceEphemeralStorage]
			_, lim := c.c.Resources.Limits[corev1.ResourceEphemeralStorage]
			if !req || !lim {
				return []Finding{violation("%s.resources: container %q should request and limit ephemeral-storage", c.field, c.c.Name)}
			}
			return nil
		}))
}
