// Package devclustertest runs a control plane (internal/devcluster) for a
// test: a real API server, scheduler and controllers with kwok's nodes, on
// free loopback ports, stopped when the test ends.
package devclustertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/intelliflow/platform/ci-cd/images"
	"github.com/intelliflow/platform/internal/devcluster"
	"github.com/intelliflow/platform/internal/freeport"
	"github.com/intelliflow/platform/internal/rollout"
	"github.com/stretchr/testify/require"
)

// Option changes the cluster Start runs.
type Option func(*devcluster.Options)

// Metrics serves metrics.k8s.io (devcluster.Options.Metrics). Off by
// default: it adds metrics-server's first scrapes to the start, and a test
// applying the metrics-server chart's own APIService needs the name free.
func Metrics(o *devcluster.Options) { o.Metrics = true }

// RealNode adds the real node (devcluster.Options.RealNode): a kubelet with
// containerd on this host. One at a time per host: the nodes share the
// bridge, the iptables chains and /run/netns.
func RealNode(o *devcluster.Options) { o.RealNode = true }

// requireRoot skips a real-node test without root, unless make test runs
// it (INTELLIFLOW_REQUIRE_CLUSTER), where it fails.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("INTELLIFLOW_REQUIRE_CLUSTER") != "" {
			t.Fatal("the real node needs root")
		}
		t.Skip("the real node needs root")
	}
}

// Start runs a cluster of general and gpu nodes and returns it with an
// admin client. It skips when the binaries are not built (make
// cluster-tools), or a real node is asked for without root, unless
// INTELLIFLOW_REQUIRE_CLUSTER is set, as make test sets it.
func Start(t testing.TB, general, gpu int, opts ...Option) (*devcluster.Cluster, *rest.Config, kubernetes.Interface) {
	t.Helper()
	repo, err := root()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := devcluster.Binaries(repo)
	if err != nil {
		if os.Getenv("INTELLIFLOW_REQUIRE_CLUSTER") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	o := devcluster.Options{Dir: filepath.Join(t.TempDir(), "cluster"), Bin: bin, General: general, GPU: gpu}
	for _, opt := range opts {
		opt(&o)
	}
	if o.RealNode {
		requireRoot(t)
	}
	start := time.Now()
	var c *devcluster.Cluster
	// A port picked free can be taken before the cluster binds it; Up then
	// fails with freeport.ErrInUse and the cluster starts on other ports.
	// Tests of other packages run beside this one: a real node waits its
	// turn (one per host) rather than fail.
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(2 * time.Second) {
		_, err = freeport.Start(8, freeport.Pick, func(ports []int) error {
			o.APIPort, o.EtcdPort, o.EtcdPeerPort, o.ControllerPort, o.SchedulerPort, o.KwokPort, o.MetricsPort, o.KubeletPort = ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6], ports[7]
			c, err = devcluster.Up(o)
			return err
		})
		if !errors.Is(err, devcluster.ErrRealNodeTaken) || time.Now().After(deadline) {
			break
		}
	}
	t.Cleanup(func() {
		// A real node's down also puts the host back; one that could not
		// is this test's failure, not the next one's.
		if _, err := devcluster.Down(o.Dir); err != nil {
			t.Errorf("devcluster down: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster up in %s", time.Since(start).Round(100*time.Millisecond))
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.RealNode {
		// Registered after Down's cleanup, so it runs before it, while
		// the cluster and its logs are still there.
		t.Cleanup(func() {
			if t.Failed() {
				explain(t, c, client)
			}
		})
	}
	return c, cfg, client
}

// explain logs why a failed real-node test's pods may not have run: the
// real node's conditions other than Ready and its taints, every pod that is
// neither Ready nor done with what holds it (conditions, containers'
// states, its last events), and the end of the kubelet's and containerd's
// logs. A CI log then names the cause, not only a timeout.
func explain(t testing.TB, c *devcluster.Cluster, client kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := client.CoreV1().Nodes().Get(ctx, devcluster.RealNodeName, metav1.GetOptions{}); err == nil {
		var conds []string
		for _, cond := range n.Status.Conditions {
			if cond.Type != corev1.NodeReady && cond.Status == corev1.ConditionTrue || cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionTrue {
				conds = append(conds, fmt.Sprintf("%s=%s (%s)", cond.Type, cond.Status, cond.Message))
			}
		}
		t.Logf("%s: %d taints %v; conditions out of place: %v", n.Name, len(n.Spec.Taints), n.Spec.Taints, conds)
	}
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || rollout.PodReady(p) {
			continue
		}
		line := fmt.Sprintf("%s/%s on %q: %s", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase)
		for _, cond := range p.Status.Conditions {
			if cond.Status != corev1.ConditionTrue {
				line += fmt.Sprintf("; %s: %s %s", cond.Type, cond.Reason, cond.Message)
			}
		}
		for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
			switch {
			case cs.State.Waiting != nil:
				line += fmt.Sprintf("; %s waiting: %s %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
			case cs.State.Terminated != nil:
				line += fmt.Sprintf("; %s exited %d: %s %s", cs.Name, cs.State.Terminated.ExitCode, cs.State.Terminated.Reason, cs.State.Terminated.Message)
			case !cs.Ready:
				line += fmt.Sprintf("; %s running, not ready (restarts %d)", cs.Name, cs.RestartCount)
			}
		}
		events, _ := client.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
		if events != nil {
			for _, e := range events.Items[max(0, len(events.Items)-3):] {
				line += fmt.Sprintf("; event %s x%d: %s", e.Reason, e.Count, e.Message)
			}
		}
		t.Log(line)
	}
	for _, name := range []string{"kubelet", "containerd"} {
		b, _ := os.ReadFile(filepath.Join(c.Dir, "logs", name+".log"))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		t.Logf("the end of %s.log:\n%s", name, strings.Join(lines[max(0, len(lines)-10):], "\n"))
	}
}

// root is the repository's folder: the nearest parent holding go.mod.
func root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// Token mints a token of namespace/name's ServiceAccount for audiences (no
// audience: the API server's own), as the kubelet projects one into a pod,
// creating the namespace and the account when they do not exist.
func Token(t testing.TB, client kubernetes.Interface, namespace, name string, audiences ...string) string {
	t.Helper()
	ctx := context.Background()
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	_, err = client.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	exp := int64(600)
	tr, err := client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &exp},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// NetcheckPod is a pod on the real node running netcheck with args, as the
// restricted Pod Security standard wants it.
func NetcheckPod(namespace, name string, labels map[string]string, restart corev1.RestartPolicy, args ...string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy:                restart,
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](10001), RunAsGroup: ptr.To[int64](10001),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "app", Image: devcluster.NetcheckImage, ImagePullPolicy: corev1.PullNever, Args: args,
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
	devcluster.OnRealNode(&pod.Spec)
	return pod
}

// RunPod runs a pod to its end and returns how it ended and its log.
func RunPod(ctx context.Context, t testing.TB, client kubernetes.Interface, pod *corev1.Pod) (corev1.PodPhase, string) {
	t.Helper()
	_, err := client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	var phase corev1.PodPhase
	require.Eventually(t, func() bool {
		p, err := client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err == nil {
			phase = p.Status.Phase
		}
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed
	}, time.Minute, 250*time.Millisecond, "pod %s ends", pod.Name)
	log, err := client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	require.NoError(t, err)
	return phase, string(log)
}

// RequireRestricted checks, as the host sees the process of the real
// node's container id (containerd://...), what the restricted security
// context promises: uid and gid, every capability set empty, no new
// privileges, a seccomp filter, a read-only root. It returns the
// process's host PID and a line saying what it saw.
func RequireRestricted(t testing.TB, c *devcluster.Cluster, containerID string, uid int) (int, string) {
	t.Helper()
	id := strings.TrimPrefix(containerID, "containerd://")
	pid := taskPID(t, c, id)
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	require.NoError(t, err)
	fields := map[string]string{}
	for _, l := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	ids := strings.TrimSpace(strings.Repeat(strconv.Itoa(uid)+" ", 4))
	require.Equal(t, ids, fields["Uid"])
	require.Equal(t, ids, fields["Gid"])
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
	return pid, fmt.Sprintf("container %.12s: pid %d, uid %s, CapEff %s, NoNewPrivs %s, Seccomp %s, root %s", id, pid, fields["Uid"], fields["CapEff"], fields["NoNewPrivs"], fields["Seccomp"], root)
}

// taskPID is the host PID of a container's task, from containerd.
func taskPID(t testing.TB, c *devcluster.Cluster, id string) int {
	t.Helper()
	out, err := c.Ctr("tasks", "ls")
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

// LoadImages builds the platform's images as the pipeline does
// (images.Build, on a base made from the system's CA bundle) from the
// repository at repo, and imports each into the real node as ref(name);
// an image whose ref is "" is skipped. It returns how many it loaded.
func LoadImages(ctx context.Context, t testing.TB, c *devcluster.Cluster, repo string, ref func(name string) string) int {
	t.Helper()
	bundle, err := os.ReadFile(images.CABundle)
	require.NoError(t, err)
	created := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	base, err := images.Base(bundle, created)
	require.NoError(t, err)
	n := 0
	for _, bin := range images.Binaries() {
		r := ref(bin.Name)
		if r == "" {
			continue
		}
		img, err := images.Build(ctx, repo, bin, base, images.Meta{Source: "https://intelliflow.local/platform", Revision: "test", Created: created})
		require.NoError(t, err, bin.Name)
		require.NoError(t, c.Import(r, img), bin.Name)
		n++
	}
	return n
}
