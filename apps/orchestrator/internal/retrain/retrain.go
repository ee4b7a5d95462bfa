// Package retrain launches the fraud model's training as a Kubernetes Job
// on the GPU node group (client-go, with the RBAC component's ML role):
// one GPU, the GPU nodes' taint tolerated and their node group required,
// no privileges (non-root, read-only root filesystem, no capabilities,
// RuntimeDefault seccomp, no API token), a digest-pinned training image,
// and the data location and registry from config. The Job trains on the
// data, and registers the model in MLflow; promotion is the orchestrator's
// usual path once someone points the alias at it. At most one training
// runs at a time, and not twice within the cooldown.
package retrain

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Labels on every training Job and its pod.
const (
	AppLabel    = "app.kubernetes.io/name"
	AppName     = "fraud-training"
	ReasonLabel = "intelliflow.io/retrain-reason"
	// NodeGroupLabel and GPUResource are the node group component's and
	// the NVIDIA device plugin's (components/microservice uses the same).
	NodeGroupLabel = "intelliflow.io/node-group"
	GPUResource    = "nvidia.com/gpu"
)

// Spec is what a training Job runs.
type Spec struct {
	Namespace string
	// Image must be pinned by digest (repository@sha256:...).
	Image string
	// Data is where the training data is (s3://...); MLflowURL where the
	// model is registered as Model.
	Data, MLflowURL, Model string
	// ServiceAccount runs the pod (its IRSA role reads the data).
	ServiceAccount string
	// GPUNodeGroup is the node group GPU pods require.
	GPUNodeGroup string
	CPU, Memory  string
	// Deadline bounds a run.
	Deadline time.Duration
}

var digestRE = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+@sha256:[a-f0-9]{64}$`)

// Validate lists what is wrong with s.
func (s Spec) Validate() error {
	var errs []error
	if !digestRE.MatchString(s.Image) {
		errs = append(errs, fmt.Errorf("TRAINING_IMAGE %q is not registry/repository@sha256:<64 hex>", s.Image))
	}
	if !strings.HasPrefix(s.Data, "s3://") {
		errs = append(errs, fmt.Errorf("TRAINING_DATA %q is not an s3:// location", s.Data))
	}
	for name, q := range map[string]string{"TRAINING_CPU": s.CPU, "TRAINING_MEMORY": s.Memory} {
		if _, err := resource.ParseQuantity(q); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %v", name, q, err))
		}
	}
	if s.ServiceAccount == "" || s.GPUNodeGroup == "" || s.Deadline <= 0 {
		errs = append(errs, errors.New("a service account, the GPU node group and a deadline are required"))
	}
	return errors.Join(errs...)
}

func ptr[T any](v T) *T { return &v }

// Job is the training Job for reason ("schedule", "accuracy", "drift").
func (s Spec) Job(reason string, now time.Time) *batchv1.Job {
	labels := map[string]string{AppLabel: AppName, "app.kubernetes.io/part-of": "intelliflow", ReasonLabel: reason}
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(s.CPU), corev1.ResourceMemory: resource.MustParse(s.Memory),
		GPUResource: resource.MustParse("1"), corev1.ResourceEphemeralStorage: resource.MustParse("20Gi")}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s", AppName, now.UTC().Format("20060102-150405")), Namespace: s.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr(int32(1)),
			ActiveDeadlineSeconds:   ptr(int64(s.Deadline.Seconds())),
			TTLSecondsAfterFinished: ptr(int32(7 * 24 * 3600)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					ServiceAccountName:            s.ServiceAccount,
					AutomountServiceAccountToken:  ptr(false),
					PriorityClassName:             "intelliflow-standard",
					TerminationGracePeriodSeconds: ptr(int64(60)),
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(10001)), RunAsGroup: ptr(int64(10001)),
						FSGroup: ptr(int64(10001)), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Tolerations: []corev1.Toleration{{Key: GPUResource, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
						NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
							{Key: NodeGroupLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{s.GPUNodeGroup}},
						}}},
					}}},
					Containers: []corev1.Container{{
						Name:            "train",
						Image:           s.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            []string{"--data", s.Data, "--register", s.Model},
						Env: []corev1.EnvVar{{Name: "MLFLOW_TRACKING_URI", Value: s.MLflowURL}, {Name: "TRAINING_REASON", Value: reason},
							{Name: "HOME", Value: "/tmp"}},
						Resources: corev1.ResourceRequirements{Requests: limits, Limits: limits},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), Privileged: ptr(false), ReadOnlyRootFilesystem: ptr(true),
							RunAsNonRoot: ptr(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
						VolumeMounts:             []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
					Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(resource.MustParse("20Gi"))}}}},
				},
			},
		},
	}
}

// Launcher starts training Jobs.
type Launcher struct {
	Client   kubernetes.Interface
	Spec     Spec
	Cooldown time.Duration
	mu       sync.Mutex
	last     time.Time
}

// SinceLast is how long ago this launcher last started a training (a
// long time when it has not: the first schedule is due at start).
func (l *Launcher) SinceLast(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() {
		return time.Duration(1<<62 - 1)
	}
	return now.Sub(l.last)
}

// Metrics count launches.
type Metrics struct{ launches *prometheus.CounterVec }

// NewMetrics registers orchestrator_retrainings_total.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{launches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orchestrator_retrainings_total",
		Help: "Training Jobs due, by reason and outcome (launched, busy: one runs or the cooldown holds, failed)."}, []string{"reason", "outcome"})}
	reg.MustRegister(m.launches)
	for _, r := range []string{"accuracy", "drift", "schedule"} {
		m.launches.WithLabelValues(r, "launched")
	}
	return m
}

// Observe counts a launch's outcome.
func (m *Metrics) Observe(reason string, err error) {
	outcome := "launched"
	switch {
	case errors.Is(err, ErrBusy):
		outcome = "busy"
	case err != nil:
		outcome = "failed"
	}
	m.launches.WithLabelValues(reason, outcome).Inc()
}

// ErrBusy is a launch refused: a training runs, or one started within the
// cooldown.
var ErrBusy = errors.New("not launched")

// Launch starts a training Job for reason unless one is running or the
// last started within the cooldown.
func (l *Launcher) Launch(ctx context.Context, reason string, now time.Time) (*batchv1.Job, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	jobs, err := l.Client.BatchV1().Jobs(l.Spec.Namespace).List(ctx, metav1.ListOptions{LabelSelector: AppLabel + "=" + AppName})
	if err != nil {
		return nil, fmt.Errorf("list training Jobs: %w", err)
	}
	for _, j := range jobs.Items {
		if j.Status.CompletionTime == nil && !failed(j) {
			return nil, fmt.Errorf("%w: %s is still running", ErrBusy, j.Name)
		}
		if started := j.CreationTimestamp.Time; started.After(l.last) {
			l.last = started
		}
	}
	if !l.last.IsZero() && now.Sub(l.last) < l.Cooldown {
		return nil, fmt.Errorf("%w: the last training started %s ago, the cooldown is %s", ErrBusy, now.Sub(l.last).Round(time.Second), l.Cooldown)
	}
	job, err := l.Client.BatchV1().Jobs(l.Spec.Namespace).Create(ctx, l.Spec.Job(reason, now), metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create training Job: %w", err)
	}
	l.last = now
	return job, nil
}

func failed(j batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// Policy says when to retrain: live recall under MinRecall over at least
// MinLabelled decisions, drift past MaxPSI, or Every since the last
// training (0: no schedule).
type Policy struct {
	MinRecall   float64
	MinLabelled int
	MaxPSI      float64
	Every       time.Duration
}

// Reason is why a training is due given the window's recall, labelled
// decisions and drift, "" when none is. NaN figures (not enough data)
// trigger nothing.
func (p Policy) Reason(recall float64, labelled int, psi float64, sinceLast time.Duration) string {
	switch {
	case labelled >= p.MinLabelled && recall < p.MinRecall:
		return "accuracy"
	case psi > p.MaxPSI:
		return "drift"
	case p.Every > 0 && sinceLast >= p.Every:
		return "schedule"
	}
	return ""
}
