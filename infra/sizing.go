package infra

import (
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/stacks"
)

// surgeFactor covers a rolling update at full scale: maxSurge is 25 %, so
// for a moment a service runs a quarter more pods than its HPA maximum.
const surgeNumerator, surgeDenominator = 5, 4

// appQuota sizes the app namespace from the services it must hold: every
// service at its HPA maximum, mid-rollout. A quota smaller than that would
// stop the HPA exactly when traffic peaks.
func appQuota(sizes map[string]stacks.Size) namespace.Quota {
	var reqCPU, reqMem, limCPU, limMem resource.Quantity
	pods, gpus := 0, 0
	for _, s := range sizes {
		n := (s.MaxReplicas*surgeNumerator + surgeDenominator - 1) / surgeDenominator
		pods += n
		gpus += n * s.GPU
		add := func(total *resource.Quantity, v string) {
			q := resource.MustParse(v) // validated by stacks
			q.Mul(int64(n))
			total.Add(q)
		}
		add(&reqCPU, s.CPURequest)
		add(&reqMem, s.MemoryRequest)
		add(&limCPU, s.CPULimit)
		add(&limMem, s.MemoryLimit)
	}
	return namespace.Quota{
		RequestsCPU: reqCPU.String(), RequestsMemory: reqMem.String(),
		LimitsCPU: limCPU.String(), LimitsMemory: limMem.String(),
		Pods: pods, GPUs: gpus,
	}
}

// appLimits gives containers without their own a small default and caps any
// one container at the largest size a service of the stack has.
func appLimits(sizes map[string]stacks.Size) namespace.Limits {
	maxCPU, maxMem := resource.MustParse("500m"), resource.MustParse("256Mi")
	for _, s := range sizes {
		if q := resource.MustParse(s.CPULimit); q.Cmp(maxCPU) > 0 {
			maxCPU = q
		}
		if q := resource.MustParse(s.MemoryLimit); q.Cmp(maxMem) > 0 {
			maxMem = q
		}
	}
	return namespace.Limits{
		DefaultRequestCPU: "100m", DefaultRequestMemory: "128Mi",
		DefaultCPU: "500m", DefaultMemory: "256Mi",
		MaxCPU: maxCPU.String(), MaxMemory: maxMem.String(),
	}
}

// platformQuota sizes the monitoring and security namespaces per environment.
func platformQuota(env stacks.Environment) (namespace.Quota, namespace.Limits) {
	limits := namespace.Limits{
		DefaultRequestCPU: "100m", DefaultRequestMemory: "128Mi",
		DefaultCPU: "500m", DefaultMemory: "512Mi",
		MaxCPU: "8", MaxMemory: "32Gi",
	}
	switch env {
	case stacks.Prod:
		return namespace.Quota{RequestsCPU: "32", RequestsMemory: "128Gi", LimitsCPU: "64", LimitsMemory: "256Gi", Pods: 200}, limits
	case stacks.Staging:
		return namespace.Quota{RequestsCPU: "8", RequestsMemory: "32Gi", LimitsCPU: "16", LimitsMemory: "64Gi", Pods: 100}, limits
	default:
		return namespace.Quota{RequestsCPU: "4", RequestsMemory: "16Gi", LimitsCPU: "8", LimitsMemory: "32Gi", Pods: 50}, limits
	}
}
