package logistic

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMatchesTraining(t *testing.T) {
	f, err := os.Open("../../model/model-lr.json")
	require.NoError(t, err)
	defer f.Close()
	m, err := Load(f)
	require.NoError(t, err)
	b, err := os.ReadFile("../../model/reference.json")
	require.NoError(t, err)
	var ref struct {
		Features [][]*float64 `json:"features"`
		LR       []float64    `json:"lr_probability"`
	}
	require.NoError(t, json.Unmarshal(b, &ref))
	for i, r := range ref.Features {
		x := make([]float64, len(r))
		for j, v := range r {
			x[j] = math.NaN()
			if v != nil {
				x[j] = *v
			}
		}
		p, err := m.Predict(x)
		require.NoError(t, err)
		// XGBoost scores in float32; 1e-5 absolute is its precision here.
		require.InDelta(t, ref.LR[i], p, 1e-5, "row %d", i)
		c, err := m.Contributions(x)
		require.NoError(t, err)
		sum := 0.0
		for _, v := range c {
			sum += v
		}
		require.InDelta(t, p, 1/(1+math.Exp(-sum)), 1e-12)
	}
}

func TestRefusesBadFiles(t *testing.T) {
	for name, tt := range map[string]struct{ data, want string }{
		"truncated":    {`{"format": "intelliflow-logistic-v1", "features": [`, "not JSON"},
		"wrong format": {`{"format": "sklearn"}`, `format "sklearn"`},
		"lengths":      {`{"format": "intelliflow-logistic-v1", "features": ["a","b"], "mean": [0], "std": [1,1], "weights": [1,1]}`, "2 features but 1 means"},
		"zero std":     {`{"format": "intelliflow-logistic-v1", "features": ["a"], "mean": [0], "std": [0], "weights": [1]}`, `feature "a" has std 0`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tt.data))
			require.ErrorIs(t, err, ErrInvalidModel)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
