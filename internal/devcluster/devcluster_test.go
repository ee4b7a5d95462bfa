package devcluster

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/gpunodegroup"
	"github.com/intelliflow/platform/components/microservice"
)

// TestNodesLookLikeTheNodeGroups: the simulated nodes carry the labels and
// taints of the AWS node groups, so the stack schedules on them as on EKS.
func TestNodesLookLikeTheNodeGroups(t *testing.T) {
	nodes := Nodes(3, 2)
	require.Len(t, nodes, 5)
	zones := map[string]bool{}
	for _, n := range nodes {
		require.Equal(t, "fake", n.Annotations[KwokAnnotation])
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
