package gbtree

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type reference struct {
	Version     string       `json:"xgboost_version"`
	Features    [][]*float64 `json:"features"`
	Margin      []float64    `json:"margin"`
	Probability []float64    `json:"probability"`
	Saabas      [][]float64  `json:"saabas"`
}

func load(t testing.TB) (*Model, reference) {
	t.Helper()
	f, err := os.Open("testdata/xgb_model.json")
	require.NoError(t, err)
	defer f.Close()
	m, err := Load(f)
	require.NoError(t, err)
	b, err := os.ReadFile("testdata/reference.json")
	require.NoError(t, err)
	var ref reference
	require.NoError(t, json.Unmarshal(b, &ref))
	return m, ref
}

func row(r []*float64) []float64 {
	x := make([]float64, len(r))
	for i, v := range r {
		x[i] = math.NaN()
		if v != nil {
			x[i] = *v
		}
	}
	return x
}

// TestMatchesXGBoost: the Go evaluator reproduces XGBoost's own margins,
// probabilities and approximate contributions on held-out rows, missing
// values included, within 1e-5.
func TestMatchesXGBoost(t *testing.T) {
	m, ref := load(t)
	require.Equal(t, 8, m.NumFeatures)
	require.Len(t, ref.Features, 200)
	missing, worst := 0, 0.0
	for i, r := range ref.Features {
		x := row(r)
		for _, v := range x {
			if math.IsNaN(v) {
				missing++
			}
		}
		margin, err := m.Margin(x)
		require.NoError(t, err)
		require.InDelta(t, ref.Margin[i], margin, 1e-5, "row %d", i)
		p, err := m.Predict(x)
		require.NoError(t, err)
		require.InDelta(t, ref.Probability[i], p, 1e-5, "row %d", i)
		worst = math.Max(worst, math.Abs(ref.Probability[i]-p))

		contribs, err := m.Contributions(x)
		require.NoError(t, err)
		require.Len(t, contribs, 9)
		sum := 0.0
		for j, c := range contribs {
			require.InDelta(t, ref.Saabas[i][j], c, 1e-5, "row %d feature %d", i, j)
			sum += c
		}
		require.InDelta(t, margin, sum, 1e-9, "contributions sum to the margin")
	}
	require.Positive(t, missing, "the reference exercises missing values")
	t.Logf("XGBoost %s reference: 200 rows, %d missing values, worst probability difference %.2g", ref.Version, missing, worst)
}

func TestWrongFeatureCount(t *testing.T) {
	m, _ := load(t)
	_, err := m.Predict(make([]float64, 7))
	require.True(t, errors.Is(err, ErrFeatureCount))
	require.ErrorContains(t, err, "got 7, the model takes 8")
	_, err = m.Contributions(nil)
	require.True(t, errors.Is(err, ErrFeatureCount))
}

func TestRefusesBadModels(t *testing.T) {
	good, err := os.ReadFile("testdata/xgb_model.json")
	require.NoError(t, err)
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		require.NoError(t, json.Unmarshal(good, &m))
		f(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return b
	}
	learner := func(m map[string]any) map[string]any { return m["learner"].(map[string]any) }
	tree0 := func(m map[string]any) map[string]any {
		gb := learner(m)["gradient_booster"].(map[string]any)
		return gb["model"].(map[string]any)["trees"].([]any)[0].(map[string]any)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not XGBoost JSON"},
		{"truncated", good[:len(good)/2], "not XGBoost JSON (truncated or corrupt?)"},
		{"not json", []byte("\x00\x01binary ubjson"), "not XGBoost JSON"},
		{"regression objective", edit(func(m map[string]any) {
			learner(m)["objective"].(map[string]any)["name"] = "reg:squarederror"
		}), `objective "reg:squarederror"`},
		{"dart booster", edit(func(m map[string]any) { learner(m)["gradient_booster"].(map[string]any)["name"] = "dart" }), `booster "dart"`},
		{"bad base score", edit(func(m map[string]any) {
			learner(m)["learner_model_param"].(map[string]any)["base_score"] = "7"
		}), `base_score "7" is not a probability`},
		{"feature out of range", edit(func(m map[string]any) { tree0(m)["split_indices"].([]any)[0] = 99 }), "feature 99 outside 0..7"},
		{"cycle", edit(func(m map[string]any) { tree0(m)["left_children"].([]any)[1] = 0 }), "out of order or range"},
		{"short arrays", edit(func(m map[string]any) {
			tree0(m)["split_conditions"] = tree0(m)["split_conditions"].([]any)[:3]
		}), "split_conditions has 3 entries"},
		{"categorical", edit(func(m map[string]any) { tree0(m)["split_type"].([]any)[0] = 1 }), "categorical splits are not supported"},
		{"half leaf", edit(func(m map[string]any) {
			t := tree0(m)
			last := len(t["left_children"].([]any)) - 1
			t["left_children"].([]any)[last] = 0
		}), "half a leaf"},
		{"no trees", edit(func(m map[string]any) {
			learner(m)["gradient_booster"].(map[string]any)["model"].(map[string]any)["trees"] = []any{}
		}), "no trees"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(bytes.NewReader(tt.data))
			require.ErrorIs(t, err, ErrInvalidModel)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// FuzzLoad: no model file, however damaged, crashes the loader or a
// prediction from a model that loaded.
func FuzzLoad(f *testing.F) {
	good, err := os.ReadFile("testdata/xgb_model.json")
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(strings.Replace(string(good), `"left_children":[1`, `"left_children":[0`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(bytes.NewReader(data))
		if err != nil {
			return
		}
		x := make([]float64, m.NumFeatures)
		x[0] = math.NaN()
		if _, err := m.Predict(x); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Contributions(x); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkPredict: one prediction of the 30-tree reference model.
func BenchmarkPredict(b *testing.B) {
	m, ref := load(b)
	x := row(ref.Features[0])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Predict(x); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkContributions(b *testing.B) {
	m, ref := load(b)
	x := row(ref.Features[0])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Contributions(x); err != nil {
			b.Fatal(err)
		}
	}
}
