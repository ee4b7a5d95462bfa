package stacks

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/intelliflow/platform/apps/catalog"
)

// MetricTarget is a custom HPA metric with its per-pod average target.
type MetricTarget struct {
	Name         string `json:"name"`
	AverageValue string `json:"averageValue"`
}

// Size is how one service is sized and scaled in a stack.
type Size struct {
	MinReplicas    int    `json:"minReplicas"`
	MaxReplicas    int    `json:"maxReplicas"`
	CPURequest     string `json:"cpuRequest"`
	MemoryRequest  string `json:"memoryRequest"`
	CPULimit       string `json:"cpuLimit"`
	MemoryLimit    string `json:"memoryLimit"`
	GPU            int    `json:"gpu"`
	CPUUtilization int    `json:"cpuUtilization"`
	// PodsMetric and ExternalMetric add custom HPA metrics where a metrics
	// adapter serves them (staging, prod).
	PodsMetric     *MetricTarget `json:"podsMetric,omitempty"`
	ExternalMetric *MetricTarget `json:"externalMetric,omitempty"`
	// RequiredHostAntiAffinity puts at most one pod per node.
	RequiredHostAntiAffinity bool `json:"requiredHostAntiAffinity"`
}

// DefaultSizes returns the sizes of every service in an environment. Prod
// carries the seed's figures; staging is the same shape, smaller; dev runs
// two small replicas of everything on CPU (two, not one: REL-01 and REL-06
// hold in every stack, so dev exercises the same policies as prod).
func DefaultSizes(env Environment) map[string]Size {
	switch env {
	case Prod:
		return map[string]Size{
			catalog.Gateway: {MinReplicas: 3, MaxReplicas: 20, CPURequest: "250m", MemoryRequest: "256Mi", CPULimit: "1", MemoryLimit: "512Mi", CPUUtilization: 70},
			catalog.Users:   {MinReplicas: 3, MaxReplicas: 10, CPURequest: "250m", MemoryRequest: "512Mi", CPULimit: "1", MemoryLimit: "1Gi", CPUUtilization: 70},
			catalog.Transactions: {
				MinReplicas: 5, MaxReplicas: 50, CPURequest: "500m", MemoryRequest: "1Gi", CPULimit: "2", MemoryLimit: "2Gi", CPUUtilization: 60,
				PodsMetric:               &MetricTarget{Name: "transaction_processing_rate", AverageValue: "200"},
				ExternalMetric:           &MetricTarget{Name: "sqs_queue_depth", AverageValue: "50"},
				RequiredHostAntiAffinity: true,
			},
			catalog.Fraud:         {MinReplicas: 4, MaxReplicas: 12, CPURequest: "1", MemoryRequest: "2Gi", CPULimit: "4", MemoryLimit: "4Gi", GPU: 1, CPUUtilization: 70},
			catalog.Analytics:     {MinReplicas: 2, MaxReplicas: 6, CPURequest: "250m", MemoryRequest: "512Mi", CPULimit: "1", MemoryLimit: "1Gi", CPUUtilization: 75},
			catalog.Notifications: {MinReplicas: 2, MaxReplicas: 6, CPURequest: "100m", MemoryRequest: "128Mi", CPULimit: "500m", MemoryLimit: "256Mi", CPUUtilization: 75},
			catalog.Orchestrator:  {MinReplicas: 2, MaxReplicas: 4, CPURequest: "250m", MemoryRequest: "512Mi", CPULimit: "1", MemoryLimit: "1Gi", CPUUtilization: 75},
		}
	case Staging:
		return map[string]Size{
			catalog.Gateway: {MinReplicas: 2, MaxReplicas: 4, CPURequest: "100m", MemoryRequest: "128Mi", CPULimit: "500m", MemoryLimit: "256Mi", CPUUtilization: 70},
			catalog.Users:   {MinReplicas: 2, MaxReplicas: 4, CPURequest: "100m", MemoryRequest: "256Mi", CPULimit: "500m", MemoryLimit: "512Mi", CPUUtilization: 70},
			catalog.Transactions: {
				MinReplicas: 2, MaxReplicas: 10, CPURequest: "250m", MemoryRequest: "512Mi", CPULimit: "1", MemoryLimit: "1Gi", CPUUtilization: 60,
				PodsMetric:               &MetricTarget{Name: "transaction_processing_rate", AverageValue: "200"},
				RequiredHostAntiAffinity: true,
			},
			catalog.Fraud:         {MinReplicas: 2, MaxReplicas: 4, CPURequest: "500m", MemoryRequest: "1Gi", CPULimit: "2", MemoryLimit: "2Gi", GPU: 1, CPUUtilization: 70},
			catalog.Analytics:     {MinReplicas: 2, MaxReplicas: 3, CPURequest: "100m", MemoryRequest: "256Mi", CPULimit: "500m", MemoryLimit: "512Mi", CPUUtilization: 75},
			catalog.Notifications: {MinReplicas: 2, MaxReplicas: 3, CPURequest: "50m", MemoryRequest: "64Mi", CPULimit: "250m", MemoryLimit: "128Mi", CPUUtilization: 75},
			catalog.Orchestrator:  {MinReplicas: 2, MaxReplicas: 3, CPURequest: "100m", MemoryRequest: "256Mi", CPULimit: "500m", MemoryLimit: "512Mi", CPUUtilization: 75},
		}
	default:
		small := Size{MinReplicas: 2, MaxReplicas: 3, CPURequest: "50m", MemoryRequest: "64Mi", CPULimit: "500m", MemoryLimit: "256Mi", CPUUtilization: 80}
		out := map[string]Size{}
		for _, name := range catalog.Names() {
			out[name] = small
		}
		out[catalog.Fraud] = Size{MinReplicas: 2, MaxReplicas: 3, CPURequest: "250m", MemoryRequest: "512Mi", CPULimit: "1", MemoryLimit: "1Gi", CPUUtilization: 80}
		return out
	}
}

// validateSizes reports every bad size, naming the config path.
func (c Config) validateSizes() []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		s := c.Services[name]
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("config %s:services.%s.%s: %s", Namespace, name, field, fmt.Sprintf(format, args...)))
		}
		svc, err := catalog.Get(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("config %s:services.%s: %w", Namespace, name, err))
			continue
		}
		if s.MinReplicas < 2 {
			bad("minReplicas", "%d; long-running services run at least 2 replicas (REL-01)", s.MinReplicas)
		}
		if s.MaxReplicas <= s.MinReplicas {
			bad("maxReplicas", "%d must be greater than minReplicas %d (REL-06)", s.MaxReplicas, s.MinReplicas)
		}
		if s.CPUUtilization < 1 || s.CPUUtilization > 100 {
			bad("cpuUtilization", "%d is not a percentage from 1 to 100", s.CPUUtilization)
		}
		pairs := []struct{ reqField, req, limField, lim string }{
			{"cpuRequest", s.CPURequest, "cpuLimit", s.CPULimit},
			{"memoryRequest", s.MemoryRequest, "memoryLimit", s.MemoryLimit},
		}
		for _, p := range pairs {
			req, rerr := resource.ParseQuantity(p.req)
			lim, lerr := resource.ParseQuantity(p.lim)
			if rerr != nil || req.Sign() <= 0 {
				bad(p.reqField, "%q is not a positive Kubernetes quantity", p.req)
			}
			if lerr != nil || lim.Sign() <= 0 {
				bad(p.limField, "%q is not a positive Kubernetes quantity", p.lim)
			}
			if rerr == nil && lerr == nil && req.Cmp(lim) > 0 {
				bad(p.reqField, "%s is above %s %s", p.req, p.limField, p.lim)
			}
		}
		switch {
		case s.GPU < 0:
			bad("gpu", "%d is negative", s.GPU)
		case s.GPU > 0 && !svc.GPU:
			bad("gpu", "%s does not run on GPUs", name)
		case s.GPU > 0 && c.GPUNodeGroup == "":
			bad("gpu", "needs a GPU node group: set %s:gpuNodeGroup", Namespace)
		}
		for _, m := range []struct {
			field string
			t     *MetricTarget
		}{{"podsMetric", s.PodsMetric}, {"externalMetric", s.ExternalMetric}} {
			if m.t == nil {
				continue
			}
			if m.t.Name == "" {
				bad(m.field+".name", "is empty")
			}
			if q, err := resource.ParseQuantity(m.t.AverageValue); err != nil || q.Sign() <= 0 {
				bad(m.field+".averageValue", "%q is not a positive quantity", m.t.AverageValue)
			}
		}
	}
	for _, name := range catalog.Names() {
		if _, ok := c.Services[name]; !ok {
			errs = append(errs, fmt.Errorf("config %s:services.%s: no size", Namespace, name))
		}
	}
	return errs
}

// mergeSizes lays the stack's overrides (a JSON object per service, only the
// fields given) over the environment's defaults.
func mergeSizes(defaults map[string]Size, overrides map[string]map[string]any) (map[string]Size, error) {
	out := make(map[string]Size, len(defaults))
	for k, v := range defaults {
		out[k] = v
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		if !slices.Contains(catalog.Names(), name) {
			errs = append(errs, fmt.Errorf("config %s:services.%s: unknown service; known services: %v", Namespace, name, catalog.Names()))
			continue
		}
		s := out[name]
		if err := overlay(overrides[name], &s); err != nil {
			errs = append(errs, fmt.Errorf("config %s:services.%s: %w", Namespace, name, err))
			continue
		}
		out[name] = s
	}
	return out, errors.Join(errs...)
}
