// Command nodeauditreport prints the newest report of the nodes' CIS checks
// (components/nodeaudit: kube-bench's CronJob) for the security gate:
//
//	nodeauditreport [--namespace falco] [--max-age 36h] > reports/kube-bench.json
//
// It reads, and may only read: the newest Job of the CronJob that
// succeeded, its pod, and that pod's log (kube-bench's JSON). A report
// older than --max-age, or one that does not parse, is an error: a check
// that did not run last night is no pass. It uses the pod's in-cluster
// identity, or KUBECONFIG outside a cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/intelliflow/platform/internal/flaghelp"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/intelliflow/platform/ci-cd/securitygate"
	"github.com/intelliflow/platform/components/nodeaudit"
)

func main() {
	if err := run(context.Background(), os.Args[1:], nil, time.Now(), os.Stdout); err != nil {
		flaghelp.Exit("nodeauditreport", err, 1)
	}
}

// run prints the report; client is nil outside tests (built from the
// environment).
func run(ctx context.Context, args []string, client kubernetes.Interface, now time.Time, out io.Writer) error {
	fs := flag.NewFlagSet("nodeauditreport", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	namespace := fs.String("namespace", "falco", "the node agents' namespace, where the CronJob runs")
	maxAge := fs.Duration("max-age", 36*time.Hour, "the oldest report accepted (the checks run nightly)")
	if err := flaghelp.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *maxAge <= 0 {
		return fmt.Errorf("--max-age %s: want a positive duration", *maxAge)
	}
	if client == nil {
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
		if err != nil {
			return err
		}
		if client, err = kubernetes.NewForConfig(cfg); err != nil {
			return err
		}
	}
	pod, err := newestRun(ctx, client, *namespace, now, *maxAge)
	if err != nil {
		return err
	}
	data, err := client.CoreV1().Pods(*namespace).GetLogs(pod, &corev1.PodLogOptions{Container: nodeaudit.Name}).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("log of %s/%s: %w", *namespace, pod, err)
	}
	if _, err := securitygate.ParseKubeBench(data); err != nil {
		return fmt.Errorf("the report of %s/%s: %w", *namespace, pod, err)
	}
	_, err = out.Write(data)
	return err
}

// newestRun is the pod of the newest Job of the CronJob that succeeded,
// finished within maxAge of now.
func newestRun(ctx context.Context, client kubernetes.Interface, namespace string, now time.Time, maxAge time.Duration) (string, error) {
	jobs, err := client.BatchV1().Jobs(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + nodeaudit.Name})
	if err != nil {
		return "", fmt.Errorf("jobs in %s: %w", namespace, err)
	}
	done := slices.DeleteFunc(jobs.Items, func(j batchv1.Job) bool {
		return j.Status.Succeeded == 0 || j.Status.CompletionTime == nil || !ownedByCronJob(j)
	})
	if len(done) == 0 {
		return "", fmt.Errorf("no run of the %s CronJob in %s has succeeded (of %d jobs)", nodeaudit.Name, namespace, len(jobs.Items))
	}
	newest := slices.MaxFunc(done, func(a, b batchv1.Job) int {
		return a.Status.CompletionTime.Compare(b.Status.CompletionTime.Time)
	})
	if age := now.Sub(newest.Status.CompletionTime.Time); age > maxAge {
		return "", fmt.Errorf("the newest successful run, %s, finished %s ago: older than %s", newest.Name, age.Round(time.Minute), maxAge)
	}
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + newest.Name})
	if err != nil {
		return "", fmt.Errorf("pods of %s: %w", newest.Name, err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded {
			return p.Name, nil
		}
	}
	return "", errors.New("the pod of " + newest.Name + " that succeeded is gone")
}

func ownedByCronJob(j batchv1.Job) bool {
	return slices.ContainsFunc(j.OwnerReferences, func(o metav1.OwnerReference) bool {
		return o.Kind == "CronJob" && o.Name == nodeaudit.Name
	})
}
