package gpunodegroup

import (
	"fmt"
	"strings"
)

// nvidiaFamilies are the EC2 families with NVIDIA GPUs that EKS supports on
// x86: the ones the fraud server's CUDA-free inference can also run on.
var nvidiaFamilies = map[string]bool{
	"p3": true, "p3dn": true, "p4d": true, "p4de": true, "p5": true, "p5e": true, "p5en": true,
	"g4dn": true, "g5": true, "g6": true, "g6e": true, "gr6": true,
}

// unsupported are accelerated families this component refuses, with why.
var unsupported = map[string]string{
	"g4ad": "AMD GPUs have no NVIDIA device plugin",
	"g5g":  "ARM with NVIDIA needs an AMI type this platform does not use",
	"inf1": "Inferentia needs the Neuron AMI and device plugin", "inf2": "Inferentia needs the Neuron AMI and device plugin",
	"trn1": "Trainium needs the Neuron AMI and device plugin", "trn2": "Trainium needs the Neuron AMI and device plugin",
	"p2": "P2 (K80) is not supported by current NVIDIA drivers",
}

// family is the instance family: "g5" in "g5.2xlarge".
func family(instanceType string) (string, error) {
	fam, size, ok := strings.Cut(instanceType, ".")
	if !ok || fam == "" || size == "" {
		return "", fmt.Errorf("instance type %q is not <family>.<size>", instanceType)
	}
	return fam, nil
}

// IsGPU reports whether an instance type has NVIDIA GPUs.
func IsGPU(instanceType string) bool {
	fam, err := family(instanceType)
	return err == nil && nvidiaFamilies[fam]
}

// AMIType chooses the EKS AMI type for an instance type: Amazon Linux 2023
// with the NVIDIA driver for GPU families, the standard image otherwise, by
// CPU architecture (Graviton families carry a "g" after the generation).
func AMIType(instanceType string) (string, error) {
	fam, err := family(instanceType)
	if err != nil {
		return "", err
	}
	if why, bad := unsupported[fam]; bad {
		return "", fmt.Errorf("instance type %s: %s", instanceType, why)
	}
	if nvidiaFamilies[fam] {
		return "AL2023_x86_64_NVIDIA", nil
	}
	if isGraviton(fam) {
		return "AL2023_ARM_64_STANDARD", nil
	}
	return "AL2023_x86_64_STANDARD", nil
}

// isGraviton: m7g, c6gn, r8g, t4g, x2gd, im4gn: the generation digit
// followed by "g".
func isGraviton(fam string) bool {
	for i := 0; i+1 < len(fam); i++ {
		if fam[i] >= '0' && fam[i] <= '9' && fam[i+1] == 'g' {
			return true
		}
	}
	return false
}

// Taint is a node taint.
type Taint struct{ Key, Value, Effect string }

// GPUTaintKey keeps every pod without a matching toleration off GPU nodes;
// the microservice component adds the toleration for GPU workloads.
const GPUTaintKey = "nvidia.com/gpu"

// Taints are the taints a node group's nodes carry: GPU nodes repel
// everything that does not ask for them.
func Taints(gpu bool) []Taint {
	if !gpu {
		return nil
	}
	return []Taint{{Key: GPUTaintKey, Value: "true", Effect: "NO_SCHEDULE"}}
}

// multiGPU are the sizes with more than one GPU, per family; every other
// size of a GPU family has one.
var multiGPU = map[string]map[string]int{
	"g4dn": {"12xlarge": 4, "metal": 8},
	"g5":   {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
	"g6":   {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
	"g6e":  {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
	"gr6":  {},
	"p3":   {"8xlarge": 4, "16xlarge": 8},
	"p3dn": {"24xlarge": 8},
	"p4d":  {"24xlarge": 8}, "p4de": {"24xlarge": 8},
	"p5": {"48xlarge": 8, "4xlarge": 1}, "p5e": {"48xlarge": 8}, "p5en": {"48xlarge": 8},
}

// GPUsPerNode is how many NVIDIA GPUs one node of an instance type offers
// the scheduler (nvidia.com/gpu capacity); 0 for CPU types.
func GPUsPerNode(instanceType string) (int, error) {
	fam, err := family(instanceType)
	if err != nil {
		return 0, err
	}
	if !nvidiaFamilies[fam] {
		return 0, nil
	}
	_, size, _ := strings.Cut(instanceType, ".")
	if n, ok := multiGPU[fam][size]; ok {
		return n, nil
	}
	return 1, nil
}
