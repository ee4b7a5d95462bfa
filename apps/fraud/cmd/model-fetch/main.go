// Command model-fetch is the fraud pods' init container: it downloads a
// model version from the model bucket with the pod's IAM role (IRSA, through
// the AWS SDK's default credentials), verifies the model's SHA-256, checks it
// reproduces its reference predictions, and only then moves the version
// folder into place, so the server never sees a partial or unverified model.
//
//	model-fetch --source s3://bucket/fraud/2026-11-27/model.json --sha256 <hex> --out /models
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/intelliflow/platform/apps/fraud/modelversion"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(ctx, os.Args[1:], log); err != nil {
		log.Error("model fetch failed", "err", err)
		os.Exit(1)
	}
}

type options struct {
	src      modelversion.Location
	sha256   string
	out      string
	endpoint string
	maxBytes int64
	timeout  time.Duration
}

func parseArgs(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("model-fetch", flag.ContinueOnError)
	source := fs.String("source", "", "s3://<bucket>/<prefix>/<version>/model.json")
	fs.StringVar(&o.sha256, "sha256", "", "expected SHA-256 of model.json (64 hex digits)")
	fs.StringVar(&o.out, "out", "", "model folder; the version lands in <out>/<version>")
	fs.StringVar(&o.endpoint, "endpoint", "", "S3 endpoint URL (default: AWS)")
	fs.Int64Var(&o.maxBytes, "max-bytes", 512<<20, "largest file accepted")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if !strings.HasSuffix(*source, "/"+modelversion.ModelFile) {
		errs = append(errs, fmt.Errorf("--source %q must name a version folder's model.json", *source))
	} else if src, err := modelversion.ParseLocation(*source); err != nil {
		errs = append(errs, fmt.Errorf("--source %w", err))
	} else {
		o.src = src
	}
	if !modelversion.ValidSHA256(o.sha256) {
		errs = append(errs, fmt.Errorf("--sha256 %q is not 64 lower-case hex digits", o.sha256))
	}
	if o.out == "" {
		errs = append(errs, errors.New("--out is required"))
	}
	if o.maxBytes <= 0 || o.timeout <= 0 {
		errs = append(errs, errors.New("--max-bytes and --timeout must be positive"))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, log *slog.Logger) error {
	o, err := parseArgs(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := modelversion.NewS3(ctx, o.endpoint)
	if err != nil {
		return err
	}
	start := time.Now()
	dir, err := modelversion.Fetch(ctx, client, o.src, o.sha256, o.out, modelversion.Limits{MaxBytes: o.maxBytes})
	if err != nil {
		return err
	}
	log.Info("model version in place", "version", o.src.Version(), "dir", dir, "sha256", o.sha256, "took", time.Since(start).String())
	return nil
}
