package devcluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/fraud/modelversion"
	"github.com/intelliflow/platform/ci-cd/images"
	"github.com/intelliflow/platform/internal/devcluster"
	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
	"github.com/intelliflow/platform/internal/filedigest"
	"github.com/intelliflow/platform/internal/freeport"
)

// TestFraudImageOnTheRealNode runs the platform's own images as a real pod:
// the fraud server and its model-fetch init container, built by the image
// build (images.Build, as the pipeline builds them) and imported into the
// real node. The stores are on the host, reached through the bridge: an
// S3-compatible bucket holding the committed model, from which the init
// container fetches the version and verifies its SHA-256 and reference
// predictions, and Redis with the card histories. The pod runs under
// restricted Pod Security, becomes Ready by its own readiness probe, and
// scores a payment with the card's history (not degraded).
func TestFraudImageOnTheRealNode(t *testing.T) {
	c, _, client := devclustertest.Start(t, 1, 0, devclustertest.RealNode)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The images, as the pipeline builds them.
	began := time.Now()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	refs := map[string]string{catalog.Fraud: "intelliflow.local/fraud:test", "model-fetch": "intelliflow.local/model-fetch:test"}
	devclustertest.LoadImages(ctx, t, c, root, func(name string) string { return refs[name] })
	t.Logf("fraud and model-fetch images built and imported in %s", time.Since(began).Round(100*time.Millisecond))

	// The stores, on the host's address on the bridge.
	ports, err := freeport.Pick(2)
	require.NoError(t, err)
	redisAddr := net.JoinHostPort(devcluster.Gateway, strconv.Itoa(ports[0]))
	redis := exec.Command("redis-server", "--bind", devcluster.Gateway, "--port", strconv.Itoa(ports[0]), "--save", "", "--appendonly", "no", "--protected-mode", "no")
	require.NoError(t, redis.Start())
	t.Cleanup(func() { _ = redis.Process.Kill(); _ = redis.Wait() })
	bucket := "intelliflow-real-node-models"
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(bucket))
	version := "2026-11-27"
	for _, f := range []string{modelversion.ModelFile, modelversion.ReferenceFile, modelversion.MetricsFile} {
		b, err := os.ReadFile(filepath.Join(root, "apps", "fraud", "model", f))
		require.NoError(t, err)
		_, err = backend.PutObject(bucket, "fraud/"+version+"/"+f, map[string]string{}, bytes.NewReader(b), int64(len(b)), nil)
		require.NoError(t, err)
	}
	sum, err := filedigest.SHA256(filepath.Join(root, "apps", "fraud", "model", modelversion.ModelFile))
	require.NoError(t, err)
	s3, err := net.Listen("tcp", net.JoinHostPort(devcluster.Gateway, strconv.Itoa(ports[1])))
	require.NoError(t, err)
	s3srv := &http.Server{Handler: gofakes3.New(backend).Server(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s3srv.Serve(s3) }()
	t.Cleanup(func() { _ = s3srv.Close() })

	restrictedNamespace(ctx, t, client, "fraud")
	restricted := &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	models := corev1.VolumeMount{Name: "models", MountPath: "/models"}
	s3Env := []corev1.EnvVar{{Name: "AWS_ACCESS_KEY_ID", Value: "local"}, {Name: "AWS_SECRET_ACCESS_KEY", Value: "dev-only"}, {Name: "AWS_REGION", Value: "us-east-1"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "fraud", Namespace: "fraud", Labels: map[string]string{"app": "fraud"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](images.UID), RunAsGroup: ptr.To[int64](images.GID),
				FSGroup: ptr.To[int64](images.GID), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Volumes: []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("256Mi"))}}}},
			InitContainers: []corev1.Container{{
				Name: "model-fetch", Image: refs["model-fetch"], ImagePullPolicy: corev1.PullNever, SecurityContext: restricted,
				Args: []string{"--source", "s3://" + bucket + "/fraud/" + version + "/" + modelversion.ModelFile, "--sha256", sum, "--out", "/models",
					"--endpoint", "http://" + s3.Addr().String()},
				Env: s3Env, VolumeMounts: []corev1.VolumeMount{models},
			}},
			Containers: []corev1.Container{{
				Name: "fraud", Image: refs[catalog.Fraud], ImagePullPolicy: corev1.PullNever, SecurityContext: restricted,
				Env: []corev1.EnvVar{{Name: "MODEL_DIR", Value: "/models"}, {Name: "REDIS_ADDR", Value: redisAddr}, {Name: "HTTP_PORT", Value: "8080"},
					{Name: "METRICS_PORT", Value: "9090"}, {Name: "LOG_LEVEL", Value: "info"},
					// As the local platform runs it: a first connection on a
					// busy machine can take longer than production's 5 ms.
					{Name: "FEATURE_TIMEOUT", Value: "50ms"}},
				VolumeMounts: []corev1.VolumeMount{models},
				Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: catalog.ReadinessPath, Port: intstr.FromString("http")}}},
				LivenessProbe: &corev1.Probe{PeriodSeconds: 5, ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: catalog.LivenessPath, Port: intstr.FromString("http")}}},
			}},
		},
	}
	devcluster.OnRealNode(&pod.Spec)
	_, err = client.CoreV1().Pods("fraud").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	began = time.Now()
	ready := waitReady(ctx, t, client, "fraud", "fraud")
	fetch := ready.Status.InitContainerStatuses[0].State.Terminated
	require.NotNil(t, fetch)
	require.Equal(t, int32(0), fetch.ExitCode)
	log, err := client.CoreV1().Pods("fraud").GetLogs("fraud", &corev1.PodLogOptions{Container: "model-fetch"}).DoRaw(ctx)
	require.NoError(t, err)
	require.Contains(t, string(log), "model version in place")
	require.Contains(t, string(log), sum)
	require.NotContains(t, string(log), "SDK ", "only the command's own structured lines")
	t.Logf("fraud pod Ready in %s on %s (%s); model-fetch exited 0: %s", time.Since(began).Round(100*time.Millisecond), ready.Spec.NodeName, ready.Status.PodIP, bytes.TrimSpace(log))

	// A payment scored with the card's history from Redis on the host.
	url := fmt.Sprintf("http://%s/v1/score", net.JoinHostPort(ready.Status.PodIP, "8080"))
	body := `{"transaction_id":"t-1","card_id":"card-1","amount":42.5,"currency":"EUR","merchant_id":"m-1"}`
	var answer struct {
		Score    float64 `json:"score"`
		Decision string  `json:"decision"`
		Degraded bool    `json:"degraded"`
		Model    struct {
			Version string `json:"version"`
		} `json:"model"`
	}
	// A degraded answer is a correct one (Redis late for the deadline);
	// one with the history shows the path through the bridge.
	for try := 0; try < 5; try++ {
		resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(body)))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
		resp.Body.Close()
		if !answer.Degraded {
			break
		}
	}
	require.False(t, answer.Degraded, "the card's history came from Redis through the bridge")
	require.Equal(t, version, answer.Model.Version)
	t.Logf("POST %s: score %.4f, %s, model %s, not degraded", url, answer.Score, answer.Decision, answer.Model.Version)
}
