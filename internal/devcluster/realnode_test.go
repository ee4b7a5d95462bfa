package devcluster_test

import (
	"context"
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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/intelliflow/platform/internal/devcluster"
	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
)

// TestRealNode: the real node joins beside a simulated one with its own
// identity (system:node:real-0, which may change its own Node and no
// other), tainted; a pod under restricted Pod Security runs on it from the
// pause image Up imported, and inside the container the process is what
// the pod asked for (uid 10001, no capabilities, no_new_privs, a seccomp
// filter, a read-only root); the API server reaches the kubelet (logs).
// Down then leaves the host as it was: tunables, iptables, mounts, paths,
// links.
func TestRealNode(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("INTELLIFLOW_REQUIRE_CLUSTER") != "" {
			t.Fatal("the real node needs root")
		}
		t.Skip("the real node needs root")
	}
	before, err := devcluster.SnapshotHost()
	require.NoError(t, err)
	c, _, client := devclustertest.Start(t, 1, 0, devclustertest.RealNode)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	node, err := client.CoreV1().Nodes().Get(ctx, devcluster.RealNodeName, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, []corev1.Taint{{Key: devcluster.RealNodeTaintKey, Value: "true", Effect: corev1.TaintEffectNoSchedule}}, node.Spec.Taints)
	require.Empty(t, node.Annotations[devcluster.KwokAnnotation], "not one kwok plays")
	require.Equal(t, "v1.37.2", node.Status.NodeInfo.KubeletVersion)
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

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "real", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	_, err = client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	require.NoError(t, err)
	// The ServiceAccount controller makes the account a pod needs.
	require.Eventually(t, func() bool {
		_, err := client.CoreV1().ServiceAccounts("real").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}, time.Minute, 200*time.Millisecond)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "restricted", Namespace: "real"},
		Spec: corev1.PodSpec{
			NodeSelector:                 map[string]string{"kubernetes.io/hostname": devcluster.RealNodeName},
			Tolerations:                  []corev1.Toleration{{Key: devcluster.RealNodeTaintKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](10001), RunAsGroup: ptr.To[int64](10001),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "app", Image: devcluster.PauseImage, ImagePullPolicy: corev1.PullNever,
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
	_, err = client.CoreV1().Pods("real").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	began := time.Now()
	var running *corev1.Pod
	require.Eventually(t, func() bool {
		p, err := client.CoreV1().Pods("real").Get(ctx, "restricted", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				running = p
				return true
			}
		}
		return false
	}, 2*time.Minute, 250*time.Millisecond, "the pod on the real node is Ready")
	t.Logf("pod Ready on %s in %s", running.Spec.NodeName, time.Since(began).Round(100*time.Millisecond))
	require.Equal(t, devcluster.RealNodeName, running.Spec.NodeName)
	require.True(t, strings.HasPrefix(running.Status.PodIP, "10.88.0."), running.Status.PodIP)

	// The API server reaches the kubelet: pause writes nothing, so the log
	// is empty, but the call goes through the kubelet's authentication.
	_, err = client.CoreV1().Pods("real").GetLogs("restricted", &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
	require.NoError(t, err, "logs through the kubelet")

	// Inside the container, as the host sees its process.
	id := strings.TrimPrefix(running.Status.ContainerStatuses[0].ContainerID, "containerd://")
	pid := taskPID(t, c.Dir, id)
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	require.NoError(t, err)
	fields := map[string]string{}
	for _, l := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	require.Equal(t, "10001 10001 10001 10001", fields["Uid"])
	require.Equal(t, "10001 10001 10001 10001", fields["Gid"])
	for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		require.Equal(t, "0000000000000000", fields[set], set)
	}
	require.Equal(t, "1", fields["NoNewPrivs"])
	require.Equal(t, "2", fields["Seccomp"], "a seccomp filter")
	mounts, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "mountinfo"))
	require.NoError(t, err)
	var root string
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == "/" {
			root = f[5]
		}
	}
	require.Contains(t, strings.Split(root, ","), "ro", "the container's root is read-only: %s", root)
	t.Logf("container %.12s: pid %d, uid %s, CapEff %s, NoNewPrivs %s, Seccomp %s, root %s", id, pid, fields["Uid"], fields["CapEff"], fields["NoNewPrivs"], fields["Seccomp"], root)

	// What the node changed, so that the comparison after Down can fail.
	during, err := devcluster.SnapshotHost()
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

	n, err := devcluster.Down(c.Dir)
	require.NoError(t, err, "down puts the host back")
	after, err := devcluster.SnapshotHost()
	require.NoError(t, err)
	require.Empty(t, before.Diff(after), "the host as before the real node")
	t.Logf("down stopped %d processes; the host's tunables, iptables, mounts, paths and links are as before", n)
	_, err = os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	require.ErrorIs(t, err, os.ErrNotExist, "the container's process is gone")
}

// taskPID is the host PID of a container's task, from containerd.
func taskPID(t *testing.T, dir, id string) int {
	t.Helper()
	bin := filepath.Join("..", "..", "bin", "cluster", "ctr") // the test runs in internal/devcluster
	out, err := exec.Command(bin, "--address", filepath.Join(dir, "run", "containerd.sock"), "--namespace", "k8s.io", "tasks", "ls").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			return pid
		}
	}
	t.Fatalf("no task %s in:\n%s", id, out)
	return 0
}
