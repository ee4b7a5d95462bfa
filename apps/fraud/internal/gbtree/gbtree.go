// Package gbtree evaluates gradient-boosted tree models saved in XGBoost's
// JSON format, in pure Go, and explains each score by feature.
//
// Written here rather than taken from a library: the known Go evaluator
// (github.com/dmitryikh/leaves) reads only older XGBoost formats and crashes
// the process on current ones; a model file is input and must never crash a
// server. Only what the fraud model uses is supported (binary:logistic,
// gbtree, numerical splits); anything else is refused with a clear error.
package gbtree

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// node is one tree node, laid out flat for a cache-friendly walk. A leaf has
// left < 0 and keeps its value in value.
type node struct {
	left, right int32
	feature     int32
	threshold   float32
	defaultLeft bool
	value       float64 // leaf value, or the node's mean value (for contributions)
}

type tree []node

// Model is a loaded, validated binary classifier.
type Model struct {
	// NumFeatures is the length every feature vector must have.
	NumFeatures int
	baseMargin  float64
	trees       []tree
}

// The parts of XGBoost's JSON model this evaluator reads.
type jsonModel struct {
	Version []int `json:"version"`
	Learner struct {
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
		LearnerModelParam struct {
			BaseScore  string `json:"base_score"`
			NumFeature string `json:"num_feature"`
			NumClass   string `json:"num_class"`
			NumTarget  string `json:"num_target"`
		} `json:"learner_model_param"`
		GradientBooster struct {
			Name  string `json:"name"`
			Model struct {
				Trees []jsonTree `json:"trees"`
			} `json:"model"`
		} `json:"gradient_booster"`
	} `json:"learner"`
}

type jsonTree struct {
	LeftChildren    []int32   `json:"left_children"`
	RightChildren   []int32   `json:"right_children"`
	SplitIndices    []int32   `json:"split_indices"`
	SplitConditions []float64 `json:"split_conditions"`
	DefaultLeft     []int     `json:"default_left"`
	SplitType       []int     `json:"split_type"`
	SumHessian      []float64 `json:"sum_hessian"`
	TreeParam       struct {
		NumNodes       string `json:"num_nodes"`
		SizeLeafVector string `json:"size_leaf_vector"`
	} `json:"tree_param"`
}

// ErrInvalidModel wraps every reason a model file is refused.
var ErrInvalidModel = errors.New("invalid model")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidModel, fmt.Sprintf(format, args...))
}

// Load reads and validates a model. A model that loads evaluates every
// feature vector of the right length without panicking.
func Load(r io.Reader) (*Model, error) {
	var jm jsonModel
	dec := json.NewDecoder(r)
	if err := dec.Decode(&jm); err != nil {
		return nil, invalid("not XGBoost JSON (truncated or corrupt?): %v", err)
	}
	l := jm.Learner
	switch l.Objective.Name {
	case "binary:logistic", "reg:logistic":
	default:
		return nil, invalid("objective %q; only binary:logistic is supported", l.Objective.Name)
	}
	if l.GradientBooster.Name != "gbtree" {
		return nil, invalid("booster %q; only gbtree is supported", l.GradientBooster.Name)
	}
	p := l.LearnerModelParam
	if nc, _ := strconv.Atoi(p.NumClass); nc > 1 {
		return nil, invalid("%d classes; only binary models are supported", nc)
	}
	if nt, _ := strconv.Atoi(p.NumTarget); nt > 1 {
		return nil, invalid("%d targets; only one is supported", nt)
	}
	nf, err := strconv.Atoi(p.NumFeature)
	if err != nil || nf <= 0 {
		return nil, invalid("num_feature %q", p.NumFeature)
	}
	// XGBoost 2 writes "[2E-1]", 1.7 writes "2E-1": a probability either way.
	base, err := strconv.ParseFloat(strings.Trim(p.BaseScore, "[]"), 64)
	if err != nil || !(base > 0 && base < 1) {
		return nil, invalid("base_score %q is not a probability", p.BaseScore)
	}
	m := &Model{NumFeatures: nf, baseMargin: math.Log(base / (1 - base))}
	if len(l.GradientBooster.Model.Trees) == 0 {
		return nil, invalid("no trees")
	}
	for i, jt := range l.GradientBooster.Model.Trees {
		t, err := buildTree(jt, nf)
		if err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
		m.trees = append(m.trees, t)
	}
	return m, nil
}

func buildTree(jt jsonTree, numFeatures int) (tree, error) {
	n := len(jt.LeftChildren)
	if nn, err := strconv.Atoi(jt.TreeParam.NumNodes); err != nil || nn != n || n == 0 {
		return nil, invalid("num_nodes %q does not match %d nodes", jt.TreeParam.NumNodes, n)
	}
	if s := jt.TreeParam.SizeLeafVector; s != "" && s != "0" {
		return nil, invalid("vector leaves are not supported")
	}
	for name, l := range map[string]int{
		"right_children": len(jt.RightChildren), "split_indices": len(jt.SplitIndices), "split_conditions": len(jt.SplitConditions),
		"default_left": len(jt.DefaultLeft), "sum_hessian": len(jt.SumHessian),
	} {
		if l != n {
			return nil, invalid("%s has %d entries for %d nodes", name, l, n)
		}
	}
	t := make(tree, n)
	for i := 0; i < n; i++ {
		left, right := jt.LeftChildren[i], jt.RightChildren[i]
		cond := jt.SplitConditions[i]
		if math.IsNaN(cond) || math.IsInf(cond, 0) {
			return nil, invalid("node %d: condition %v", i, cond)
		}
		t[i] = node{left: left, right: right, threshold: float32(cond), defaultLeft: jt.DefaultLeft[i] != 0}
		if left < 0 || right < 0 {
			if left != -1 || right != -1 {
				return nil, invalid("node %d: half a leaf (children %d, %d)", i, left, right)
			}
			t[i].left, t[i].right, t[i].value = -1, -1, cond
			continue
		}
		// Children always come after their parent: no cycles, no self-loops.
		if int(left) <= i || int(right) <= i || int(left) >= n || int(right) >= n {
			return nil, invalid("node %d: children %d, %d out of order or range", i, left, right)
		}
		if len(jt.SplitType) == n && jt.SplitType[i] != 0 {
			return nil, invalid("node %d: categorical splits are not supported", i)
		}
		f := jt.SplitIndices[i]
		if f < 0 || int(f) >= numFeatures {
			return nil, invalid("node %d: feature %d outside 0..%d", i, f, numFeatures-1)
		}
		t[i].feature = f
	}
	// Every node must be reachable from the root exactly once.
	seen := make([]bool, n)
	stack := []int32{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[i] {
			return nil, invalid("node %d is reached twice", i)
		}
		seen[i] = true
		if t[i].left >= 0 {
			stack = append(stack, t[i].left, t[i].right)
		}
	}
	for i, s := range seen {
		if !s {
			return nil, invalid("node %d is unreachable", i)
		}
	}
	meanValues(t, jt.SumHessian, 0)
	return t, nil
}

// meanValues sets each internal node's value to the hessian-weighted mean of
// its leaves, as XGBoost does for approximate (Saabas) contributions.
func meanValues(t tree, hess []float64, i int32) float64 {
	nd := &t[i]
	if nd.left < 0 {
		return nd.value
	}
	l := meanValues(t, hess, nd.left)
	r := meanValues(t, hess, nd.right)
	if h := hess[i]; h > 0 {
		nd.value = (l*hess[nd.left] + r*hess[nd.right]) / h
	}
	return nd.value
}

// leaf walks a tree to its leaf. NaN means missing and follows the default
// branch; comparisons are in float32, as XGBoost makes them.
func (t tree) next(i int32, x []float64) int32 {
	nd := &t[i]
	v := x[nd.feature]
	if math.IsNaN(v) {
		if nd.defaultLeft {
			return nd.left
		}
		return nd.right
	}
	if float32(v) < nd.threshold {
		return nd.left
	}
	return nd.right
}

// ErrFeatureCount is returned for a feature vector of the wrong length.
var ErrFeatureCount = errors.New("wrong number of features")

// Margin is the raw score (log-odds).
func (m *Model) Margin(x []float64) (float64, error) {
	if len(x) != m.NumFeatures {
		return 0, fmt.Errorf("%w: got %d, the model takes %d", ErrFeatureCount, len(x), m.NumFeatures)
	}
	sum := m.baseMargin
	for _, t := range m.trees {
		i := int32(0)
		for t[i].left >= 0 {
			i = t.next(i, x)
		}
		sum += t[i].value
	}
	return sum, nil
}

// Predict is the probability of the positive class (fraud).
func (m *Model) Predict(x []float64) (float64, error) {
	margin, err := m.Margin(x)
	if err != nil {
		return 0, err
	}
	return 1 / (1 + math.Exp(-margin)), nil
}

// Contributions explains a score with Saabas' method, as XGBoost's
// approximate contributions: one entry per feature (how much it moved the
// log-odds along the paths taken) and a last entry for the bias. They sum to
// the margin.
func (m *Model) Contributions(x []float64) ([]float64, error) {
	if len(x) != m.NumFeatures {
		return nil, fmt.Errorf("%w: got %d, the model takes %d", ErrFeatureCount, len(x), m.NumFeatures)
	}
	out := make([]float64, m.NumFeatures+1)
	out[m.NumFeatures] = m.baseMargin
	for _, t := range m.trees {
		i := int32(0)
		out[m.NumFeatures] += t[0].value
		for t[i].left >= 0 {
			next := t.next(i, x)
			out[t[i].feature] += t[next].value - t[i].value
			i = next
		}
	}
	return out, nil
}
