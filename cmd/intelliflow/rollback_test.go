package main

// ci-cd/jenkins/deploy.sh for real: a release whose smoke tests fail rolls
// the stack back to what its last successful up ran.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/stacks"
)

// releaseDigests are a release's digest of every image, made from its name.
func releaseDigests(release string) map[string]string {
	out := map[string]string{}
	for _, image := range stacks.Images() {
		out[image] = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(release+"/"+image)))
	}
	return out
}

// TestDeployRollsBack runs deploy.sh on the local stack in a real control
// plane: release A deploys and passes its smoke test; release B deploys,
// its smoke test fails, and deploy.sh fails the build with every
// Deployment back on A's digests, read from the stack's outputs (the
// checked-out config holds B's by then).
func TestDeployRollsBack(t *testing.T) {
	// A fourth general node and a third GPU node: every Deployment rolls
	// out one surge pod at a time (maxUnavailable 0), so transactions' 3
	// pods on distinct hosts need a host none of them is on, and fraud's 2
	// pods, a GPU each, a third GPU (in AWS the autoscaler adds the node).
	c, client := startCluster(t, 4, 3)
	root, getenv := engineRoot(t)
	clusterStack(t, root, c.Kubeconfig, nil)
	repo := repoDir(t)
	driver := filepath.Join(root, "intelliflow")
	build := exec.Command("go", "build", "-o", driver, "./cmd/intelliflow")
	build.Dir = repo
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	deploy := func(digests map[string]string, smoke string) (string, error) {
		// One file per image, as cmd/imagebuild writes them.
		dir := t.TempDir()
		for image, d := range digests {
			require.NoError(t, os.WriteFile(filepath.Join(dir, image), []byte(d+"\n"), 0o644))
		}
		cmd := exec.Command(filepath.Join(repo, "ci-cd", "jenkins", "deploy.sh"), "dev", dir)
		cmd.Dir = root
		cmd.Env = []string{"PATH=" + getenv("PATH"), "HOME=" + getenv("HOME"), "PULUMI_HOME=" + getenv("PULUMI_HOME"),
			"PULUMI_BACKEND_URL=" + getenv("PULUMI_BACKEND_URL"), "PULUMI_CONFIG_PASSPHRASE=" + stacks.DevPassphrase,
			"PULUMI_SKIP_UPDATE_CHECK=true", "INTELLIFLOW=" + driver, "SMOKE=" + smoke}
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	images := func() map[string]string {
		deps, err := client.AppsV1().Deployments("intelliflow-dev").List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		out := map[string]string{}
		for _, d := range deps.Items {
			out[d.Name] = d.Spec.Template.Spec.Containers[0].Image
		}
		return out
	}

	a, b := releaseDigests("A"), releaseDigests("B")
	log, err := deploy(a, "true")
	require.NoError(t, err, log)
	for _, svc := range catalog.Names() {
		require.True(t, strings.HasSuffix(images()[svc], "@"+a[svc]), "release A: %s runs %s", svc, images()[svc])
	}

	log, err = deploy(b, "false")
	require.Error(t, err, "a failed smoke test fails the build")
	require.Contains(t, log, "rolling back to the digests its last successful up ran")
	now := images()
	for _, svc := range catalog.Names() {
		require.True(t, strings.HasSuffix(now[svc], "@"+a[svc]), "after the rollback %s runs %s, not A's", svc, now[svc])
		require.NotContains(t, now[svc], b[svc])
	}
	t.Logf("release B failed its smoke test; all %d Deployments back on release A's digests", len(catalog.Names()))
}
