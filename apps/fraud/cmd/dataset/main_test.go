package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
)

func TestWritesTimeSplitSets(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	err := run(context.Background(), []string{"--out", dir, "--customers", "300", "--terminals", "600", "--days", "40", "--test-days", "10", "--gap-days", "5"}, &out)
	require.NoError(t, err)
	require.Contains(t, out.String(), "train: ")
	for _, name := range []string{"train.csv", "test.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		require.Equal(t, "day,label,"+strings.Join(features.Names, ","), lines[0])
		require.Greater(t, len(lines), 100)
		for _, l := range lines[1:] {
			require.Len(t, strings.Split(l, ","), 2+features.Count)
			day := l[:strings.Index(l, ",")]
			if name == "train.csv" {
				require.Less(t, len(day), 3)
			}
		}
	}
	// The gap days (25..29) are in neither file.
	test, _ := os.ReadFile(filepath.Join(dir, "test.csv"))
	train, _ := os.ReadFile(filepath.Join(dir, "train.csv"))
	require.NotContains(t, string(train), "\n25,")
	require.NotContains(t, string(test), "\n29,")
	require.Contains(t, string(test), "\n30,")
}

func TestBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "--out is required"},
		{[]string{"--out", t.TempDir(), "--days", "10", "--test-days", "10"}, "leave no training days"},
		{[]string{"--out", t.TempDir(), "--customers", "0"}, "customers: 0"},
		{[]string{"--nope"}, "flag provided but not defined"},
	} {
		err := run(context.Background(), tt.args, &bytes.Buffer{})
		require.ErrorContains(t, err, tt.want)
	}
}
