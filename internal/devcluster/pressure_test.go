package devcluster

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

// TestKubeletEvictsAtAbsoluteFreeSpace: the real node's kubelet evicts at
// a fixed amount of free space, never at a share of the disk (on a 252 GiB
// disk with 5 GiB free, 2 % already holds the node under DiskPressure and
// every pod Pending, which is how CI saw it), and collects no images (each
// came by import; none can be pulled back).
func TestKubeletEvictsAtAbsoluteFreeSpace(t *testing.T) {
	p := pathsOf(t.TempDir())
	var cfg struct {
		EvictionHard                map[string]string `json:"evictionHard"`
		ImageGCHighThresholdPercent int               `json:"imageGCHighThresholdPercent"`
		ImageGCLowThresholdPercent  int               `json:"imageGCLowThresholdPercent"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(kubeletConfig(p, &realNode{name: RealNodeName, ip: net.ParseIP(Gateway)}, 10250)), &cfg))
	for _, signal := range []string{"nodefs.available", "imagefs.available"} {
		v := cfg.EvictionHard[signal]
		require.NotContains(t, v, "%", signal)
		q, err := resource.ParseQuantity(v)
		require.NoError(t, err, signal)
		require.Equal(t, int64(realNodeEvictionMiB)<<20, q.Value(), signal)
	}
	require.Equal(t, 100, cfg.ImageGCHighThresholdPercent, "100 turns image garbage collection off")
	require.Less(t, cfg.ImageGCLowThresholdPercent, cfg.ImageGCHighThresholdPercent, "the kubelet's validation")
	require.Greater(t, int64(realNodeMinFreeMiB), int64(realNodeEvictionMiB), "Up wants room above the eviction floor")
}

// TestCheckFreeSpace: Up refuses a real node on a filesystem with less
// free than it wants, saying how much there is, how much it wants and
// where; with enough it goes on.
func TestCheckFreeSpace(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, checkFreeSpace(dir, 0))
	err := checkFreeSpace(dir, 1<<40)
	require.Error(t, err)
	require.Contains(t, err.Error(), "the real node wants 1099511627776 MiB free on the filesystem of "+dir)
	require.Contains(t, err.Error(), "free some space first")
	require.ErrorContains(t, checkFreeSpace(dir+"/missing", 0), "free space under "+dir+"/missing")
}

// TestUnderPressure: a node reporting disk, memory or process pressure
// fails Up with the kubelet's own message, instead of pods Pending until a
// caller's timeout; a node without pressure passes.
func TestUnderPressure(t *testing.T) {
	node := func(conds ...corev1.NodeCondition) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: RealNodeName}, Status: corev1.NodeStatus{Conditions: conds}}
	}
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	ctx := context.Background()

	calm := fake.NewClientset(node(ready, corev1.NodeCondition{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse}))
	require.NoError(t, underPressure(ctx, calm, RealNodeName))

	pressed := fake.NewClientset(node(ready,
		corev1.NodeCondition{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue, Message: "kubelet has disk pressure"},
		corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}))
	err := underPressure(ctx, pressed, RealNodeName)
	require.Error(t, err)
	require.Equal(t, "under pressure: DiskPressure (kubelet has disk pressure)", err.Error())
	require.False(t, strings.Contains(err.Error(), "MemoryPressure"))

	require.Error(t, underPressure(ctx, calm, "absent"), "a node that is not there")
}
