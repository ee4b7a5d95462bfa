package main

// The charts stack's rendered objects applied to a real API server
// (internal/devcluster): CRDs install, every object (custom resources
// included) passes the API server's validation, and every pod a workload
// would run passes admission in its namespace (Pod Security, its
// ServiceAccount, the namespace's quota and limits).

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// notApplied are the kinds the test leaves out, and why: their backends
// are pods kwok only pretends to run, so a webhook that must answer would
// refuse every later write, and an aggregated API that cannot answer
// breaks discovery. Each is still checked by the pack and, as an object,
// by the dry-run below.
var notApplied = map[string]string{
	"admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": "its webhook pods serve nothing under kwok",
	"admissionregistration.k8s.io/v1/MutatingWebhookConfiguration":   "its webhook pods serve nothing under kwok",
	"apiregistration.k8s.io/v1/APIService":                           "its server pods serve nothing under kwok",
}

// gatekeeperPolicy reports one of the platform's Gatekeeper policies: a
// ConstraintTemplate or a Constraint, rather than an object they judge.
func gatekeeperPolicy(u *unstructured.Unstructured) bool {
	return u.GroupVersionKind().Group == gatekeeperConstraints || u.GetKind() == "ConstraintTemplate"
}

// gatekeeperConstraints is the API group of the kinds Gatekeeper creates
// from each ConstraintTemplate while it runs: their CRDs exist only once
// Gatekeeper does, so the constraints are judged by gator instead.
const gatekeeperConstraints = "constraints.gatekeeper.sh"

// appliedCharts is what applyRendered found.
type appliedCharts struct {
	CRDs, Objects, DryRun, Pods int
	// Kinds counts the applied objects by kind.
	Kinds map[string]int
}

// readManifests decodes every document under dir.
func readManifests(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(js); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			out = append(out, u)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// applier creates rendered objects in a cluster, in two steps: the
// foundations (CRDs, established; namespaces), then everything else.
type applier struct {
	t      *testing.T
	client kubernetes.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	dir    string
	// manifests are every rendered object but the CRDs.
	manifests []*unstructured.Unstructured
	res       appliedCharts
}

func newApplier(t *testing.T, cfg *rest.Config, client kubernetes.Interface, dir string) *applier {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	return &applier{t: t, client: client, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco)), dir: dir,
		res: appliedCharts{Kinds: map[string]int{}}}
}

func (a *applier) create(u *unstructured.Unstructured, opts metav1.CreateOptions) error {
	ctx := context.Background()
	gvk := u.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		ns := u.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		ri = a.dyn.Resource(m.Resource).Namespace(ns)
	}
	_, err = ri.Create(ctx, u, opts)
	return err
}

func objectName(u *unstructured.Unstructured) string {
	return u.GetKind() + " " + strings.TrimPrefix(u.GetNamespace()+"/"+u.GetName(), "/")
}

// foundations creates the CRDs, waits until the API server serves each,
// and creates the namespaces.
func (a *applier) foundations() {
	t := a.t
	t.Helper()
	var refused []string
	crds := readManifests(t, filepath.Join(a.dir, "0-crd"))
	for _, u := range crds {
		if err := a.create(u, metav1.CreateOptions{}); err != nil {
			refused = append(refused, fmt.Sprintf("%s: %v", objectName(u), err))
		}
	}
	a.res.CRDs = len(crds)
	require.Empty(t, refused, "CRDs refused by the API server")
	require.NoError(t, waitEstablished(context.Background(), a.dyn, crds))
	a.mapper.Reset()
	a.manifests = readManifests(t, filepath.Join(a.dir, "1-manifest"))
	for _, u := range a.manifests {
		if u.GetKind() != "Namespace" {
			continue
		}
		if err := a.create(u, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			refused = append(refused, fmt.Sprintf("%s: %v", objectName(u), err))
		}
		a.res.Objects++
		a.res.Kinds["Namespace"]++
	}
	require.Empty(t, refused, "namespaces refused by the API server")
}

// rest creates every other object but notApplied's kinds (validated by a
// dry run), then asks admission about every pod a workload would run.
// Each refusal is reported with the object refused; Gatekeeper's
// constraints are returned for gator.
func (a *applier) rest() (appliedCharts, []*unstructured.Unstructured) {
	t, ctx, res, create, name := a.t, context.Background(), &a.res, a.create, objectName
	t.Helper()
	client, objects := a.client, a.manifests
	var refused []string
	var constraints []*unstructured.Unstructured
	for _, u := range objects {
		gvk := u.GroupVersionKind()
		key := strings.TrimPrefix(gvk.GroupVersion().String()+"/"+gvk.Kind, "/")
		switch {
		case gvk.Kind == "Namespace":
			continue // created first, by foundations
		case gvk.Group == gatekeeperConstraints:
			constraints = append(constraints, u)
			continue
		case notApplied[key] != "":
			// Validated without being kept.
			if err := create(u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
				refused = append(refused, fmt.Sprintf("%s (dry run): %v", name(u), err))
			}
			res.DryRun++
			continue
		}
		if err := create(u, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			refused = append(refused, fmt.Sprintf("%s: %v", name(u), err))
			continue
		}
		res.Objects++
		res.Kinds[gvk.Kind]++
	}
	require.Empty(t, refused, "objects refused by the API server")

	// Every pod a workload would run, admitted in its namespace as the
	// workload's controller would create it.
	for _, u := range objects {
		tmpl, ok := podTemplate(t, u)
		if !ok {
			continue
		}
		pod := &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: tmpl.Spec}
		pod.Namespace, pod.Name = u.GetNamespace(), strings.ToLower(u.GetName())+"-admission"
		if _, err := client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			refused = append(refused, fmt.Sprintf("%s's pod: %v", name(u), err))
		}
		res.Pods++
	}
	require.Empty(t, refused, "workload pods refused by admission")
	return *res, constraints
}

// podTemplate is a workload's pod template.
func podTemplate(t *testing.T, u *unstructured.Unstructured) (corev1.PodTemplateSpec, bool) {
	t.Helper()
	var obj interface{ template() corev1.PodTemplateSpec }
	switch u.GroupVersionKind().String() {
	case "apps/v1, Kind=Deployment":
		obj = &deployment{}
	case "apps/v1, Kind=StatefulSet":
		obj = &statefulSet{}
	case "apps/v1, Kind=DaemonSet":
		obj = &daemonSet{}
	case "batch/v1, Kind=Job":
		obj = &job{}
	case "batch/v1, Kind=CronJob":
		obj = &cronJob{}
	default:
		return corev1.PodTemplateSpec{}, false
	}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj), u.GetName())
	return obj.template(), true
}

type (
	deployment  struct{ appsv1.Deployment }
	statefulSet struct{ appsv1.StatefulSet }
	daemonSet   struct{ appsv1.DaemonSet }
	job         struct{ batchv1.Job }
	cronJob     struct{ batchv1.CronJob }
)

func (d *deployment) template() corev1.PodTemplateSpec { return d.Spec.Template }

// template of a StatefulSet mounts its claim templates as the claims
// the controller makes for its first pod.
func (s *statefulSet) template() corev1.PodTemplateSpec {
	tmpl := *s.Spec.Template.DeepCopy()
	for _, c := range s.Spec.VolumeClaimTemplates {
		tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + s.Name + "-0"},
		}})
	}
	return tmpl
}
func (d *daemonSet) template() corev1.PodTemplateSpec { return d.Spec.Template }
func (j *job) template() corev1.PodTemplateSpec       { return j.Spec.Template }
func (c *cronJob) template() corev1.PodTemplateSpec   { return c.Spec.JobTemplate.Spec.Template }

// waitEstablished waits until the API server serves every CRD.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, crds []*unstructured.Unstructured) error {
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	deadline := time.Now().Add(time.Minute)
	for _, u := range crds {
		for {
			got, err := dyn.Resource(gvr).Get(ctx, u.GetName(), metav1.GetOptions{})
			if err == nil && established(got) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established after a minute (last error: %v)", u.GetName(), err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// established reports a CRD's Established condition.
func established(crd *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// gatorVerdict runs Gatekeeper's gator over the objects a rendered: the
// platform's ConstraintTemplates and Constraints, as the gatekeeper
// component renders them, against every object beside them (the apps'
// workloads and the charts' alike). It returns the violations gator
// prints, one line each, and how many objects it reviewed.
func gatorVerdict(t *testing.T, a *applier) (violations []string, reviewed int) {
	t.Helper()
	gator := filepath.Join(repoDir(t), "bin", "cluster", "gator")
	if _, err := os.Stat(gator); err != nil {
		if os.Getenv("INTELLIFLOW_REQUIRE_CLUSTER") != "" {
			t.Fatalf("gator: %v (make cluster-tools builds it)", err)
		}
		t.Skipf("gator: %v (make cluster-tools builds it)", err)
	}
	manifests := filepath.Join(a.dir, "1-manifest")
	// Negative control: the same constraints refuse a privileged pod.
	control := t.TempDir()
	for _, u := range a.manifests {
		if !gatekeeperPolicy(u) {
			reviewed++
			continue
		}
		data, err := u.MarshalJSON()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(control, u.GetName()+"-"+strings.ToLower(u.GetKind())+".json"), data, 0o644))
	}
	unsafe := `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unsafe", "namespace": "intelliflow-dev"},
		"spec": {"containers": [{"name": "x", "image": "registry.intelliflow.internal/x:1", "securityContext": {"privileged": true}}]}}`
	require.NoError(t, os.WriteFile(filepath.Join(control, "unsafe.json"), []byte(unsafe), 0o644))
	out, err := exec.Command(gator, "test", "--filename", control).CombinedOutput()
	require.Error(t, err, "gator admitted a privileged pod: %s", out)
	require.Contains(t, string(out), "is privileged; it would be root on the node")

	cmd := exec.Command(gator, "test", "--filename", manifests, "--output", "json")
	out, err = cmd.Output()
	var results []struct {
		Msg        string `json:"msg"`
		Constraint struct {
			Kind string `json:"kind"`
		} `json:"constraint"`
		ViolatingObject struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name, Namespace string
			} `json:"metadata"`
		} `json:"violatingObject"`
	}
	if len(strings.TrimSpace(string(out))) > 0 {
		require.NoError(t, json.Unmarshal(out, &results), "gator printed: %s", out)
	}
	for _, r := range results {
		o := r.ViolatingObject
		violations = append(violations, fmt.Sprintf("%s: %s %s/%s: %s", r.Constraint.Kind, o.Kind, o.Metadata.Namespace, o.Metadata.Name, r.Msg))
	}
	if err != nil && len(violations) == 0 {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		t.Fatalf("gator failed: %v\n%s", err, exit.Stderr)
	}
	return violations, reviewed
}
