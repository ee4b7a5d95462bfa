package microservice

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/servicemonitor"
)

// Microservice is one deployed service.
type Microservice struct {
	pulumi.ResourceState

	// ServiceName is the Kubernetes Service other workloads call.
	ServiceName pulumi.StringOutput `pulumi:"serviceName"`
	// ServiceAccountName is the pods' identity (IRSA, Vault auth).
	ServiceAccountName pulumi.StringOutput `pulumi:"serviceAccountName"`
}

// UID and GID the containers run as: non-root, and above the range images
// use for their own users (SEC-05).
const runAsID = 10001

// Vault Agent conventions: where the injector renders secrets, and the
// token volume and audience our agents log in with (the Vault roles
// require the audience).
const (
	VaultSecretsDir      = "/vault/secrets"
	VaultTokenVolumeName = "vault-token"
	VaultTokenAudience   = "vault"
)

// New creates a Microservice.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Microservice, error) {
	if args == nil {
		return nil, fmt.Errorf("microservice %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("microservice %q: %w", name, err)
	}
	a := args.withDefaults()
	m := &Microservice{}
	if err := ctx.RegisterComponentResource("intelliflow:apps:Microservice", name, m, opts...); err != nil {
		return nil, fmt.Errorf("microservice %q: %w", name, err)
	}
	parent := pulumi.Parent(m)
	wrap := func(child string, err error) error { return fmt.Errorf("microservice %q: %s: %w", name, child, err) }

	labels := map[string]string{}
	for k, v := range a.Labels {
		labels[k] = v
	}
	labels[AppLabel] = a.Name
	labels["app.kubernetes.io/part-of"] = "intelliflow"
	labels["app.kubernetes.io/managed-by"] = "pulumi"
	selector := map[string]string{AppLabel: a.Name}
	meta := func(objName string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(objName), Namespace: a.Namespace, Labels: pulumi.ToStringMap(labels)}
	}

	saMeta := meta(a.Name)
	if a.ServiceAccount.IRSARoleARN != nil {
		saMeta.Annotations = pulumi.StringMap{"eks.amazonaws.com/role-arn": a.ServiceAccount.IRSARoleARN}
	}
	sa, err := corev1.NewServiceAccount(ctx, name+"-sa", &corev1.ServiceAccountArgs{
		Metadata:                     saMeta,
		AutomountServiceAccountToken: pulumi.Bool(a.ServiceAccount.KubernetesAPI),
	}, parent)
	if err != nil {
		return nil, wrap("service account", err)
	}

	configName := a.Name + "-config"
	cm, err := corev1.NewConfigMap(ctx, name+"-config", &corev1.ConfigMapArgs{
		Metadata: meta(configName),
		Data:     configData(a),
	}, parent)
	if err != nil {
		return nil, wrap("config map", err)
	}

	deployment, err := appsv1.NewDeployment(ctx, name+"-deployment", &appsv1.DeploymentArgs{
		Metadata: meta(a.Name),
		Spec: &appsv1.DeploymentSpecArgs{
			// No replicas: the HPA owns the count (REL-01).
			Selector:                &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
			RevisionHistoryLimit:    pulumi.Int(5),
			ProgressDeadlineSeconds: pulumi.Int(600 + a.Probes.StartupSeconds),
			Strategy: &appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
					MaxUnavailable: pulumi.Int(0),
					MaxSurge:       pulumi.String("25%"),
				},
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels:      pulumi.ToStringMap(labels),
					Annotations: annotationsWithConfigHash(a),
				},
				// Names, not outputs: the pod template stays known during
				// preview, so the policy pack can check all of it.
				Spec: podSpec(a, pulumi.String(a.Name), pulumi.String(configName), selector),
			},
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{sa, cm}))
	if err != nil {
		return nil, wrap("deployment", err)
	}

	svc, err := corev1.NewService(ctx, name+"-service", &corev1.ServiceArgs{
		Metadata: meta(a.Name),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: pulumi.ToStringMap(selector),
			Ports: corev1.ServicePortArray{
				&corev1.ServicePortArgs{Name: pulumi.String("http"), Port: pulumi.Int(80), TargetPort: pulumi.String("http"), Protocol: pulumi.String("TCP")},
				&corev1.ServicePortArgs{Name: pulumi.String("metrics"), Port: pulumi.Int(a.MetricsPort), TargetPort: pulumi.String("metrics"), Protocol: pulumi.String("TCP")},
			},
		},
	}, parent)
	if err != nil {
		return nil, wrap("service", err)
	}

	if _, err := autoscalingv2.NewHorizontalPodAutoscaler(ctx, name+"-hpa", &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: meta(a.Name),
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"),
				Kind:       pulumi.String("Deployment"),
				Name:       deployment.Metadata.Name().Elem(),
			},
			MinReplicas: pulumi.Int(a.Replicas.Min),
			MaxReplicas: pulumi.Int(a.Replicas.Max),
			Metrics:     hpaMetricArgs(hpaMetrics(a.Autoscaling)),
			Behavior:    hpaBehavior(),
		},
	}, parent); err != nil {
		return nil, wrap("hpa", err)
	}

	if _, err := policyv1.NewPodDisruptionBudget(ctx, name+"-pdb", &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(a.Name),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			// One pod at a time, whatever the HPA has scaled to: always
			// compatible with minReplicas, never blocks a drain forever.
			MaxUnavailable:             pulumi.Int(1),
			Selector:                   &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
			UnhealthyPodEvictionPolicy: pulumi.String("AlwaysAllow"),
		},
	}, parent); err != nil {
		return nil, wrap("pdb", err)
	}

	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-netpol", &networkingv1.NetworkPolicyArgs{
		Metadata: meta(a.Name),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
			Ingress:     ingressArgs(ingressRules(a)),
			Egress:      egressArgs(egressRules(a)),
		},
	}, parent); err != nil {
		return nil, wrap("network policy", err)
	}

	if a.ServiceMonitor {
		if _, err := servicemonitor.New(ctx, name+"-monitor", &servicemonitor.Args{
			Name: a.Name, Namespace: a.Namespace, Labels: labels, Selector: selector,
			Endpoints: []servicemonitor.Endpoint{{Port: "metrics"}},
		}, parent); err != nil {
			return nil, wrap("service monitor", err)
		}
	}

	m.ServiceName = svc.Metadata.Name().Elem()
	m.ServiceAccountName = sa.Metadata.Name().Elem()
	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{
		"serviceName":        m.ServiceName,
		"serviceAccountName": m.ServiceAccountName,
	}); err != nil {
		return nil, wrap("outputs", err)
	}
	return m, nil
}

// configData is the ConfigMap's data: Config and ConfigFrom.
func configData(a Args) pulumi.StringMap {
	data := pulumi.ToStringMap(a.Config)
	for k, v := range a.ConfigFrom {
		data[k] = v
	}
	return data
}

// annotationsWithConfigHash are the pod annotations, with the hash of the
// whole ConfigMap: computed values are hashed once they are known.
func annotationsWithConfigHash(a Args) pulumi.StringMapInput {
	static := podAnnotations(a)
	if len(a.ConfigFrom) == 0 {
		static["intelliflow.io/config-hash"] = configHash(a.Config)
		return pulumi.ToStringMap(static)
	}
	return configData(a).ToStringMapOutput().ApplyT(func(data map[string]string) map[string]string {
		out := maps.Clone(static)
		out["intelliflow.io/config-hash"] = configHash(data)
		return out
	}).(pulumi.StringMapOutput)
}

// podAnnotations configure the Vault Agent injector and tell the policy pack
// why a token is mounted.
func podAnnotations(a Args) map[string]string {
	out := map[string]string{}
	if a.ServiceAccount.KubernetesAPI {
		// Tells the policy pack (SEC-13) why the token is mounted.
		out["intelliflow.io/kubernetes-api"] = "true"
	}
	if a.Vault != nil {
		files := make([]VaultFile, len(a.Secrets))
		for i, s := range a.Secrets {
			files[i] = VaultFile{Name: s.Key, Path: s.VaultPath, Template: s.VaultTemplate}
		}
		maps.Copy(out, VaultAgentAnnotations(a.Vault.Role, files))
	}
	return out
}

// VaultFile is one file the Vault Agent renders under VaultSecretsDir.
type VaultFile struct {
	Name string
	// Path is the Vault secret; Template, when set, renders the file from it.
	Path, Template string
}

// VaultAgentAnnotations ask the injector for an agent that logs in as role
// with VaultTokenVolume and renders files: every pod with an agent (the
// services, the store exporters) is annotated the same way.
func VaultAgentAnnotations(role string, files []VaultFile) map[string]string {
	out := map[string]string{
		"vault.hashicorp.com/agent-inject":                            "true",
		"vault.hashicorp.com/role":                                    role,
		"vault.hashicorp.com/agent-service-account-token-volume-name": VaultTokenVolumeName,
	}
	for _, f := range files {
		out["vault.hashicorp.com/agent-inject-secret-"+f.Name] = f.Path
		if f.Template != "" {
			out["vault.hashicorp.com/agent-inject-template-"+f.Name] = f.Template
		}
	}
	return out
}

// VaultTokenVolume is the token the Vault Agent logs in with: short-lived
// and bound to Vault's audience, so the pod never mounts its API token
// (SEC-13). Every pod with an agent mounts it under VaultTokenVolumeName.
func VaultTokenVolume() *corev1.VolumeArgs {
	return &corev1.VolumeArgs{
		Name: pulumi.String(VaultTokenVolumeName),
		Projected: &corev1.ProjectedVolumeSourceArgs{Sources: corev1.VolumeProjectionArray{&corev1.VolumeProjectionArgs{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjectionArgs{
				Path: pulumi.String("token"), Audience: pulumi.String(VaultTokenAudience), ExpirationSeconds: pulumi.Int(600),
			},
		}}},
	}
}

// peerTokenVolume holds a PeerToken; trustedCAVolume the TrustedCA.
const (
	peerTokenVolume = "peer-token"
	trustedCAVolume = "trusted-ca"
)

func configHash(cfg map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		fmt.Fprintf(h, "%s=%s\n", k, cfg[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func podSpec(a Args, serviceAccount, configMap pulumi.StringInput, selector map[string]string) *corev1.PodSpecArgs {
	mounts := corev1.VolumeMountArray{&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}}
	volumes := corev1.VolumeArray{&corev1.VolumeArgs{
		Name:     pulumi.String("tmp"),
		EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")},
	}}
	if v := a.SharedVolume; v != nil {
		mounts = append(mounts, &corev1.VolumeMountArgs{Name: pulumi.String(v.Name), MountPath: pulumi.String(v.MountPath), ReadOnly: pulumi.Bool(!v.Writable)})
		volumes = append(volumes, &corev1.VolumeArgs{
			Name:     pulumi.String(v.Name),
			EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(v.SizeLimit)},
		})
	}
	if a.Vault != nil {
		volumes = append(volumes, VaultTokenVolume())
	}
	// Every container trusts the stack's CA: SSL_CERT_FILE names the
	// mounted file.
	var caMounts corev1.VolumeMountArray
	var caEnv corev1.EnvVarArray
	if t := a.TrustedCA; t != nil {
		caMounts = corev1.VolumeMountArray{&corev1.VolumeMountArgs{Name: pulumi.String(trustedCAVolume), MountPath: pulumi.String(TrustedCADir), ReadOnly: pulumi.Bool(true)}}
		caEnv = corev1.EnvVarArray{&corev1.EnvVarArgs{Name: pulumi.String("SSL_CERT_FILE"), Value: pulumi.String(TrustedCADir + "/" + t.Key)}}
		mounts = append(mounts, caMounts...)
		volumes = append(volumes, &corev1.VolumeArgs{
			Name:      pulumi.String(trustedCAVolume),
			ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: t.ConfigMap},
		})
	}
	if t := a.PeerToken; t != nil {
		mounts = append(mounts, &corev1.VolumeMountArgs{Name: pulumi.String(peerTokenVolume), MountPath: pulumi.String(t.Dir), ReadOnly: pulumi.Bool(true)})
		volumes = append(volumes, &corev1.VolumeArgs{
			Name: pulumi.String(peerTokenVolume),
			Projected: &corev1.ProjectedVolumeSourceArgs{Sources: corev1.VolumeProjectionArray{&corev1.VolumeProjectionArgs{
				ServiceAccountToken: &corev1.ServiceAccountTokenProjectionArgs{
					Path: pulumi.String("token"), Audience: pulumi.String(t.Audience), ExpirationSeconds: pulumi.Int(3600),
				},
			}}},
		})
	}

	liveness, readiness, startup := probes(a.Probes)
	server := &corev1.ContainerArgs{
		Name:            pulumi.String(a.Name),
		Image:           pulumi.String(a.Image),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Ports: corev1.ContainerPortArray{
			&corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(a.Port), Protocol: pulumi.String("TCP")},
			&corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(a.MetricsPort), Protocol: pulumi.String("TCP")},
		},
		EnvFrom: corev1.EnvFromSourceArray{&corev1.EnvFromSourceArgs{
			ConfigMapRef: &corev1.ConfigMapEnvSourceArgs{Name: configMap},
		}},
		Env:             append(serverEnv(a), caEnv...),
		Resources:       resourceArgs(a.Resources, a.GPU),
		LivenessProbe:   probeArgs(liveness),
		ReadinessProbe:  probeArgs(readiness),
		StartupProbe:    probeArgs(startup),
		SecurityContext: RestrictedContainer(),
		VolumeMounts:    mounts,
		Lifecycle: &corev1.LifecycleArgs{PreStop: &corev1.LifecycleHandlerArgs{
			// A sleep action needs no shell in the image (distroless).
			Sleep: &corev1.SleepActionArgs{Seconds: pulumi.Int(PreStopSeconds)},
		}},
		TerminationMessagePolicy: pulumi.String("FallbackToLogsOnError"),
	}

	var inits corev1.ContainerArray
	for _, ic := range a.InitContainers {
		res := a.Resources
		if ic.Resources != nil {
			res = *ic.Resources
		}
		var env corev1.EnvVarArray
		for _, k := range slices.Sorted(maps.Keys(ic.Env)) {
			env = append(env, &corev1.EnvVarArgs{Name: pulumi.String(k), Value: pulumi.String(ic.Env[k])})
		}
		env = append(env, caEnv...)
		inits = append(inits, &corev1.ContainerArgs{
			Name:            pulumi.String(ic.Name),
			Image:           pulumi.String(ic.Image),
			ImagePullPolicy: pulumi.String("IfNotPresent"),
			Args:            pulumi.ToStringArray(ic.Args),
			Env:             env,
			Resources:       resourceArgs(res, 0),
			SecurityContext: RestrictedContainer(),
			VolumeMounts: append(corev1.VolumeMountArray{
				&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
				&corev1.VolumeMountArgs{Name: pulumi.String(a.SharedVolume.Name), MountPath: pulumi.String(a.SharedVolume.MountPath)},
			}, caMounts...),
			TerminationMessagePolicy: pulumi.String("FallbackToLogsOnError"),
		})
	}

	spreads, requiredAntiAffinity := placement(a.Placement)
	var tsc corev1.TopologySpreadConstraintArray
	for _, s := range spreads {
		tsc = append(tsc, &corev1.TopologySpreadConstraintArgs{
			MaxSkew:           pulumi.Int(1),
			TopologyKey:       pulumi.String(s.TopologyKey),
			WhenUnsatisfiable: pulumi.String(s.WhenUnsatisfiable),
			LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
		})
	}
	affinity := &corev1.AffinityArgs{}
	if requiredAntiAffinity {
		affinity.PodAntiAffinity = &corev1.PodAntiAffinityArgs{
			RequiredDuringSchedulingIgnoredDuringExecution: corev1.PodAffinityTermArray{&corev1.PodAffinityTermArgs{
				LabelSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
				TopologyKey:   pulumi.String("kubernetes.io/hostname"),
			}},
		}
	}
	var tolerations corev1.TolerationArray
	if a.GPU > 0 {
		affinity.NodeAffinity = &corev1.NodeAffinityArgs{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelectorArgs{
				NodeSelectorTerms: corev1.NodeSelectorTermArray{&corev1.NodeSelectorTermArgs{
					MatchExpressions: corev1.NodeSelectorRequirementArray{&corev1.NodeSelectorRequirementArgs{
						Key: pulumi.String(NodeGroupLabel), Operator: pulumi.String("In"), Values: pulumi.ToStringArray([]string{a.GPUNodeGroup}),
					}},
				}},
			},
		}
		tolerations = corev1.TolerationArray{&corev1.TolerationArgs{
			Key: pulumi.String(GPUResource), Operator: pulumi.String("Exists"), Effect: pulumi.String("NoSchedule"),
		}}
	}
	for _, t := range a.Placement.Tolerations {
		tol := &corev1.TolerationArgs{Key: pulumi.String(t.Key), Operator: pulumi.String("Exists")}
		if t.Value != "" {
			tol.Operator, tol.Value = pulumi.String("Equal"), pulumi.String(t.Value)
		}
		if t.Effect != "" {
			tol.Effect = pulumi.String(t.Effect)
		}
		tolerations = append(tolerations, tol)
	}
	spec := &corev1.PodSpecArgs{
		ServiceAccountName:            serviceAccount,
		AutomountServiceAccountToken:  pulumi.Bool(a.ServiceAccount.KubernetesAPI),
		EnableServiceLinks:            pulumi.Bool(false),
		TerminationGracePeriodSeconds: pulumi.Int(GracePeriod(a.ShutdownSeconds)),
		SecurityContext: &corev1.PodSecurityContextArgs{
			RunAsNonRoot:   pulumi.Bool(true),
			RunAsUser:      pulumi.Int(runAsID),
			RunAsGroup:     pulumi.Int(runAsID),
			FsGroup:        pulumi.Int(runAsID),
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		InitContainers:            inits,
		Containers:                corev1.ContainerArray{server},
		Volumes:                   volumes,
		TopologySpreadConstraints: tsc,
		Tolerations:               tolerations,
	}
	if affinity.PodAntiAffinity != nil || affinity.NodeAffinity != nil {
		spec.Affinity = affinity
	}
	if len(a.Placement.NodeSelector) > 0 {
		spec.NodeSelector = pulumi.ToStringMap(a.Placement.NodeSelector)
	}
	if a.Placement.PriorityClass != "" {
		spec.PriorityClassName = pulumi.String(a.Placement.PriorityClass)
	}
	return spec
}

// serverEnv delivers secrets: from the Kubernetes Secret as values, or, with
// Vault, as the path of the file the agent renders (the service reads
// <ENV>_FILE).
func serverEnv(a Args) corev1.EnvVarArray {
	var env corev1.EnvVarArray
	for _, s := range a.Secrets {
		if a.Vault != nil {
			env = append(env, &corev1.EnvVarArgs{Name: pulumi.String(s.Env + "_FILE"), Value: pulumi.String(VaultSecretsDir + "/" + s.Key)})
			continue
		}
		env = append(env, &corev1.EnvVarArgs{
			Name: pulumi.String(s.Env),
			ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
				Name: pulumi.String(s.SecretName), Key: pulumi.String(s.Key),
			}},
		})
	}
	return env
}

// RestrictedContainer is the restricted Pod Security Standard, and then
// some: read-only root, no privilege escalation, no capabilities. Every
// container the platform writes (services, jobs) runs with it.
func RestrictedContainer() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		Privileged:               pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		RunAsNonRoot:             pulumi.Bool(true),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.ToStringArray([]string{"ALL"})},
		SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

func resourceArgs(r Resources, gpu int) *corev1.ResourceRequirementsArgs {
	requests := pulumi.StringMap{
		"cpu": pulumi.String(r.CPURequest), "memory": pulumi.String(r.MemoryRequest), "ephemeral-storage": pulumi.String("64Mi"),
	}
	limits := pulumi.StringMap{
		"cpu": pulumi.String(r.CPULimit), "memory": pulumi.String(r.MemoryLimit), "ephemeral-storage": pulumi.String("512Mi"),
	}
	if gpu > 0 {
		limits[GPUResource] = pulumi.String(strconv.Itoa(gpu))
	}
	return &corev1.ResourceRequirementsArgs{Requests: requests, Limits: limits}
}

func probeArgs(p probe) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(p.Path), Port: pulumi.String(p.Port)},
		PeriodSeconds:    pulumi.Int(p.PeriodSeconds),
		TimeoutSeconds:   pulumi.Int(p.TimeoutSeconds),
		FailureThreshold: pulumi.Int(p.FailureThreshold),
	}
}

func hpaMetricArgs(ms []metric) autoscalingv2.MetricSpecArray {
	var out autoscalingv2.MetricSpecArray
	for _, m := range ms {
		spec := &autoscalingv2.MetricSpecArgs{Type: pulumi.String(m.Type)}
		avg := &autoscalingv2.MetricTargetArgs{Type: pulumi.String("AverageValue"), AverageValue: pulumi.String(m.AverageValue)}
		switch m.Type {
		case "Resource":
			spec.Resource = &autoscalingv2.ResourceMetricSourceArgs{
				Name:   pulumi.String(m.Name),
				Target: &autoscalingv2.MetricTargetArgs{Type: pulumi.String("Utilization"), AverageUtilization: pulumi.Int(m.Utilization)},
			}
		case "Pods":
			spec.Pods = &autoscalingv2.PodsMetricSourceArgs{Metric: &autoscalingv2.MetricIdentifierArgs{Name: pulumi.String(m.Name)}, Target: avg}
		case "External":
			spec.External = &autoscalingv2.ExternalMetricSourceArgs{Metric: &autoscalingv2.MetricIdentifierArgs{Name: pulumi.String(m.Name)}, Target: avg}
		}
		out = append(out, spec)
	}
	return out
}

// hpaBehavior scales up fast (double, or four pods, every 15 s) and down
// slowly (10 % a minute after five calm minutes), so a payment burst is met
// at once and a lull does not shed capacity the next burst needs.
func hpaBehavior() *autoscalingv2.HorizontalPodAutoscalerBehaviorArgs {
	return &autoscalingv2.HorizontalPodAutoscalerBehaviorArgs{
		ScaleUp: &autoscalingv2.HPAScalingRulesArgs{
			StabilizationWindowSeconds: pulumi.Int(0),
			SelectPolicy:               pulumi.String("Max"),
			Policies: autoscalingv2.HPAScalingPolicyArray{
				&autoscalingv2.HPAScalingPolicyArgs{Type: pulumi.String("Percent"), Value: pulumi.Int(100), PeriodSeconds: pulumi.Int(15)},
				&autoscalingv2.HPAScalingPolicyArgs{Type: pulumi.String("Pods"), Value: pulumi.Int(4), PeriodSeconds: pulumi.Int(15)},
			},
		},
		ScaleDown: &autoscalingv2.HPAScalingRulesArgs{
			StabilizationWindowSeconds: pulumi.Int(300),
			SelectPolicy:               pulumi.String("Min"),
			Policies: autoscalingv2.HPAScalingPolicyArray{
				&autoscalingv2.HPAScalingPolicyArgs{Type: pulumi.String("Percent"), Value: pulumi.Int(10), PeriodSeconds: pulumi.Int(60)},
			},
		},
	}
}

func peerArgs(p peer) *networkingv1.NetworkPolicyPeerArgs {
	out := &networkingv1.NetworkPolicyPeerArgs{}
	if p.CIDR != "" {
		out.IpBlock = &networkingv1.IPBlockArgs{Cidr: pulumi.String(p.CIDR)}
		return out
	}
	if p.PodLabels != nil {
		out.PodSelector = &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(p.PodLabels)}
	}
	if p.NamespaceLabels != nil {
		out.NamespaceSelector = &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(p.NamespaceLabels)}
	}
	return out
}

func portArgs(ps []netPort) networkingv1.NetworkPolicyPortArray {
	var out networkingv1.NetworkPolicyPortArray
	for _, p := range ps {
		pa := &networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String(p.Protocol)}
		if p.Name != "" {
			pa.Port = pulumi.String(p.Name)
		} else {
			pa.Port = pulumi.Int(p.Port)
		}
		out = append(out, pa)
	}
	return out
}

func ingressArgs(rules []netRule) networkingv1.NetworkPolicyIngressRuleArray {
	var out networkingv1.NetworkPolicyIngressRuleArray
	for _, r := range rules {
		var from networkingv1.NetworkPolicyPeerArray
		for _, p := range r.Peers {
			from = append(from, peerArgs(p))
		}
		out = append(out, &networkingv1.NetworkPolicyIngressRuleArgs{From: from, Ports: portArgs(r.Ports)})
	}
	return out
}

func egressArgs(rules []netRule) networkingv1.NetworkPolicyEgressRuleArray {
	var out networkingv1.NetworkPolicyEgressRuleArray
	for _, r := range rules {
		var to networkingv1.NetworkPolicyPeerArray
		for _, p := range r.Peers {
			to = append(to, peerArgs(p))
		}
		out = append(out, &networkingv1.NetworkPolicyEgressRuleArgs{To: to, Ports: portArgs(r.Ports)})
	}
	return out
}
