// Package registry serves the current fraud model from a folder of model
// versions, and replaces it safely: a new version is loaded, checked against
// the reference predictions stored with it, warmed up, and only then swapped
// in atomically. Requests that started on the old model finish on it. A
// version that fails any step is refused and the old model keeps serving.
//
// Layout: <dir>/<version>/model.json (XGBoost trees) or model-lr.json (the
// logistic fallback), plus reference.json. Versions sort by name; the last
// one is wanted.
package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intelliflow/platform/apps/fraud/internal/gbtree"
	"github.com/intelliflow/platform/apps/fraud/internal/logistic"
)

// Scorer is a loaded model.
type Scorer interface {
	Predict(x []float64) (float64, error)
	Contributions(x []float64) ([]float64, error)
}

// Model is one loaded version.
type Model struct {
	Scorer
	Version  string
	Kind     string // "xgboost" or "logistic"
	LoadedAt time.Time
	// PRAUC is the trainer's precision-recall AUC on its held-out split, from
	// the version's optional metrics.json; NaN when absent.
	PRAUC float64
}

// Registry holds the current model.
type Registry struct {
	dir         string
	numFeatures int
	log         *slog.Logger
	reloads     sync.Mutex
	current     atomic.Pointer[Model]
}

// referenceTolerance is how close a loaded model must reproduce its stored
// predictions: XGBoost's float32 arithmetic is the limit.
const referenceTolerance = 1e-5

// Open loads the newest valid version. It fails when none is valid: a server
// must not start without a model.
func Open(dir string, numFeatures int, log *slog.Logger) (*Registry, error) {
	r := &Registry{dir: dir, numFeatures: numFeatures, log: log}
	versions, err := r.versions()
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := len(versions) - 1; i >= 0; i-- {
		m, err := Load(filepath.Join(dir, versions[i]), numFeatures)
		if err != nil {
			log.Error("model version refused", "version", versions[i], "err", err)
			errs = append(errs, fmt.Errorf("version %s: %w", versions[i], err))
			continue
		}
		r.current.Store(m)
		log.Info("model loaded", "version", m.Version, "kind", m.Kind)
		return r, nil
	}
	return nil, fmt.Errorf("no valid model version in %s: %w", dir, errors.Join(errs...))
}

// Current is the model to score with; callers keep it for a whole request.
func (r *Registry) Current() *Model { return r.current.Load() }

func (r *Registry) versions() ([]string, error) {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("model folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name()[0] != '.' {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("model folder %s has no versions", r.dir)
	}
	return out, nil
}

// Reload switches to the newest version if it differs from the current one.
// It reports whether it switched; on error the current model stays.
func (r *Registry) Reload() (switched bool, err error) {
	r.reloads.Lock()
	defer r.reloads.Unlock()
	versions, err := r.versions()
	if err != nil {
		return false, err
	}
	newest := versions[len(versions)-1]
	cur := r.Current()
	if cur != nil && cur.Version == newest {
		return false, nil
	}
	m, err := Load(filepath.Join(r.dir, newest), r.numFeatures)
	if err != nil {
		r.log.Error("model version refused; the current model keeps serving", "version", newest, "current", cur.Version, "err", err)
		return false, fmt.Errorf("version %s refused: %w", newest, err)
	}
	r.current.Store(m)
	r.log.Info("model switched", "from", cur.Version, "to", m.Version, "kind", m.Kind)
	return true, nil
}

// Watch reloads every interval until stop is closed.
func (r *Registry) Watch(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			_, _ = r.Reload() // refusals are logged
		}
	}
}

type reference struct {
	Features      [][]*float64 `json:"features"`
	Probability   []float64    `json:"probability"`
	LRProbability []float64    `json:"lr_probability"`
}

// kinds are the model files a version may hold, preferred first.
var kinds = []struct {
	file, kind string
	load       func(io.Reader) (scorerSize, error)
}{
	{"model.json", "xgboost", func(r io.Reader) (scorerSize, error) {
		m, err := gbtree.Load(r)
		if err != nil {
			return scorerSize{}, err
		}
		return scorerSize{m, m.NumFeatures}, nil
	}},
	{"model-lr.json", "logistic", func(r io.Reader) (scorerSize, error) {
		m, err := logistic.Load(r)
		if err != nil {
			return scorerSize{}, err
		}
		return scorerSize{m, m.NumFeatures}, nil
	}},
}

// scorerSize is a loaded model with its feature count.
type scorerSize struct {
	Scorer
	n int
}

// Load reads one version folder, checks it reproduces its reference
// predictions, and warms it up.
func Load(dir string, numFeatures int) (*Model, error) {
	m := &Model{Version: filepath.Base(dir), LoadedAt: time.Now()}
	for _, k := range kinds {
		if !exists(filepath.Join(dir, k.file)) {
			continue
		}
		loaded, err := loadFile(filepath.Join(dir, k.file), k.load)
		if err != nil {
			return nil, err
		}
		if loaded.n != numFeatures {
			return nil, fmt.Errorf("model takes %d features, the server computes %d", loaded.n, numFeatures)
		}
		m.Kind, m.Scorer = k.kind, loaded.Scorer
		break
	}
	if m.Scorer == nil {
		return nil, errors.New("no model.json or model-lr.json")
	}
	ref, err := loadFile(filepath.Join(dir, "reference.json"), func(r io.Reader) (*reference, error) {
		var ref reference
		return &ref, json.NewDecoder(r).Decode(&ref)
	})
	if err != nil {
		return nil, fmt.Errorf("reference predictions: %w", err)
	}
	want := ref.Probability
	if m.Kind == "logistic" && len(ref.LRProbability) > 0 {
		want = ref.LRProbability
	}
	if len(ref.Features) == 0 || len(want) != len(ref.Features) {
		return nil, fmt.Errorf("reference predictions: %d rows, %d predictions", len(ref.Features), len(want))
	}
	rows := make([][]float64, len(ref.Features))
	for i, r := range ref.Features {
		rows[i] = make([]float64, len(r))
		for j, v := range r {
			rows[i][j] = math.NaN()
			if v != nil {
				rows[i][j] = *v
			}
		}
		p, err := m.Predict(rows[i])
		if err != nil {
			return nil, fmt.Errorf("reference row %d: %w", i, err)
		}
		if math.Abs(p-want[i]) > referenceTolerance {
			return nil, fmt.Errorf("reference row %d: predicts %.6f, the trainer recorded %.6f; the file does not match its reference", i, p, want[i])
		}
	}
	m.PRAUC = math.NaN()
	if b, err := os.ReadFile(filepath.Join(dir, "metrics.json")); err == nil {
		var mj struct {
			Models []struct {
				Model string  `json:"model"`
				PRAUC float64 `json:"pr_auc"`
			} `json:"models"`
		}
		if json.Unmarshal(b, &mj) == nil && len(mj.Models) > 0 {
			// train.py lists the trees first, the logistic baseline second.
			i := 0
			if m.Kind == "logistic" && len(mj.Models) > 1 {
				i = 1
			}
			m.PRAUC = mj.Models[i].PRAUC
		}
	}
	// Warm up: the first requests on a new model should not pay for page
	// faults and cold caches.
	for range 3 {
		for _, x := range rows {
			_, _ = m.Predict(x)
			_, _ = m.Contributions(x)
		}
	}
	return m, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func loadFile[T any](path string, load func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	v, err := load(f)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return v, nil
}
