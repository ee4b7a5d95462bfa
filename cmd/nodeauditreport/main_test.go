package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

var now = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

func job(name string, finished time.Duration, succeeded bool, owned bool) batchv1.Job {
	j := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "falco", Labels: map[string]string{"app.kubernetes.io/name": "kube-bench"}}}
	if owned {
		j.OwnerReferences = []metav1.OwnerReference{{Kind: "CronJob", Name: "kube-bench", APIVersion: "batch/v1"}}
	}
	t := metav1.NewTime(now.Add(-finished))
	if succeeded {
		j.Status.Succeeded, j.Status.CompletionTime = 1, &t
	} else {
		j.Status.Failed = 2
	}
	return j
}

// apiServer answers the three reads the command makes, as the API server
// does, from jobs, the pods of each job, and each pod's log.
func apiServer(t *testing.T, jobs []batchv1.Job, log []byte) kubernetes.Interface {
	t.Helper()
	mux := http.NewServeMux()
	write := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		require.NoError(t, json.NewEncoder(w).Encode(v))
	}
	mux.HandleFunc("GET /apis/batch/v1/namespaces/falco/jobs", func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "app.kubernetes.io/name=kube-bench", r.URL.Query().Get("labelSelector"))
		write(w, batchv1.JobList{TypeMeta: metav1.TypeMeta{Kind: "JobList", APIVersion: "batch/v1"}, Items: jobs})
	})
	mux.HandleFunc("GET /api/v1/namespaces/falco/pods", func(w http.ResponseWriter, r *http.Request) {
		job := r.URL.Query().Get("labelSelector")[len("job-name="):]
		write(w, corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: []corev1.Pod{
			{ObjectMeta: metav1.ObjectMeta{Name: job + "-first"}, Status: corev1.PodStatus{Phase: corev1.PodFailed}},
			{ObjectMeta: metav1.ObjectMeta{Name: job + "-retry"}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
		}})
	})
	mux.HandleFunc("GET /api/v1/namespaces/falco/pods/{pod}/log", func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "kube-bench", r.URL.Query().Get("container"))
		w.Header().Set("X-Pod", r.PathValue("pod"))
		_, _ = w.Write(log)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	return c
}

// The newest run of the CronJob that succeeded is the one reported:
// not a newer failed run, not a Job someone started by hand, not an older
// night; its pod that succeeded, not the failed attempt before it.
func TestReportsTheNewestSuccessfulRun(t *testing.T) {
	report, err := os.ReadFile("../../ci-cd/securitygate/testdata/kube-bench.json")
	require.NoError(t, err)
	jobs := []batchv1.Job{
		job("kube-bench-29412", 28*time.Hour, true, true),
		job("kube-bench-29413", 4*time.Hour, true, true),
		job("kube-bench-29414", 0, false, true),
		job("kube-bench-manual", time.Hour, true, false),
	}
	client := apiServer(t, jobs, report)
	pod, err := newestRun(context.Background(), client, "falco", now, 36*time.Hour)
	require.NoError(t, err)
	require.Equal(t, "kube-bench-29413-retry", pod)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), nil, client, now, &out))
	require.Equal(t, string(report), out.String())
}

// Anything but a fresh, readable report is an error the gate sees as a
// missing report.
func TestNoFreshReportIsAnError(t *testing.T) {
	report, err := os.ReadFile("../../ci-cd/securitygate/testdata/kube-bench.json")
	require.NoError(t, err)
	ctx := context.Background()
	stale := apiServer(t, []batchv1.Job{job("kube-bench-29412", 40*time.Hour, true, true)}, report)
	require.ErrorContains(t, run(ctx, nil, stale, now, &bytes.Buffer{}), "finished 40h0m0s ago: older than 36h0m0s")
	require.NoError(t, run(ctx, []string{"--max-age", "48h"}, stale, now, &bytes.Buffer{}))

	failed := apiServer(t, []batchv1.Job{job("kube-bench-29414", 0, false, true)}, report)
	require.ErrorContains(t, run(ctx, nil, failed, now, &bytes.Buffer{}), "no run of the kube-bench CronJob in falco has succeeded (of 1 jobs)")

	garbled := apiServer(t, []batchv1.Job{job("kube-bench-29413", time.Hour, true, true)}, []byte("Error: unknown benchmark eks-1.5.0\n"))
	require.ErrorContains(t, run(ctx, nil, garbled, now, &bytes.Buffer{}), "the report of falco/kube-bench-29413-retry")

	require.ErrorContains(t, run(ctx, []string{"--max-age", "-1h"}, stale, now, &bytes.Buffer{}), "want a positive duration")
	require.ErrorContains(t, run(ctx, []string{"extra"}, stale, now, &bytes.Buffer{}), `unexpected arguments ["extra"]`)
}
