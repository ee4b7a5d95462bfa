package devcluster

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/gpunodegroup"
	"github.com/intelliflow/platform/components/microservice"
	"github.com/intelliflow/platform/internal/freeport"
)

// TestNodesLookLikeTheNodeGroups: the simulated nodes carry the labels and
// taints of the AWS node groups, so the stack schedules on them as on EKS.
func TestNodesLookLikeTheNodeGroups(t *testing.T) {
	nodes := Nodes(3, 2)
	require.Len(t, nodes, 5)
	zones := map[string]bool{}
	for _, n := range nodes {
		require.Equal(t, "fake", n.Annotations[KwokAnnotation])
		require.Equal(t, "/metrics/nodes/"+n.Name+"/metrics/resource", n.Annotations[ResourceMetricsPathAnnotation], "where kwok serves the node's kubelet metrics")
		zones[n.Labels["topology.kubernetes.io/zone"]] = true
		require.Equal(t, n.Name, n.Labels["kubernetes.io/hostname"])
		group := n.Labels[microservice.NodeGroupLabel]
		gpu := group == "gpu"
		for k, v := range gpunodegroup.Labels(group, gpu) {
			require.Equal(t, v, n.Labels[k], "%s: %s", n.Name, k)
		}
		if gpu {
			require.Len(t, n.Spec.Taints, 1)
			require.Equal(t, gpunodegroup.GPUTaintKey, n.Spec.Taints[0].Key)
			require.Equal(t, "NoSchedule", string(n.Spec.Taints[0].Effect), "EKS's NO_SCHEDULE")
			q := n.Status.Allocatable["nvidia.com/gpu"]
			require.Equal(t, int64(1), q.Value())
		} else {
			require.Empty(t, n.Spec.Taints)
		}
	}
	require.Len(t, zones, 3, "spread over three zones")
}

// TestUpOnATakenPort: when another process holds a port the cluster was
// given, Up fails at once with freeport.ErrInUse (so the caller can pick
// other ports), leaves nothing running, and never talks to the other
// server: here a foreign listener holds etcd's client port. The logs stay
// for the error to point at; nothing else does.
func TestUpOnATakenPort(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	bin, err := Binaries(repo)
	if err != nil {
		if os.Getenv("INTELLIFLOW_REQUIRE_CLUSTER") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	ports, err := freeport.Pick(5)
	require.NoError(t, err)
	o := Options{Dir: filepath.Join(t.TempDir(), "cluster"), Bin: bin, General: 1,
		EtcdPort: taken.Addr().(*net.TCPAddr).Port, APIPort: ports[0], EtcdPeerPort: ports[1], ControllerPort: ports[2], SchedulerPort: ports[3], KwokPort: ports[4]}
	began := time.Now()
	_, err = Up(o)
	require.ErrorIs(t, err, freeport.ErrInUse)
	require.ErrorContains(t, err, "etcd exited")
	t.Logf("Up failed after %s: %v", time.Since(began).Round(time.Millisecond), err)
	entries, err := os.ReadDir(o.Dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "Up cleaned up after itself")
	require.Equal(t, "logs", entries[0].Name())
	_, err = os.Stat(filepath.Join(o.Dir, "logs", "etcd.log"))
	require.NoError(t, err, "the log the error points at")
}

// TestUpBesideARunningCluster: a second up on a running cluster's folder
// fails and leaves that cluster running (its processes and its state).
func TestUpBesideARunningCluster(t *testing.T) {
	dir := t.TempDir()
	sleeper := exec.Command("sleep", "60")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	pids := filepath.Join(dir, "pids")
	require.NoError(t, os.WriteFile(pids, fmt.Appendf(nil, "%d etcd\n", sleeper.Process.Pid), 0o644))
	_, err := Up(Options{Dir: dir, Bin: t.TempDir(), General: 1})
	require.ErrorContains(t, err, "the cluster is up")
	require.NoError(t, sleeper.Process.Signal(syscall.Signal(0)), "the running cluster's process was stopped")
	_, err = os.Stat(pids)
	require.NoError(t, err, "the running cluster's state was removed")
}

// TestOneRealNodePerHost: a second cluster's real node is refused while the
// first's cluster runs, naming it; a claim whose cluster is gone is taken
// over; a cluster releases only its own claim.
func TestOneRealNodePerHost(t *testing.T) {
	host := realNodeClaim
	t.Cleanup(func() { realNodeClaim = host })
	realNodeClaim = filepath.Join(t.TempDir(), "claim")
	a, b := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(a, "pids"), []byte("1 etcd\n"), 0o644))
	require.NoError(t, claimRealNode(a))
	err := claimRealNode(b)
	require.ErrorIs(t, err, ErrRealNodeTaken)
	require.ErrorContains(t, err, "the cluster in "+a)
	require.NoError(t, releaseRealNode(b), "not b's to release")
	require.ErrorIs(t, claimRealNode(b), ErrRealNodeTaken, "a's claim stays")

	require.NoError(t, os.Remove(filepath.Join(a, "pids")), "a went down without releasing")
	require.NoError(t, claimRealNode(b), "a stale claim is taken over")
	owner, err := os.ReadFile(realNodeClaim)
	require.NoError(t, err)
	require.Equal(t, b, string(owner))
	require.NoError(t, releaseRealNode(b))
	_, err = os.Stat(realNodeClaim)
	require.ErrorIs(t, err, os.ErrNotExist)
}
