package devcluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// MetricsAPIService is the APIService the HPA controller reads pods' CPU
// through.
const MetricsAPIService = "v1beta1.metrics.k8s.io"

var apiServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// registerMetrics puts metrics-server, running on loopback at port, behind
// the aggregation layer and waits until the API serves every node's
// metrics. The Service is an ExternalName to localhost: the aggregator
// resolves it to https://localhost:port without a Service proxy, and
// Endpoints may not name loopback. The aggregator verifies metrics-server's
// certificate (issued for metrics-server.kube-system.svc) against caFile.
func registerMetrics(parent context.Context, cfg *rest.Config, port int, caFile string, alive func() error) error {
	ctx, cancel := context.WithTimeout(parent, 2*time.Minute)
	defer cancel()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: MetricsServerName, Namespace: "kube-system", Labels: map[string]string{"app.kubernetes.io/name": MetricsServerName}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(port)}}},
	}
	if _, err := client.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("service: %w", err)
	}
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": MetricsAPIService},
		"spec": map[string]any{
			"group": "metrics.k8s.io", "version": "v1beta1",
			"service":              map[string]any{"namespace": "kube-system", "name": MetricsServerName, "port": int64(port)},
			"caBundle":             base64.StdEncoding.EncodeToString(ca),
			"groupPriorityMinimum": int64(100), "versionPriority": int64(100),
		},
	}}
	if _, err := dyn.Resource(apiServices).Create(ctx, apiService, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("APIService: %w", err)
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	// Available first (the aggregator reaches metrics-server), then a list
	// holding every node (metrics-server has scraped each through kwok).
	var last string
	for {
		if err := alive(); err != nil {
			return err
		}
		last = metricsState(ctx, dyn, client, len(nodes.Items))
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not served after 2m: %s", last)
		case <-time.After(time.Second):
		}
	}
}

// metricsState says what the metrics API still lacks, or "" when it lists
// metrics for want nodes.
func metricsState(ctx context.Context, dyn dynamic.Interface, client kubernetes.Interface, want int) string {
	svc, err := dyn.Resource(apiServices).Get(ctx, MetricsAPIService, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	conds, _, _ := unstructured.NestedSlice(svc.Object, "status", "conditions")
	available := "no Available condition"
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Available" {
			available = fmt.Sprintf("Available=%v: %v", m["status"], m["message"])
			if m["status"] == "True" {
				available = ""
			}
		}
	}
	if available != "" {
		return available
	}
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
	if err != nil {
		return err.Error()
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return err.Error()
	}
	if len(list.Items) < want {
		return fmt.Sprintf("metrics for %d of %d nodes", len(list.Items), want)
	}
	return ""
}
