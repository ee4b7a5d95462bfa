package gpunodegroup

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAMIType(t *testing.T) {
	tests := []struct {
		instance string
		want     string
		err      string
	}{
		{"g5.2xlarge", "AL2023_x86_64_NVIDIA", ""},
		{"g4dn.xlarge", "AL2023_x86_64_NVIDIA", ""},
		{"p4d.24xlarge", "AL2023_x86_64_NVIDIA", ""},
		{"g6e.12xlarge", "AL2023_x86_64_NVIDIA", ""},
		{"m6i.large", "AL2023_x86_64_STANDARD", ""},
		{"c7a.xlarge", "AL2023_x86_64_STANDARD", ""},
		{"m7g.large", "AL2023_ARM_64_STANDARD", ""},
		{"c6gn.xlarge", "AL2023_ARM_64_STANDARD", ""},
		{"t4g.medium", "AL2023_ARM_64_STANDARD", ""},
		{"g4ad.xlarge", "", "AMD GPUs"},
		{"g5g.xlarge", "", "ARM with NVIDIA"},
		{"inf2.xlarge", "", "Neuron"},
		{"p2.xlarge", "", "K80"},
		{"g5", "", "not <family>.<size>"},
		{"", "", "not <family>.<size>"},
	}
	for _, tt := range tests {
		t.Run(tt.instance, func(t *testing.T) {
			got, err := AMIType(tt.instance)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestTaints(t *testing.T) {
	require.Nil(t, Taints(false))
	require.Equal(t, []Taint{{Key: "nvidia.com/gpu", Value: "true", Effect: "NO_SCHEDULE"}}, Taints(true))
	require.True(t, IsGPU("g5.xlarge"))
	require.False(t, IsGPU("m6i.large"))
	require.False(t, IsGPU("garbage"))
}

func TestGPUsPerNode(t *testing.T) {
	for it, want := range map[string]int{
		"m6i.2xlarge": 0, "m7g.large": 0, "g5.xlarge": 1, "g5.2xlarge": 1, "g5.12xlarge": 4, "g5.48xlarge": 8,
		"g4dn.xlarge": 1, "g4dn.12xlarge": 4, "p3.2xlarge": 1, "p3.8xlarge": 4, "p3.16xlarge": 8, "p4d.24xlarge": 8,
	} {
		got, err := GPUsPerNode(it)
		require.NoError(t, err, it)
		require.Equal(t, want, got, it)
	}
	_, err := GPUsPerNode("g5")
	require.ErrorContains(t, err, "not <family>.<size>")
}
