// Package logistic evaluates the fraud model's fallback: a logistic
// regression over standardized features, in the JSON format train.py writes
// ("intelliflow-logistic-v1"). Missing features take the training mean, so
// they contribute nothing.
package logistic

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// Format is the only format this package reads.
const Format = "intelliflow-logistic-v1"

// Model is a loaded, validated logistic regression.
type Model struct {
	NumFeatures int
	names       []string
	mean, std   []float64
	weights     []float64
	bias        float64
}

// ErrInvalidModel wraps every reason a model file is refused.
var ErrInvalidModel = errors.New("invalid logistic model")

// Load reads and validates a model.
func Load(r io.Reader) (*Model, error) {
	var j struct {
		Format   string    `json:"format"`
		Features []string  `json:"features"`
		Mean     []float64 `json:"mean"`
		Std      []float64 `json:"std"`
		Weights  []float64 `json:"weights"`
		Bias     float64   `json:"bias"`
	}
	if err := json.NewDecoder(r).Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: not JSON (truncated or corrupt?): %v", ErrInvalidModel, err)
	}
	n := len(j.Features)
	switch {
	case j.Format != Format:
		return nil, fmt.Errorf("%w: format %q, want %s", ErrInvalidModel, j.Format, Format)
	case n == 0 || len(j.Mean) != n || len(j.Std) != n || len(j.Weights) != n:
		return nil, fmt.Errorf("%w: %d features but %d means, %d stds, %d weights", ErrInvalidModel, n, len(j.Mean), len(j.Std), len(j.Weights))
	}
	for i := 0; i < n; i++ {
		for _, v := range []float64{j.Mean[i], j.Std[i], j.Weights[i]} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: feature %q has a non-finite parameter", ErrInvalidModel, j.Features[i])
			}
		}
		if j.Std[i] <= 0 {
			return nil, fmt.Errorf("%w: feature %q has std %v", ErrInvalidModel, j.Features[i], j.Std[i])
		}
	}
	if math.IsNaN(j.Bias) || math.IsInf(j.Bias, 0) {
		return nil, fmt.Errorf("%w: bias %v", ErrInvalidModel, j.Bias)
	}
	return &Model{NumFeatures: n, names: j.Features, mean: j.Mean, std: j.Std, weights: j.Weights, bias: j.Bias}, nil
}

// ErrFeatureCount is returned for a feature vector of the wrong length.
var ErrFeatureCount = errors.New("wrong number of features")

// Contributions are each feature's share of the log-odds, and the bias last.
func (m *Model) Contributions(x []float64) ([]float64, error) {
	if len(x) != m.NumFeatures {
		return nil, fmt.Errorf("%w: got %d, the model takes %d", ErrFeatureCount, len(x), m.NumFeatures)
	}
	out := make([]float64, m.NumFeatures+1)
	for i, v := range x {
		if math.IsNaN(v) {
			continue // the training mean: a zero standardized value
		}
		out[i] = m.weights[i] * (v - m.mean[i]) / m.std[i]
	}
	out[m.NumFeatures] = m.bias
	return out, nil
}

// Predict is the probability of fraud.
func (m *Model) Predict(x []float64) (float64, error) {
	if len(x) != m.NumFeatures {
		return 0, fmt.Errorf("%w: got %d, the model takes %d", ErrFeatureCount, len(x), m.NumFeatures)
	}
	z := m.bias
	for i, v := range x {
		if !math.IsNaN(v) {
			z += m.weights[i] * (v - m.mean[i]) / m.std[i]
		}
	}
	return 1 / (1 + math.Exp(-z)), nil
}
