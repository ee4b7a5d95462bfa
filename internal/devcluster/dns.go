package devcluster

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The cluster's DNS on the real node, as EKS runs it: CoreDNS pods in
// kube-system labelled k8s-app=kube-dns behind the kube-dns Service, so a
// namespace's NetworkPolicies that allow DNS to those pods (the stack's
// allow-dns) let its pods resolve names.
const (
	// DNSServiceIP is the kube-dns Service's address, the kubelet's
	// clusterDNS.
	DNSServiceIP = "10.96.0.10"
	// CoreDNSImage is CoreDNS's image, packed from bin/cluster/coredns and
	// imported as the pause image is.
	CoreDNSImage = "intelliflow.local/coredns:1"
	// dnsReadyPort is CoreDNS's ready plugin's.
	dnsReadyPort = 8181
)

// corefile serves cluster.local and the reverse zones from the API (read
// through the gateway's forward); any other name is refused, not
// forwarded: nothing leaves the node.
func corefile(apiKubeconfig string) string {
	return fmt.Sprintf(`cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    errors
    ready :%[1]d
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %[2]s
        pods disabled
    }
    cache 5
}
`, dnsReadyPort, apiKubeconfig)
}

// deployDNS runs CoreDNS on the real node, in the pods' network (a
// NetworkPolicy's pod selector does not reach a host-network pod, so a
// namespace's allow-dns would not let its pods reach one), behind the
// kube-dns Service, and waits until it is Ready.
func deployDNS(ctx context.Context, client kubernetes.Interface, p realNodePaths, apiCA string) error {
	const ns = "kube-system"
	kubeconfig, err := podKubeconfig(p, serviceUser("coredns"), "coredns-client", apiCA)
	if err != nil {
		return err
	}
	labels := map[string]string{"k8s-app": "kube-dns"}
	meta := metav1.ObjectMeta{Name: "coredns", Namespace: ns, Labels: labels}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: meta, StringData: map[string]string{"kubeconfig": kubeconfig}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("coredns Secret: %w", err)
	}
	config := &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"Corefile": corefile("/etc/coredns/kubeconfig/kubeconfig")}}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, config, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("coredns ConfigMap: %w", err)
	}
	deployment := &appsv1.Deployment{
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					DNSPolicy:                    corev1.DNSDefault,
					PriorityClassName:            "system-cluster-critical",
					AutomountServiceAccountToken: ptr.To(false),
					// Port 53 without root or a capability: the pod's own
					// network namespace lets unprivileged ports start there
					// (a safe sysctl).
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						Sysctls:        []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "53"}}},
					Containers: []corev1.Container{{
						Name: "coredns", Image: CoreDNSImage, ImagePullPolicy: corev1.PullNever,
						Args: []string{"-conf", "/etc/coredns/config/Corefile"},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
						ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
							HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(dnsReadyPort)}}},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "config", MountPath: "/etc/coredns/config", ReadOnly: true},
							{Name: "kubeconfig", MountPath: "/etc/coredns/kubeconfig", ReadOnly: true},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "coredns"}}}},
						{Name: "kubeconfig", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "coredns"}}},
					},
				},
			},
		},
	}
	OnRealNode(&deployment.Spec.Template.Spec)
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, deployment, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("coredns Deployment: %w", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: ns, Labels: labels},
		Spec: corev1.ServiceSpec{ClusterIP: DNSServiceIP, Selector: labels, Ports: []corev1.ServicePort{
			{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
			{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
		}},
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("kube-dns Service: %w", err)
	}
	for {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "coredns", metav1.GetOptions{})
		if err == nil && d.Status.ReadyReplicas == 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("coredns not Ready: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
