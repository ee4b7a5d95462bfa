// Package promote puts the model version MLflow's alias names into
// service: it reads the version and its run from the registry, holds the
// run's metric to the promotion floor, downloads the version's files,
// checks model.json's SHA-256 against the version's sha256 tag and has the
// fraud server's own evaluator reproduce the reference predictions with
// the server's features, publishes the files under a new name in the
// serving path, and rolls the fraud servers onto it one at a time. A
// version that fails any check is never published and no server reloads.
package promote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/intelliflow/platform/apps/fraud/modelversion"
	"github.com/intelliflow/platform/apps/orchestrator/internal/fleet"
	"github.com/intelliflow/platform/apps/orchestrator/internal/mlflow"
)

// Tags the promoter reads and writes on a model version.
const (
	// SHA256Tag is the trainer's SHA-256 of model.json.
	SHA256Tag = "sha256"
	// ServingTag records the serving version it was published as.
	ServingTag = "intelliflow.serving_version"
)

// Outcomes of a promotion (orchestrator_promotions_total).
const (
	Promoted = "promoted"
	Current  = "already_serving"
	Rejected = "rejected"
	Failed   = "failed"
)

// Config assembles a Promoter.
type Config struct {
	Registry *mlflow.Client
	// Model and Alias name what to serve: fraud@production.
	Model, Alias string
	S3           *s3.Client
	// Serving is the folder of served versions (the fraud servers'
	// MODEL_SOURCE).
	Serving modelversion.Location
	// WorkDir holds downloads while they are checked.
	WorkDir string
	// Metric must be at least Floor in the version's run.
	Metric   string
	Floor    float64
	MaxBytes int64
	Fleet    fleet.Reloader
	Metrics  prometheus.Registerer
	Log      *slog.Logger
	// Now names serving versions (tests set it).
	Now func() time.Time
	// OnServing, when set, is told the reference scores of each version
	// every server serves (the drift baseline).
	OnServing func(reference []float64)
}

// Promoter promotes; one promotion runs at a time.
type Promoter struct {
	c        Config
	mu       sync.Mutex
	last     Result
	outcomes *prometheus.CounterVec
	lastOK   prometheus.Gauge
	// baselineOf is the serving version OnServing was last told of.
	baselineOf string
}

// New builds a Promoter and registers its metrics.
func New(c Config) *Promoter {
	if c.Now == nil {
		c.Now = time.Now
	}
	p := &Promoter{c: c,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orchestrator_promotions_total",
			Help: "Promotion attempts, by outcome."}, []string{"outcome"}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "orchestrator_last_rollout_timestamp_seconds",
			Help: "When every fraud server last served the alias's version (0: not since start); fraud_model_info says which."}),
	}
	c.Metrics.MustRegister(p.outcomes, p.lastOK)
	for _, o := range []string{Promoted, Current, Rejected, Failed} {
		p.outcomes.WithLabelValues(o)
	}
	return p
}

// Result is what a promotion did.
type Result struct {
	Outcome         string          `json:"outcome"`
	Model           string          `json:"model"`
	RegistryVersion string          `json:"registry_version,omitempty"`
	ServingVersion  string          `json:"serving_version,omitempty"`
	SHA256          string          `json:"sha256,omitempty"`
	Metric          float64         `json:"metric,omitempty"`
	Reloads         []fleet.Outcome `json:"reloads,omitempty"`
	Reason          string          `json:"reason,omitempty"`
	At              time.Time       `json:"at"`
}

// ErrRejected marks a version that failed a check: promoting it again
// fails again until the registry changes.
var ErrRejected = errors.New("rejected")

// Last is the last promotion's result.
func (p *Promoter) Last() Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Promote promotes what the alias names, unless it serves already.
func (p *Promoter) Promote(ctx context.Context) (Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	res, err := p.promote(ctx)
	res.Model, res.At = p.c.Model, p.c.Now().UTC()
	switch {
	case err == nil:
	case errors.Is(err, ErrRejected):
		res.Outcome, res.Reason = Rejected, err.Error()
	default:
		res.Outcome, res.Reason = Failed, err.Error()
	}
	p.outcomes.WithLabelValues(res.Outcome).Inc()
	if res.Outcome != Current {
		p.c.Log.Info("audit", "action", "model.promote", "model", p.c.Model, "registry_version", res.RegistryVersion,
			"serving_version", res.ServingVersion, "outcome", res.Outcome, "reason", res.Reason)
	}
	p.last = res
	if err == nil && p.c.OnServing != nil && res.ServingVersion != p.baselineOf {
		if ref, rerr := modelversion.ReferenceScores(ctx, p.c.S3, p.c.Serving.In(res.ServingVersion)); rerr != nil {
			p.c.Log.Warn("no drift baseline for the serving version", "version", res.ServingVersion, "error", rerr.Error())
		} else {
			p.c.OnServing(ref)
			p.baselineOf = res.ServingVersion
		}
	}
	return res, err
}

func (p *Promoter) promote(ctx context.Context) (Result, error) {
	var res Result
	mv, err := p.c.Registry.VersionByAlias(ctx, p.c.Model, p.c.Alias)
	if err != nil {
		return res, fmt.Errorf("%s@%s: %w", p.c.Model, p.c.Alias, err)
	}
	res.RegistryVersion = mv.Version
	// Published before (its tag says as what): bring back any server that
	// does not serve it (a pod restarted onto the stack's model).
	if served := mv.Tag(ServingTag); modelversion.ValidVersion(served) && modelversion.ValidSHA256(mv.Tag(SHA256Tag)) {
		res.ServingVersion, res.SHA256 = served, mv.Tag(SHA256Tag)
		res.Reloads, err = p.c.Fleet.Roll(ctx, served, res.SHA256)
		if err != nil {
			return res, err
		}
		res.Outcome = Current
		if len(res.Reloads) > 0 {
			res.Outcome = Promoted
		}
		p.lastOK.Set(float64(p.c.Now().Unix()))
		return res, nil
	}
	reject := func(format string, args ...any) (Result, error) {
		return res, fmt.Errorf("%w: %s version %s: %s", ErrRejected, p.c.Model, mv.Version, fmt.Sprintf(format, args...))
	}
	if mv.Status != "" && mv.Status != "READY" {
		return reject("status %s, not READY", mv.Status)
	}
	res.SHA256 = mv.Tag(SHA256Tag)
	if !modelversion.ValidSHA256(res.SHA256) {
		return reject("tag %s is %q, not the SHA-256 of model.json", SHA256Tag, res.SHA256)
	}
	src, err := modelversion.ParseLocation(mv.Source)
	if err != nil {
		return reject("source: %v", err)
	}
	run, err := p.c.Registry.Run(ctx, mv.RunID)
	if err != nil {
		return res, fmt.Errorf("run %s of version %s: %w", mv.RunID, mv.Version, err)
	}
	metric, ok := run.Metric(p.c.Metric)
	if !ok {
		return reject("its run %s has no %s metric", mv.RunID, p.c.Metric)
	}
	res.Metric = metric
	if metric < p.c.Floor {
		return reject("%s %.4f is below the promotion floor %.4f", p.c.Metric, metric, p.c.Floor)
	}
	work, err := os.MkdirTemp(p.c.WorkDir, "promote-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	dir, err := modelversion.Fetch(ctx, p.c.S3, src, res.SHA256, work, modelversion.Limits{MaxBytes: p.c.MaxBytes})
	if err != nil {
		if errors.Is(err, modelversion.ErrChecksum) || errors.Is(err, modelversion.ErrInvalid) {
			return reject("%v", err)
		}
		return res, err
	}
	// A new, sortable name: the fraud servers load the newest name, and a
	// rollback is a new promotion of an older registry version.
	res.ServingVersion = fmt.Sprintf("%s-v%s", p.c.Now().UTC().Format("20060102T150405Z"), mv.Version)
	if err := os.Rename(dir, filepath.Join(work, res.ServingVersion)); err != nil {
		return res, err
	}
	if err := modelversion.Publish(ctx, p.c.S3, filepath.Join(work, res.ServingVersion), p.c.Serving.In(res.ServingVersion)); err != nil {
		return res, err
	}
	res.Reloads, err = p.c.Fleet.Roll(ctx, res.ServingVersion, res.SHA256)
	if err != nil {
		return res, err
	}
	res.Outcome = Promoted
	p.lastOK.Set(float64(p.c.Now().Unix()))
	if err := p.c.Registry.SetVersionTag(ctx, p.c.Model, mv.Version, ServingTag, res.ServingVersion); err != nil {
		// Served all the same; the next poll promotes it again under a
		// new name rather than believe it is not served.
		p.c.Log.Warn("could not record the serving version in the registry", "error", err.Error())
	}
	return res, nil
}
