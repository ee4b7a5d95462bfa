package servicetest

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intelliflow/platform/apps/catalog"
)

// recorder is a testing.TB that keeps what would have failed the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestRequireCatalogMetricsFailsOnAMissingMetric: with none of the
// service's own metrics registered, every one its catalog entry names is
// reported, and the HTTP metrics (which it adds itself) are not.
func TestRequireCatalogMetricsFailsOnAMissingMetric(t *testing.T) {
	svc, err := catalog.Get(catalog.Users)
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Metrics) == 0 {
		t.Fatal("users names no metric; pick a service that does")
	}
	r := &recorder{TB: t}
	RequireCatalogMetrics(r, prometheus.NewRegistry(), catalog.Users)
	if len(r.errors) != len(svc.Metrics) {
		t.Fatalf("want one error per catalog metric (%v), got %q", svc.Metrics, r.errors)
	}
}
