// Package model holds the trained fraud model, its baseline and metrics; this
// test keeps the committed files consistent with the feature definitions.
package model

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/internal/gbtree"
)

func TestCommittedModelMatchesFeatures(t *testing.T) {
	f, err := os.Open("model.json")
	require.NoError(t, err)
	defer f.Close()
	m, err := gbtree.Load(f)
	require.NoError(t, err)
	require.Equal(t, features.Count, m.NumFeatures)

	var raw struct {
		Learner struct {
			FeatureNames []string `json:"feature_names"`
		} `json:"learner"`
	}
	b, err := os.ReadFile("model.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &raw))
	require.Equal(t, features.Names, raw.Learner.FeatureNames, "retrain after changing features (make fraud-model)")

	// A payment with nothing known but amount and hour still scores.
	x := make([]float64, features.Count)
	for i := range x {
		x[i] = math.NaN()
	}
	x[features.Amount], x[features.HourOfDay] = 950, 3
	p, err := m.Predict(x)
	require.NoError(t, err)
	require.Greater(t, p, 0.5, "a 950 payment is above the large-amount line")

	var lr struct {
		Features []string  `json:"features"`
		Weights  []float64 `json:"weights"`
	}
	b, err = os.ReadFile("model-lr.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &lr))
	require.Equal(t, features.Names, lr.Features)
	require.Len(t, lr.Weights, features.Count)
}
