package main

// The realnode stack on the local cluster's real node: the platform's own
// images running as pods of a kubelet on this machine, their stores on the
// host at the bridge's gateway, as Pulumi.realnode.yaml and a user's
// `intelliflow stores` run them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/infra"
	"github.com/intelliflow/platform/internal/devcluster"
	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
	"github.com/intelliflow/platform/internal/rollout"
)

// TestRealNodeStack builds the services' images as the pipeline does and
// loads them into the real node, starts the realnode stack's stores
// (`intelliflow stores`), and deploys the stack with the policy pack on.
// Then: every Deployment runs its minimum on real-0, each pod Ready by its
// own probes (the fraud pods after their init container fetched and
// verified the model over HTTPS); inside every service's container the
// restricted security context holds; a customer registers, logs in and
// gets a fraud score through the gateway's Service (gateway -> users ->
// PostgreSQL over TLS, gateway -> fraud -> Redis); and the stack's
// NetworkPolicies decide both ways: a pod carrying the gateway's label
// reaches users, one that is no declared caller is refused (its own
// egress left open, so the refusal is users'). Down, at the end, leaves
// the host as it found it (devclustertest checks).
func TestRealNodeStack(t *testing.T) {
	c, _, client := devclustertest.Start(t, 1, 0, devclustertest.RealNode)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	repo := repoDir(t)
	root, getenv := engineRoot(t)
	stack := "realnode"

	// The stack file, pointed at the test's cluster; the stores' CA goes
	// beside it.
	b, err := os.ReadFile(filepath.Join(repo, "Pulumi."+stack+".yaml"))
	require.NoError(t, err)
	// The program runs inline, in this process's folder: the CA's path is
	// absolute (`make up` runs in the project root, where the stack
	// file's relative path holds).
	stackFile := strings.Replace(string(b), "intelliflow:kubeconfig: .cluster/kubeconfig", "intelliflow:kubeconfig: "+c.Kubeconfig, 1)
	stackFile = strings.Replace(stackFile, "intelliflow:trustedCAFile: .cluster/", "intelliflow:trustedCAFile: "+root+"/.cluster/", 1)
	require.Contains(t, stackFile, c.Kubeconfig)
	require.Contains(t, stackFile, root+"/.cluster/stores-ca.pem")
	require.NoError(t, os.WriteFile(filepath.Join(root, "Pulumi."+stack+".yaml"), []byte(stackFile), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".cluster"), 0o755))
	cfg, _, err := loadStack(options{root: root, stack: stack}, getenv)
	require.NoError(t, err)

	// The images, as the pipeline builds them, named as the stack does.
	began := time.Now()
	loaded := devclustertest.LoadImages(ctx, t, c, repo, cfg.Image)
	t.Logf("%d images built and loaded into the node in %s", loaded, time.Since(began).Round(100*time.Millisecond))

	// The stores, as `intelliflow stores --stack realnode` runs them.
	began = time.Now()
	stores, _, err := startStores(ctx, options{root: root, stack: stack}, repo, getenv, testWriter{t})
	require.NoError(t, err)
	t.Cleanup(stores.Stop)
	t.Logf("stores on %s in %s", devcluster.Gateway, time.Since(began).Round(100*time.Millisecond))

	began = time.Now()
	rep, err := engineOn(t, stack, infra.Run, root, getenv, "up")
	require.NoError(t, err, "%+v", rep.Diagnostics)
	require.Zero(t, rep.Policy.Mandatory, "%+v", rep.Policy.Violations)
	ns := cfg.Environment.AppNamespace()
	short, err := rollout.Check(ctx, client, []string{ns})
	require.NoError(t, err)
	require.Empty(t, short)
	t.Logf("up: %d resources created, every Deployment at its minimum on the real node, in %s", rep.Changes["create"], time.Since(began).Round(100*time.Millisecond))

	// Every pod on real-0, Ready by its probes; inside each service's
	// container, the restricted context.
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, p := range pods.Items {
		app := p.Labels["app.kubernetes.io/name"]
		require.Equal(t, devcluster.RealNodeName, p.Spec.NodeName, p.Name)
		var ready time.Time
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready = cond.LastTransitionTime.Time
			}
		}
		require.False(t, ready.IsZero(), "%s is not Ready", p.Name)
		require.NotNil(t, p.Spec.Containers[0].ReadinessProbe, p.Name)
		line := fmt.Sprintf("%s: Ready %s after creation", p.Name, ready.Sub(p.CreationTimestamp.Time))
		for _, ic := range p.Status.InitContainerStatuses {
			require.NotNil(t, ic.State.Terminated, "%s/%s", p.Name, ic.Name)
			require.Zero(t, ic.State.Terminated.ExitCode, "%s/%s", p.Name, ic.Name)
			line += fmt.Sprintf(", init %s exited 0", ic.Name)
		}
		if !seen[app] {
			seen[app] = true
			_, inside := devclustertest.RequireRestricted(t, c, p.Status.ContainerStatuses[0].ContainerID, 10001)
			line += "; " + inside
		}
		t.Log(line)
	}
	require.Len(t, seen, len(catalog.Names()))

	// Through the gateway's Service, as an ingress would send it.
	svc, err := client.CoreV1().Services(ns).Get(ctx, catalog.Gateway, metav1.GetOptions{})
	require.NoError(t, err)
	gw := "http://" + svc.Spec.ClusterIP
	call := func(path, token, body string) (int, map[string]any) { return postJSON(ctx, t, gw+path, token, body) }
	code, out := call("/auth/register", "", `{"email":"ann@realnode.example","password":"a long real-node password","name":"Ann"}`)
	require.Equal(t, http.StatusCreated, code, out)
	code, out = call("/auth/login", "", `{"email":"ann@realnode.example","password":"a long real-node password"}`)
	require.Equal(t, http.StatusOK, code, out)
	token := out["access_token"].(string)
	code, out = call("/api/v1/fraud/score", token, `{"card_id":"c-real","amount":950,"merchant_id":"m9","timestamp":"2026-12-03T12:00:00Z"}`)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, false, out["degraded"], "fraud read the card's history from Redis: %v", out)
	require.Equal(t, "2026-11-27", out["model"].(map[string]any)["version"])
	t.Logf("through the gateway's Service %s: registered, logged in, scored %v (%v)", svc.Spec.ClusterIP, out["score"], out["decision"])

	// Pods reach the API server through the kubernetes Service and the
	// stack's egress rule for it: fraud asks it whose token a reload
	// carries (TokenReview) and lets only the orchestrator's through.
	fraudSvc, err := client.CoreV1().Services(ns).Get(ctx, catalog.Fraud, metav1.GetOptions{})
	require.NoError(t, err)
	reload := func(token string) (int, map[string]any) {
		return postJSON(ctx, t, "http://"+fraudSvc.Spec.ClusterIP+"/admin/reload", token, "")
	}
	audience := infra.ReloadAudience(catalog.Fraud)
	code, out = reload(devclustertest.Token(t, client, ns, catalog.Gateway, audience))
	require.Equal(t, http.StatusForbidden, code, "another workload's token, reviewed by the API server: %v", out)
	code, out = reload(devclustertest.Token(t, client, ns, catalog.Orchestrator, audience))
	require.Equal(t, http.StatusOK, code, "the orchestrator's: %v", out)
	t.Logf("fraud reviewed tokens through the API server: the gateway's refused (403), the orchestrator's reloaded %v", out["serving"])

	networkPolicies(ctx, t, client, ns)
}

// networkPolicies: a pod with the gateway's label reaches users' readiness
// path (after the policy controller has taken in the new pod, a few
// seconds), while a pod that is no declared caller, its own egress open,
// is refused by users' ingress policy for all of 20 s.
func networkPolicies(ctx context.Context, t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	open := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "stranger-egress", Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "stranger"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
		},
	}
	_, err := client.NetworkingV1().NetworkPolicies(ns).Create(ctx, open, metav1.CreateOptions{})
	require.NoError(t, err)
	users := "http://" + catalog.Users + "." + ns + ".svc.cluster.local" + catalog.ReadinessPath
	type result struct {
		phase corev1.PodPhase
		log   string
	}
	run := func(name, app string) result {
		pod := devclustertest.NetcheckPod(ns, name, map[string]string{"app.kubernetes.io/name": app}, corev1.RestartPolicyNever, "get", users, "20s")
		phase, log := devclustertest.RunPod(ctx, t, client, pod)
		return result{phase, log}
	}
	caller, stranger := run("caller", catalog.Gateway), run("stranger", "stranger")
	require.Equal(t, corev1.PodSucceeded, caller.phase, caller.log)
	require.Contains(t, caller.log, "200 OK")
	require.Equal(t, corev1.PodFailed, stranger.phase, stranger.log)
	require.Contains(t, stranger.log, "connection refused")
	require.NotContains(t, stranger.log, "200 OK")
	t.Logf("the gateway's label reaches users (%d refusals while the controller took the pod in); a stranger with open egress is refused %d times in 20 s",
		strings.Count(caller.log, "trying again"), strings.Count(stranger.log, "trying again")+1)
}

// postJSON posts body (none when empty) with token ("" for none) and
// decodes the JSON answer.
func postJSON(ctx context.Context, t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// testWriter sends progress lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
