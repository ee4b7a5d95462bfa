package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/s3test"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// bucket serves an S3-protocol bucket in-process.
func bucket(t *testing.T) (endpoint string, put func(key string, data []byte)) {
	t.Helper()
	b := s3test.Start(t, "models")
	return b.Endpoint, func(key string, data []byte) { b.Put(t, key, data) }
}

func committed(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", "model", name))
	require.NoError(t, err)
	return b
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func TestFetchesVerifiesAndPlacesAVersion(t *testing.T) {
	endpoint, put := bucket(t)
	model, ref := committed(t, "model.json"), committed(t, "reference.json")
	put("fraud/2026-11-27/model.json", model)
	put("fraud/2026-11-27/reference.json", ref)
	out := t.TempDir()
	args := []string{"--source", "s3://models/fraud/2026-11-27/model.json", "--sha256", sum(model), "--out", out, "--endpoint", endpoint}
	require.NoError(t, run(context.Background(), args, quiet))
	got, err := os.ReadFile(filepath.Join(out, "2026-11-27", "model.json"))
	require.NoError(t, err)
	require.Equal(t, model, got)
	entries, _ := os.ReadDir(out)
	require.Len(t, entries, 1, "no temporary folder left behind")

	require.NoError(t, run(context.Background(), args, quiet), "an existing, matching version is kept")
}

func TestRefusesWhatIsWrong(t *testing.T) {
	endpoint, put := bucket(t)
	model, ref := committed(t, "model.json"), committed(t, "reference.json")
	put("good/v1/model.json", model)
	put("good/v1/reference.json", ref)
	corrupt := model[:len(model)/2]
	put("corrupt/v1/model.json", corrupt)
	put("corrupt/v1/reference.json", ref)
	put("noref/v1/model.json", model)

	for _, tt := range []struct {
		name   string
		source string
		sha    string
		extra  []string
		want   string
	}{
		{"checksum mismatch", "s3://models/good/v1/model.json", sum(corrupt), nil, "checksum mismatch"},
		{"corrupt model with a matching checksum", "s3://models/corrupt/v1/model.json", sum(corrupt), nil, "does not validate"},
		{"missing reference", "s3://models/noref/v1/model.json", sum(model), nil, "reference.json"},
		{"missing object", "s3://models/none/v1/model.json", sum(model), nil, "s3://models/none/v1/model.json"},
		{"too big", "s3://models/good/v1/model.json", sum(model), []string{"--max-bytes", "1000"}, "larger than the limit of 1000 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"--source", tt.source, "--sha256", tt.sha, "--out", out, "--endpoint", endpoint}, tt.extra...)
			err := run(context.Background(), args, quiet)
			require.ErrorContains(t, err, tt.want)
			entries, _ := os.ReadDir(out)
			require.Empty(t, entries, "nothing is left for the server to find")
		})
	}
}

func TestBadFlags(t *testing.T) {
	_, err := parseArgs([]string{"--source", "https://x/model.json", "--sha256", "abc"})
	require.ErrorContains(t, err, "is not s3://<bucket>/<folder>")
	require.ErrorContains(t, err, "--sha256")
	require.ErrorContains(t, err, "--out is required")
	_, err = parseArgs([]string{"--source", "s3://b/model.bin", "--sha256", sum(nil), "--out", "x"})
	require.ErrorContains(t, err, "must name a version folder's model.json")
}
