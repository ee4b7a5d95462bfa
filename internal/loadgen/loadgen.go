// Package loadgen drives an HTTP service with an open-loop load (vegeta's
// attacker: requests leave on schedule whether or not earlier ones have
// answered) and reports goodput: only answers the caller's check accepts
// count as throughput and enter the latency percentiles; degraded answers
// and failures are counted apart, by reason. The generators (cmd/loadgen,
// apps/fraud/cmd/fraud-load) run it in a process of their own, so it never
// shares a runtime with the server it measures.
package loadgen

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Outcome is what a check made of one answer.
type Outcome int

// Outcomes.
const (
	Failed Outcome = iota
	Degraded
	Good
)

// Check judges one answer; for a failure it gives a reason to count by and
// an example.
type Check func(res *vegeta.Result) (o Outcome, reason, example string)

// Attack is one run.
type Attack struct {
	Targeter vegeta.Targeter
	Check    Check
	Rate     int
	Duration time.Duration
	Timeout  time.Duration
}

// Report is what one run measured.
type Report struct {
	Rate       int     `json:"rate"`
	Seconds    float64 `json:"seconds"`
	Sent       int     `json:"sent"`
	Good       int     `json:"good"`
	Degraded   int     `json:"degraded"`
	Failed     int     `json:"failed"`
	GoodputRPS float64 `json:"goodput_rps"`
	// Failures counts failed requests by reason, with one example each.
	Failures map[string]Failure `json:"failures,omitempty"`
	// LatencyMS is over good answers only, from when each request left.
	LatencyMS Percentiles `json:"latency_ms"`
}

// Failure is one reason requests failed.
type Failure struct {
	Count   int    `json:"count"`
	Example string `json:"example"`
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Run attacks until the duration ends or ctx does.
func Run(ctx context.Context, a Attack) Report {
	attacker := vegeta.NewAttacker(vegeta.Timeout(a.Timeout), vegeta.KeepAlive(true), vegeta.Connections(10000), vegeta.MaxBody(1<<20))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			attacker.Stop()
		case <-stop:
		}
	}()
	rep := Report{Rate: a.Rate, Failures: map[string]Failure{}}
	var good []time.Duration
	var first, last time.Time
	for res := range attacker.Attack(a.Targeter, vegeta.ConstantPacer{Freq: a.Rate, Per: time.Second}, a.Duration, "loadgen") {
		rep.Sent++
		if first.IsZero() || res.Timestamp.Before(first) {
			first = res.Timestamp
		}
		if end := res.End(); end.After(last) {
			last = end
		}
		switch o, reason, example := a.Check(res); o {
		case Good:
			rep.Good++
			good = append(good, res.Latency)
		case Degraded:
			rep.Degraded++
		default:
			rep.Failed++
			f := rep.Failures[reason]
			if f.Count == 0 {
				f.Example = example
			}
			f.Count++
			rep.Failures[reason] = f
		}
	}
	if rep.Sent > 0 {
		rep.Seconds = last.Sub(first).Seconds()
		rep.GoodputRPS = float64(rep.Good) / rep.Seconds
	}
	rep.LatencyMS = percentiles(good)
	return rep
}

// percentiles by nearest rank.
func percentiles(lat []time.Duration) Percentiles {
	if len(lat) == 0 {
		return Percentiles{}
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(lat)))) - 1
		return float64(lat[max(0, min(i, len(lat)-1))]) / float64(time.Millisecond)
	}
	return Percentiles{P50: at(0.50), P90: at(0.90), P95: at(0.95), P99: at(0.99), P999: at(0.999), Max: at(1)}
}

// Transport sorts out what never reached an answer of the expected status.
func Transport(res *vegeta.Result, status int) (ok bool, reason, example string) {
	if res.Error != "" && res.Code == 0 {
		return false, "transport error", res.Error
	}
	if int(res.Code) != status {
		return false, fmt.Sprintf("status %d", res.Code), fmt.Sprintf("%.200s", res.Body)
	}
	return true, "", ""
}

func (r Report) String() string {
	s := fmt.Sprintf("%d sent in %.1fs: goodput %.0f/s; %d good, %d degraded, %d failed; good answers p50 %.2f p95 %.2f p99 %.2f p999 %.2f max %.2f ms",
		r.Sent, r.Seconds, r.GoodputRPS, r.Good, r.Degraded, r.Failed, r.LatencyMS.P50, r.LatencyMS.P95, r.LatencyMS.P99, r.LatencyMS.P999, r.LatencyMS.Max)
	for why, f := range r.Failures {
		s += fmt.Sprintf("; %d %s (%.120s)", f.Count, why, f.Example)
	}
	return s
}
