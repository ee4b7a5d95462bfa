package devcluster_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/intelliflow/platform/internal/devcluster"
	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
)

// TestRealNode: the real node joins beside a simulated one with its own
// identity (system:node:real-0, which may change its own Node and no
// other), tainted. A pod under restricted Pod Security runs on it from an
// image Up imported and is Ready by its readiness probe; inside the
// container the process is what the pod asked for (uid 10001, no
// capabilities, no_new_privs, a seccomp filter, a read-only root); the API
// server reaches the kubelet (logs). Another pod reaches it by its
// Service's name (CoreDNS, kube-proxy); with a NetworkPolicy in place the
// declared caller still does and another pod does not (kube-router). Down
// then leaves the host as it was: tunables, iptables, ipsets, mounts,
// paths, links.
func TestRealNode(t *testing.T) {
	c, _, client := devclustertest.Start(t, 1, 0, devclustertest.RealNode)
	// The host as Up found it, once this cluster had the host's real node
	// (another package's test may have had it a moment before).
	before, err := devcluster.RecordedHost(c.Dir)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	node, err := client.CoreV1().Nodes().Get(ctx, devcluster.RealNodeName, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, []corev1.Taint{{Key: devcluster.RealNodeTaintKey, Value: "true", Effect: corev1.TaintEffectNoSchedule}}, node.Spec.Taints)
	require.Empty(t, node.Annotations[devcluster.KwokAnnotation], "not one kwok plays")
	require.Equal(t, "v1.37.2", node.Status.NodeInfo.KubeletVersion)
	require.Contains(t, node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: devcluster.Gateway}, "the kubelet listens on the bridge only")
	require.True(t, strings.HasPrefix(node.Status.NodeInfo.ContainerRuntimeVersion, "containerd://2."), node.Status.NodeInfo.ContainerRuntimeVersion)

	// The kubelet's own credentials: its Node, and no other.
	nodeCfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(c.Dir, "kubelet.kubeconfig"))
	require.NoError(t, err)
	asNode, err := kubernetes.NewForConfig(nodeCfg)
	require.NoError(t, err)
	label := []byte(`{"metadata":{"labels":{"probe":"x"}}}`)
	_, err = asNode.CoreV1().Nodes().Patch(ctx, devcluster.RealNodeName, types.MergePatchType, label, metav1.PatchOptions{})
	require.NoError(t, err, "a node may label itself")
	_, err = asNode.CoreV1().Nodes().Patch(ctx, "general-zone-a-0", types.MergePatchType, label, metav1.PatchOptions{})
	require.True(t, apierrors.IsForbidden(err), "another node's: %v", err)

	restrictedNamespace(ctx, t, client, "real")
	pod := devclustertest.NetcheckPod("real", "echo", map[string]string{"app": "echo"}, corev1.RestartPolicyAlways, "serve", ":8080")
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1,
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
	_, err = client.CoreV1().Pods("real").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	began := time.Now()
	running := waitReady(ctx, t, client, "real", "echo")
	t.Logf("pod Ready by its readiness probe on %s in %s", running.Spec.NodeName, time.Since(began).Round(100*time.Millisecond))
	require.Equal(t, devcluster.RealNodeName, running.Spec.NodeName)
	require.True(t, strings.HasPrefix(running.Status.PodIP, "10.88.0."), running.Status.PodIP)

	// The API server reaches the kubelet, through its authentication.
	_, err = client.CoreV1().Pods("real").GetLogs("echo", &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
	require.NoError(t, err, "logs through the kubelet")

	// Inside the container, as the host sees its process.
	pid, seen := devclustertest.RequireRestricted(t, c, running.Status.ContainerStatuses[0].ContainerID, 10001)
	t.Log(seen)

	// A Service by its name, through CoreDNS and kube-proxy.
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: "real"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "echo"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	svc, err = client.CoreV1().Services("real").Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(devcluster.DNSServiceIP, "53"))
	}}
	require.Eventually(t, func() bool {
		addrs, err := resolver.LookupHost(ctx, "echo.real.svc.cluster.local")
		return err == nil && slices.Equal(addrs, []string{svc.Spec.ClusterIP})
	}, time.Minute, 250*time.Millisecond, "CoreDNS answers the Service's name with its ClusterIP")
	url := "http://echo.real.svc.cluster.local/"
	phase, out := devclustertest.RunPod(ctx, t, client, devclustertest.NetcheckPod("real", "first", nil, corev1.RestartPolicyNever, "get", url, "30s"))
	require.Equal(t, corev1.PodSucceeded, phase, "a pod reaches the Service by name: %s", out)
	require.Contains(t, out, "netcheck echo")
	t.Logf("without a policy: %s -> %s", url, strings.TrimSpace(out))

	// A NetworkPolicy, enforced both ways: the declared caller gets
	// through, another pod does not.
	policy := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "echo-callers", Namespace: "real"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "echo"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "caller"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(8080))}},
			}},
		}}
	_, err = client.NetworkingV1().NetworkPolicies("real").Create(ctx, policy, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		rules, err := exec.Command("iptables-save", "-t", "filter").Output()
		return err == nil && strings.Contains(string(rules), "KUBE-NWPLCY-")
	}, time.Minute, 250*time.Millisecond, "kube-router writes the policy's chain")
	phase, out = devclustertest.RunPod(ctx, t, client, devclustertest.NetcheckPod("real", "caller", map[string]string{"role": "caller"}, corev1.RestartPolicyNever, "get", url, "30s"))
	require.Equal(t, corev1.PodSucceeded, phase, "the declared caller: %s", out)
	t.Logf("with the policy, a pod labelled role=caller: %s", strings.TrimSpace(out))
	// One try: the policy's rules are in place (the caller got through),
	// and a pod they do not name is refused from its first packet.
	phase, out = devclustertest.RunPod(ctx, t, client, devclustertest.NetcheckPod("real", "stranger", nil, corev1.RestartPolicyNever, "get", url))
	require.Equal(t, corev1.PodFailed, phase, "a pod the policy does not name: %s", out)
	t.Logf("with the policy, a pod without the label: %s", strings.TrimSpace(out))

	// Under the stack's namespace policies, default deny both ways and DNS
	// only to kube-system's kube-dns pods, a caller allowed its egress to
	// echo still resolves the name (CoreDNS is such a pod, in the pods'
	// network: a host-network one would not match the policy) and gets
	// through.
	port53 := func(p corev1.Protocol) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr.To(p), Port: ptr.To(intstr.FromInt32(53))}
	}
	for _, np := range []networkingv1.NetworkPolicy{
		{ObjectMeta: metav1.ObjectMeta{Name: "default-deny"}, Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "allow-dns"}, Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{port53(corev1.ProtocolUDP), port53(corev1.ProtocolTCP)},
			}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "callers-to-echo"}, Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "caller"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "echo"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(8080))}},
			}}}},
	} {
		_, err = client.NetworkingV1().NetworkPolicies("real").Create(ctx, &np, metav1.CreateOptions{})
		require.NoError(t, err, np.Name)
	}
	phase, out = devclustertest.RunPod(ctx, t, client, devclustertest.NetcheckPod("real", "caller-under-default-deny", map[string]string{"role": "caller"}, corev1.RestartPolicyNever, "get", url, "30s"))
	require.Equal(t, corev1.PodSucceeded, phase, "the caller under default deny: %s", out)
	t.Logf("under default deny with DNS allowed to kube-dns, the caller: %s", strings.TrimSpace(out))

	// What the node changed, so that the comparison after Down can fail.
	during, err := devcluster.SnapshotHost(c.Dir)
	require.NoError(t, err)
	changed := before.Diff(during)
	var what []string
	for _, d := range changed {
		what = append(what, strings.SplitN(d, "\n", 2)[0])
	}
	t.Logf("while the node runs, the host differs: %s", strings.Join(what, "; "))
	require.True(t, slices.ContainsFunc(what, func(d string) bool {
		return strings.HasPrefix(d, "links: added [") && strings.Contains(d, devcluster.BridgeName)
	}), "the bridge: %v", what)
	require.True(t, slices.ContainsFunc(what, func(d string) bool { return strings.HasPrefix(d, "iptables-save differs") }), "the kubelet's chains: %v", what)
	require.True(t, slices.ContainsFunc(what, func(d string) bool { return strings.HasPrefix(d, "mounts: added") }), "the pod's mounts: %v", what)
	require.True(t, slices.ContainsFunc(what, func(d string) bool { return strings.HasPrefix(d, "ipsets: added") }), "kube-router's sets: %v", what)

	n, err := devcluster.Down(c.Dir)
	require.NoError(t, err, "down puts the host back")
	after, err := devcluster.SnapshotHost(c.Dir)
	require.NoError(t, err)
	require.Empty(t, before.Diff(after), "the host as before the real node")
	t.Logf("down stopped %d processes; the host's tunables, iptables, ipsets, mounts, paths and links are as before", n)
	_, err = os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	require.ErrorIs(t, err, os.ErrNotExist, "the container's process is gone")
}

// restrictedNamespace makes a namespace enforcing the restricted Pod
// Security standard and waits for its default ServiceAccount, which a pod
// needs.
func restrictedNamespace(ctx context.Context, t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	_, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}, time.Minute, 200*time.Millisecond)
}

// waitReady waits until the pod is Ready (by its readiness probe, when it
// has one) and returns it.
func waitReady(ctx context.Context, t *testing.T, client kubernetes.Interface, namespace, name string) *corev1.Pod {
	t.Helper()
	var ready *corev1.Pod
	require.Eventually(t, func() bool {
		p, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready = p
				return true
			}
		}
		return false
	}, 2*time.Minute, 250*time.Millisecond, "pod %s/%s Ready", namespace, name)
	return ready
}
