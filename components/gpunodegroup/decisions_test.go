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
