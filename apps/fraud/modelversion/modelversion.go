// Package modelversion moves fraud model versions between the model bucket
// and a model folder, checked the way the fraud server checks them: a
// version is a folder of model.json (the trees), reference.json (inputs and
// the trainer's predictions for them) and optionally metrics.json. Fetch
// downloads one, verifies model.json's SHA-256, has the fraud server's own
// evaluator reproduce the reference predictions and only then moves the
// folder into place; Publish uploads a verified folder. The fraud pods'
// init container, the fraud server's reload and the orchestrator's
// promotion all go through here, so a model none of them would serve never
// gets where the others look.
package modelversion

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/intelliflow/platform/internal/filedigest"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/internal/registry"
)

// The files of a version.
const (
	ModelFile     = "model.json"
	ReferenceFile = "reference.json"
	MetricsFile   = "metrics.json"
)

var (
	sha256RE  = regexp.MustCompile(`^[a-f0-9]{64}$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// ErrChecksum is a model.json whose SHA-256 is not the one expected.
var ErrChecksum = errors.New("checksum mismatch")

// ErrInvalid is a version that arrived but is not one the fraud server
// would serve: too large, or failing its reference predictions or the
// server's features.
var ErrInvalid = errors.New("not a servable model version")

// Location is a version folder in a bucket.
type Location struct {
	Bucket string
	// Prefix is the folder's key prefix, without a trailing slash; its
	// last element is the version.
	Prefix string
}

// ParseLocation reads s3://bucket/prefix/version, with or without a
// trailing slash or a final /model.json.
func ParseLocation(s string) (Location, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return Location{}, fmt.Errorf("%q is not s3://<bucket>/<folder>", s)
	}
	p := strings.Trim(strings.TrimSuffix(u.Path, "/"+ModelFile), "/")
	l := Location{Bucket: u.Host, Prefix: p}
	if p == "" || !ValidVersion(l.Version()) {
		return Location{}, fmt.Errorf("%q: the folder's last element %q is not a version name", s, l.Version())
	}
	return l, nil
}

// ParseFolder reads s3://bucket/prefix: a folder of versions (a serving
// path), whose versions In names.
func ParseFolder(s string) (Location, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return Location{}, fmt.Errorf("%q is not s3://<bucket>/<folder>", s)
	}
	return Location{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}, nil
}

// Version is the folder's last element.
func (l Location) Version() string { return path.Base(l.Prefix) }

// Key is the key of one of the version's files.
func (l Location) Key(file string) string { return l.Prefix + "/" + file }

func (l Location) String() string { return "s3://" + l.Bucket + "/" + l.Prefix }

// In is the version folder named version under this folder (a serving
// path's versions).
func (l Location) In(version string) Location {
	return Location{Bucket: l.Bucket, Prefix: strings.Trim(l.Prefix+"/"+version, "/")}
}

// ValidVersion reports whether v can name a version folder.
func ValidVersion(v string) bool { return versionRE.MatchString(v) }

// ValidSHA256 reports whether s is 64 lower-case hex digits.
func ValidSHA256(s string) bool { return sha256RE.MatchString(s) }

// Verified is what Verify learnt of a version.
type Verified struct {
	Version string
	// Kind is "xgboost" or "logistic".
	Kind string
	// PRAUC is the trainer's precision-recall AUC from metrics.json; NaN
	// without one.
	PRAUC float64
}

// Verify loads the version folder dir with the fraud server's evaluator:
// the model must take the server's features and reproduce its reference
// predictions.
func Verify(dir string) (Verified, error) {
	m, err := registry.Load(dir, features.Count)
	if err != nil {
		return Verified{}, err
	}
	return Verified{Version: m.Version, Kind: m.Kind, PRAUC: m.PRAUC}, nil
}

// NewS3 is a client for the model bucket with the AWS SDK's default
// credentials (a pod's IRSA role); endpoint, when set, is an S3-compatible
// server reached by path-style URLs (one machine, tests), with the
// environment's static keys when it has them and unsigned requests when
// not: such a server's buckets are its own business, and the SDK's chain
// would otherwise end asking for an instance role nobody has there.
func NewS3(ctx context.Context, endpoint string) (*s3.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(aws.AnonymousCredentials{}))
		if os.Getenv("AWS_REGION") == "" {
			// The SDK wants a region even for unsigned requests.
			opts = append(opts, awsconfig.WithRegion("us-east-1"))
		}
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS credentials for the model bucket: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		// model.json is checked against the SHA-256 the stack pins and the
		// version against its reference predictions; the SDK's note that
		// a bucket without checksums (an S3-compatible server's) skipped
		// its own check went to stderr as an unstructured DEBUG line per
		// file in the pod's log.
		o.DisableLogOutputChecksumValidationSkipped = true
		if endpoint != "" {
			o.BaseEndpoint, o.UsePathStyle = aws.String(endpoint), true
		}
	}), nil
}

// Limits bound a fetch.
type Limits struct {
	// MaxBytes is the largest file accepted.
	MaxBytes int64
}

// Fetch puts the version at src into out/<version>, unless a copy whose
// model.json has wantSHA256 is there already. Nothing that fails a check
// is left in out.
func Fetch(ctx context.Context, client *s3.Client, src Location, wantSHA256, out string, lim Limits) (dir string, err error) {
	if !ValidSHA256(wantSHA256) {
		return "", fmt.Errorf("sha256 %q is not 64 lower-case hex digits", wantSHA256)
	}
	final := filepath.Join(out, src.Version())
	if sum, err := filedigest.SHA256(filepath.Join(final, ModelFile)); err == nil && sum == wantSHA256 {
		return final, nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(out, ".fetch-"+src.Version()+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	sum, err := download(ctx, client, src.Bucket, src.Key(ModelFile), filepath.Join(tmp, ModelFile), lim.MaxBytes)
	if err != nil {
		return "", fmt.Errorf("s3://%s/%s: %w", src.Bucket, src.Key(ModelFile), err)
	}
	if sum != wantSHA256 {
		return "", fmt.Errorf("%s/%s: %w: got %s, want %s; refusing the model", src, ModelFile, ErrChecksum, sum, wantSHA256)
	}
	if _, err := download(ctx, client, src.Bucket, src.Key(ReferenceFile), filepath.Join(tmp, ReferenceFile), lim.MaxBytes); err != nil {
		return "", fmt.Errorf("s3://%s/%s: %w", src.Bucket, src.Key(ReferenceFile), err)
	}
	// The trainer's metrics travel with the model when published.
	if _, err := download(ctx, client, src.Bucket, src.Key(MetricsFile), filepath.Join(tmp, MetricsFile), lim.MaxBytes); err != nil {
		_ = os.Remove(filepath.Join(tmp, MetricsFile))
	}
	if _, err := Verify(tmp); err != nil {
		return "", fmt.Errorf("version %s does not validate (%w): %v", src.Version(), ErrInvalid, err)
	}
	_ = os.RemoveAll(final) // a stale or damaged copy of the same version
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return final, nil
}

// Publish uploads the version folder dir to dst, model.json last: a
// reader that finds model.json finds the rest.
func Publish(ctx context.Context, client *s3.Client, dir string, dst Location) error {
	for _, f := range []string{MetricsFile, ReferenceFile, ModelFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if errors.Is(err, os.ErrNotExist) && f == MetricsFile {
			continue
		}
		if err != nil {
			return err
		}
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(dst.Bucket), Key: aws.String(dst.Key(f)),
			Body: bytes.NewReader(b), ContentType: aws.String("application/json")}); err != nil {
			return fmt.Errorf("upload %s/%s: %w", dst, f, err)
		}
	}
	return nil
}

func download(ctx context.Context, client *s3.Client, bucket, key, dest string, max int64) (sum string, err error) {
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer obj.Body.Close()
	f, err := os.Create(dest)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(obj.Body, max+1))
	err = errors.Join(err, f.Close())
	if err != nil {
		return "", err
	}
	if n > max {
		return "", fmt.Errorf("larger than the limit of %d bytes: %w", max, ErrInvalid)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ReferenceScores are the trainer's predictions in a version's
// reference.json at loc: a sample of the scores the model gives the data
// it was trained on (the baseline of drift).
func ReferenceScores(ctx context.Context, client *s3.Client, loc Location) ([]float64, error) {
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key(ReferenceFile))})
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", loc, ReferenceFile, err)
	}
	defer obj.Body.Close()
	var ref struct {
		Probability []float64 `json:"probability"`
	}
	if err := json.NewDecoder(io.LimitReader(obj.Body, 64<<20)).Decode(&ref); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", loc, ReferenceFile, err)
	}
	if len(ref.Probability) == 0 {
		return nil, fmt.Errorf("%s/%s: no probability", loc, ReferenceFile)
	}
	return ref.Probability, nil
}
