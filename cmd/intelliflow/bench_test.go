package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"

	"github.com/intelliflow/platform/infra"
	"github.com/intelliflow/platform/stacks"
)

// BenchmarkDevPreview measures what the policy pack adds to a dev preview:
//
//	go test ./cmd/intelliflow -run XXX -bench DevPreview -benchtime 5x
func BenchmarkDevPreview(b *testing.B) {
	root, getenv := engineRoot(b)
	ctx := context.Background()
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root})
	if err != nil {
		b.Fatal(err)
	}
	sf, err := stacks.ReadFile(filepath.Join(root, "Pulumi.dev.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	env, err := engineEnv(options{root: root, stack: "dev"}, stacks.Dev, sf, getenv)
	if err != nil {
		b.Fatal(err)
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(root), auto.Program(infra.Run), auto.Pulumi(cli), auto.EnvVars(env))
	if err != nil {
		b.Fatal(err)
	}
	st, err := auto.UpsertStack(ctx, "dev", ws)
	if err != nil {
		b.Fatal(err)
	}
	pack := filepath.Join(root, "bin", "intelliflow-policy")
	for _, bc := range []struct {
		name string
		opts []optpreview.Option
	}{
		{"without-pack", nil},
		{"with-pack", []optpreview.Option{optpreview.PolicyPacks(pack)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := st.Preview(ctx, append(bc.opts, optpreview.ProgressStreams(io.Discard))...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
