package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/loadgen"
)

func TestGoodputCountsOnlyExpectedAnswers(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]bool{}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		keys[r.Header.Get("Idempotency-Key")] = true
		require.Equal(t, "Bearer t", r.Header.Get("Authorization"))
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
		n++
		switch n % 4 {
		case 0:
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"status":"approved"}`))
		case 1:
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"status":"held"}`))
		case 2:
			w.WriteHeader(http.StatusConflict)
		case 3:
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"status":"approved"}`))
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-url", srv.URL, "-method", "POST", "-body", `{}`, "-header", "Authorization: Bearer t",
		"-unique-header", "Idempotency-Key", "-status", "201", "-expect", `"approved"`, "-rate", "100", "-duration", "1s"}, &out))
	var rep loadgen.Report
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep))
	require.Equal(t, 100, rep.Sent)
	require.Equal(t, 50, rep.Good)
	require.Equal(t, 25, rep.Failures["status 409"].Count)
	require.Equal(t, 25, rep.Failures["unexpected answer"].Count)
	require.Len(t, keys, 100, "a key of its own per request")
	require.ErrorContains(t, run(context.Background(), []string{"-url", "localhost:80"}, &out), "an http(s) URL is required")
	require.ErrorContains(t, run(context.Background(), []string{"-url", "http://x", "-header", "nocolon"}, &out), "is not Name: value")
}
