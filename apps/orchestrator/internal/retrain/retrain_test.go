package retrain

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/intelliflow/platform/components/gatekeeper"
	"github.com/intelliflow/platform/components/gatekeeper/gatekeepertest"
	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
	"github.com/intelliflow/platform/policy/rules"
	"github.com/intelliflow/platform/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

func spec() Spec {
	return Spec{Namespace: "intelliflow-prod", Image: "registry.intelliflow.internal/intelliflow/fraud-training@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Data: "s3://intelliflow-prod-models/training/transactions/", MLflowURL: "https://mlflow.intelliflow.internal", Model: "fraud",
		ServiceAccount: "orchestrator", GPUNodeGroup: stacks.GPUNodeGroupName, CPU: "4", Memory: "16Gi", Deadline: 6 * time.Hour}
}

func TestSpecRefusesWhatCannotRun(t *testing.T) {
	s := spec()
	require.NoError(t, s.Validate())
	s.Image, s.Data, s.CPU, s.Deadline = "fraud-training:latest", "/data", "four", 0
	err := s.Validate()
	for _, want := range []string{"TRAINING_IMAGE", "TRAINING_DATA", "TRAINING_CPU", "deadline"} {
		require.ErrorContains(t, err, want)
	}
}

// TestJobIsAdmittedByThePolicyPack: the Job the orchestrator creates
// passes every rule the prod stack's pack enforces on a Job (pod
// security restricted, digest-pinned image from the allowed registry,
// resources, no token), and asks for what training needs: one GPU on the
// GPU node group, its taint tolerated.
func TestJobIsAdmittedByThePolicyPack(t *testing.T) {
	job := spec().Job("accuracy", time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC))
	require.Equal(t, "fraud-training-20261202-080000", job.Name)
	pod := job.Spec.Template.Spec
	require.Equal(t, "1", pod.Containers[0].Resources.Limits.Name(GPUResource, "").String())
	require.Equal(t, []corev1.Toleration{{Key: GPUResource, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, pod.Tolerations)
	require.Equal(t, []string{"gpu"}, pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values)
	require.False(t, *pod.AutomountServiceAccountToken)
	require.Equal(t, []string{"--data", "s3://intelliflow-prod-models/training/transactions/", "--register", "fraud"}, pod.Containers[0].Args)

	// Prod's settings: digests required, the stacks' registry, the
	// pinned Pod Security Standards.
	settings := rules.Settings{PodSecurityVersion: stacks.DefaultPodSecurityVersion, ImageRegistries: []string{"registry.intelliflow.internal"},
		RequireImageDigests: true, Production: true}
	var props map[string]any
	b, _ := json.Marshal(job)
	require.NoError(t, json.Unmarshal(b, &props))
	r := policyx.AnalyzerResource{Type: "kubernetes:batch/v1:Job", Name: job.Name, Properties: resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(props))}
	all := rules.All(settings)
	examined := 0
	for _, rule := range all {
		if rule.Examines(r.Type) {
			examined++
		}
	}
	require.Greater(t, examined, 10, "the pack has rules for Jobs")
	require.Empty(t, rules.Check(all, r))

	// Gatekeeper admits it too: every constraint template that matches a
	// Job, evaluated with OPA as Gatekeeper does.
	gated := 0
	for _, tmpl := range gatekeeper.Templates {
		if !tmpl.Matches("Job") {
			continue
		}
		gated++
		msgs, err := gatekeepertest.Evaluate(tmpl, props, tmpl.Parameters(settings.ImageRegistries))
		require.NoError(t, err, tmpl.Kind)
		require.Empty(t, msgs, tmpl.Kind)
	}
	require.Greater(t, gated, 5, "Gatekeeper's templates apply to Jobs")

	// The same Job with a privileged container is refused by both: the
	// checks bite.
	bad := spec().Job("accuracy", time.Now())
	bad.Spec.Template.Spec.Containers[0].SecurityContext.Privileged = ptr(true)
	b, _ = json.Marshal(bad)
	props = nil
	require.NoError(t, json.Unmarshal(b, &props))
	require.NotEmpty(t, rules.Check(all, policyx.AnalyzerResource{Type: "kubernetes:batch/v1:Job", Name: bad.Name, Properties: resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(props))}))
	refused := 0
	for _, tmpl := range gatekeeper.Templates {
		if tmpl.Matches("Job") {
			msgs, err := gatekeepertest.Evaluate(tmpl, props, tmpl.Parameters(settings.ImageRegistries))
			require.NoError(t, err)
			refused += len(msgs)
		}
	}
	require.Positive(t, refused, "Gatekeeper refuses a privileged training Job")
}

// TestOneTrainingAtATime: against a real API server, a launch creates the
// Job; a second while it runs, and a third within the cooldown after it
// finished, are refused.
func TestOneTrainingAtATime(t *testing.T) {
	_, _, client := devclustertest.Start(t, 1, 1)
	ctx := context.Background()
	s := spec()
	s.Namespace = "intelliflow-dev"
	devclustertest.Token(t, client, s.Namespace, s.ServiceAccount) // makes the namespace and account
	_, err := client.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "intelliflow-standard"}, Value: 1000}, metav1.CreateOptions{})
	require.NoError(t, err)
	l := &Launcher{Client: client, Spec: s, Cooldown: 24 * time.Hour}
	now := time.Now()
	job, err := l.Launch(ctx, "drift", now)
	require.NoError(t, err)
	require.Equal(t, "drift", job.Labels[ReasonLabel])
	_, err = l.Launch(ctx, "schedule", now.Add(time.Minute))
	require.True(t, errors.Is(err, ErrBusy), "%v", err)
	require.ErrorContains(t, err, "still running")

	// The simulated GPU node runs the pod to completion (kwok), so the
	// scheduler placed it: GPU, taint and node group fit.
	require.Eventually(t, func() bool {
		j, err := client.BatchV1().Jobs(s.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		return err == nil && j.Status.CompletionTime != nil
	}, 90*time.Second, 500*time.Millisecond, "the training Job never completed")
	_, err = l.Launch(ctx, "schedule", now.Add(2*time.Hour))
	require.ErrorContains(t, err, "cooldown")
	_, err = l.Launch(ctx, "schedule", now.Add(25*time.Hour))
	require.NoError(t, err)
}

func TestPolicy(t *testing.T) {
	p := Policy{MinRecall: 0.5, MinLabelled: 200, MaxPSI: 0.25, Every: 7 * 24 * time.Hour}
	nan := math.NaN()
	for _, c := range []struct {
		recall   float64
		labelled int
		psi      float64
		since    time.Duration
		want     string
	}{
		{0.4, 250, 0.1, time.Hour, "accuracy"},
		{0.4, 150, 0.1, time.Hour, ""}, // too few labels to judge
		{nan, 0, nan, time.Hour, ""},
		{0.8, 250, 0.3, time.Hour, "drift"},
		{0.8, 250, 0.1, 8 * 24 * time.Hour, "schedule"},
	} {
		require.Equal(t, c.want, p.Reason(c.recall, c.labelled, c.psi, c.since), "%+v", c)
	}
	require.Empty(t, Policy{MinLabelled: 1, MaxPSI: 1}.Reason(0.9, 5, 0, 1000*time.Hour), "no schedule")
}
