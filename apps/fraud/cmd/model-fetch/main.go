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
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/internal/registry"
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

var (
	sha256RE  = regexp.MustCompile(`^[a-f0-9]{64}$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

type options struct {
	bucket, key, version string
	sha256               string
	out                  string
	endpoint             string
	maxBytes             int64
	timeout              time.Duration
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
	u, err := url.Parse(*source)
	var errs []error
	switch {
	case err != nil || u.Scheme != "s3" || u.Host == "":
		errs = append(errs, fmt.Errorf("--source %q is not s3://<bucket>/<key>", *source))
	case path.Base(u.Path) != "model.json":
		errs = append(errs, fmt.Errorf("--source %q must name a version folder's model.json", *source))
	default:
		o.bucket, o.key = u.Host, strings.TrimPrefix(u.Path, "/")
		o.version = path.Base(path.Dir(u.Path))
		if !versionRE.MatchString(o.version) {
			errs = append(errs, fmt.Errorf("--source: version folder %q is not a version name", o.version))
		}
	}
	if !sha256RE.MatchString(o.sha256) {
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
	final := filepath.Join(o.out, o.version)
	if _, err := os.Stat(filepath.Join(final, "model.json")); err == nil {
		if sum, err := fileSHA256(filepath.Join(final, "model.json")); err == nil && sum == o.sha256 {
			log.Info("model version already in place", "version", o.version)
			return nil
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS credentials: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.endpoint != "" {
			so.BaseEndpoint = aws.String(o.endpoint)
			so.UsePathStyle = true
		}
	})
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(o.out, ".fetch-"+o.version+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	start := time.Now()
	sum, n, err := download(ctx, client, o.bucket, o.key, filepath.Join(tmp, "model.json"), o.maxBytes)
	if err != nil {
		return fmt.Errorf("s3://%s/%s: %w", o.bucket, o.key, err)
	}
	if sum != o.sha256 {
		return fmt.Errorf("s3://%s/%s: checksum mismatch: got %s, want %s; refusing the model", o.bucket, o.key, sum, o.sha256)
	}
	refKey := path.Join(path.Dir(o.key), "reference.json")
	if _, _, err := download(ctx, client, o.bucket, refKey, filepath.Join(tmp, "reference.json"), o.maxBytes); err != nil {
		return fmt.Errorf("s3://%s/%s: %w", o.bucket, refKey, err)
	}
	// The trainer's metrics travel with the model when published (optional).
	metricsKey := path.Join(path.Dir(o.key), "metrics.json")
	if _, _, err := download(ctx, client, o.bucket, metricsKey, filepath.Join(tmp, "metrics.json"), o.maxBytes); err != nil {
		_ = os.Remove(filepath.Join(tmp, "metrics.json"))
		log.Info("no metrics.json with the model; model_accuracy_score stays unset", "key", metricsKey)
	}
	if _, err := registry.Load(tmp, features.Count); err != nil {
		return fmt.Errorf("version %s does not validate: %w", o.version, err)
	}
	_ = os.RemoveAll(final) // a stale or damaged copy of the same version
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	log.Info("model version fetched", "version", o.version, "bytes", n, "sha256", sum, "took", time.Since(start).String())
	return nil
}

func download(ctx context.Context, client *s3.Client, bucket, key, dest string, max int64) (sum string, n int64, err error) {
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", 0, err
	}
	defer obj.Body.Close()
	f, err := os.Create(dest)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(obj.Body, max+1))
	err = errors.Join(err, f.Close())
	if err != nil {
		return "", n, err
	}
	if n > max {
		return "", n, fmt.Errorf("larger than --max-bytes %d", max)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
