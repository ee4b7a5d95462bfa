package quality

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFiguresOnALabelledFixture: six labelled decisions at threshold 0.5,
// counted by hand: flagged and fraud t1, t6 (TP 2); flagged, legit t2
// (FP 1); not flagged, fraud t3 (FN 1); not flagged, legit t4, t5 (TN 2).
// Accuracy 4/6, precision 2/3, recall 2/3. A decision without a label and
// one older than the window count for nothing. Then a chargeback on t2
// after the analyst's approval makes it fraud: TP 3, FP 0, accuracy 5/6,
// precision 1, recall 3/4; an older label does not undo it.
func TestFiguresOnALabelledFixture(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	tr := New(24*time.Hour, 0.5)
	at := now.Add(-time.Hour)
	for id, score := range map[string]float64{"t1": 0.9, "t2": 0.7, "t3": 0.2, "t4": 0.1, "t5": 0.05, "t6": 0.95, "t7": 0.3} {
		tr.Decision(id, score, at)
	}
	tr.Decision("t8", 0.9, now.Add(-48*time.Hour))
	for id, fraud := range map[string]bool{"t1": true, "t2": false, "t3": true, "t4": false, "t5": false, "t6": true, "t8": true} {
		tr.Label(id, fraud, at)
	}
	s := tr.Evaluate(now)
	require.Equal(t, 7, s.Decisions)
	require.Equal(t, 6, s.Labelled)
	require.Equal(t, [4]int{2, 1, 2, 1}, [4]int{s.TP, s.FP, s.TN, s.FN})
	require.InDelta(t, 4.0/6, s.Accuracy, 1e-12)
	require.InDelta(t, 2.0/3, s.Precision, 1e-12)
	require.InDelta(t, 2.0/3, s.Recall, 1e-12)
	require.True(t, math.IsNaN(s.PSI), "no baseline, no drift figure")

	tr.Label("t2", true, at.Add(30*time.Minute))
	tr.Label("t2", false, at.Add(10*time.Minute)) // older: ignored
	s = tr.Evaluate(now)
	require.Equal(t, [4]int{3, 0, 2, 1}, [4]int{s.TP, s.FP, s.TN, s.FN})
	require.InDelta(t, 5.0/6, s.Accuracy, 1e-12)
	require.Equal(t, 1.0, s.Precision)
	require.InDelta(t, 0.75, s.Recall, 1e-12)
}

// TestDrift: scores distributed as the baseline give a PSI near 0; scores
// shifted up give one past the 0.25 that means a shift.
func TestDrift(t *testing.T) {
	now := time.Now()
	baseline := []float64{}
	for i := range 1000 {
		baseline = append(baseline, float64(i%100)/1000) // 0 to 0.099
	}
	same, shifted := New(time.Hour, 0.5), New(time.Hour, 0.5)
	for _, tr := range []*Tracker{same, shifted} {
		tr.Baseline(baseline)
	}
	for i, s := range baseline {
		same.Decision(string(rune('a'+i%26))+time.Duration(i).String(), s, now)
		shifted.Decision(time.Duration(i).String(), s+0.3, now)
	}
	require.Less(t, same.Evaluate(now).PSI, 0.01)
	require.Greater(t, shifted.Evaluate(now).PSI, 0.25)
}
