// Command fraud-load drives a fraud server with an open-loop load (vegeta's
// attacker: requests leave on schedule whether or not earlier ones have
// answered) from a process of its own, so the generator never shares the
// server's runtime, and reports goodput: only correct, non-degraded answers
// count as throughput and enter the latency percentiles; degraded answers
// and failures are counted apart, by reason.
//
//	fraud-load -target http://127.0.0.1:8080 -rate 1500 -duration 10s
//
// The report is one JSON object on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/intelliflow/platform/internal/flaghelp"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		flaghelp.Exit("fraud-load", err, 2)
	}
}

// options are the command line, validated.
type options struct {
	target   *url.URL
	endpoint string
	rate     int
	duration time.Duration
	timeout  time.Duration
	cards    int
	seed     uint64
}

func parse(args []string) (options, error) {
	fs := flag.NewFlagSet("fraud-load", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	target := fs.String("target", "", "fraud server base URL, e.g. http://127.0.0.1:8080 (required)")
	o := options{}
	fs.StringVar(&o.endpoint, "endpoint", "score", "score (POST /v1/score, card history from Redis) or infer (POST /v2/models/fraud/infer, one feature row)")
	fs.IntVar(&o.rate, "rate", 500, "requests per second")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "per-request timeout; a later answer is a failure")
	fs.IntVar(&o.cards, "cards", 20000, "distinct cards the transactions are spread over")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the request mix")
	if err := flaghelp.Parse(fs, args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	u, err := url.Parse(*target)
	switch {
	case *target == "":
		errs = append(errs, errors.New("-target is required"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, fmt.Errorf("-target %q is not an http(s) URL", *target))
	}
	o.target = u
	if o.endpoint != "score" && o.endpoint != "infer" {
		errs = append(errs, fmt.Errorf("-endpoint %q: want score or infer", o.endpoint))
	}
	if o.rate < 1 || o.rate > 1_000_000 {
		errs = append(errs, fmt.Errorf("-rate %d: want 1 to 1000000", o.rate))
	}
	if o.duration <= 0 || o.duration > time.Hour {
		errs = append(errs, fmt.Errorf("-duration %s: want more than 0 and at most 1h", o.duration))
	}
	if o.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout %s: want more than 0", o.timeout))
	}
	if o.cards < 1 {
		errs = append(errs, fmt.Errorf("-cards %d: want at least 1", o.cards))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	targeter, check := targets(o)
	rep := loadgen.Run(ctx, loadgen.Attack{Targeter: targeter, Check: check, Rate: o.rate, Duration: o.duration, Timeout: o.timeout})
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Endpoint string `json:"endpoint"`
		loadgen.Report
	}{o.endpoint, rep})
}

// targets returns the request mix and the check of each answer. The bodies
// are made up front from the seed, so the targeter costs the generator
// next to nothing per request.
func targets(o options) (vegeta.Targeter, loadgen.Check) {
	r := rand.New(rand.NewPCG(o.seed, 0x5eed))
	bodies := make([][]byte, 1<<16)
	path, check := "/v1/score", checkScore
	if o.endpoint == "infer" {
		path, check = "/v2/models/fraud/infer", checkInfer
	}
	for i := range bodies {
		if o.endpoint == "infer" {
			row := make([]any, features.Count)
			for j := range row {
				if r.IntN(5) == 0 {
					row[j] = nil // missing, as the protocol allows
				} else {
					row[j] = math.Round(r.Float64()*1000) / 10
				}
			}
			bodies[i], _ = json.Marshal(map[string]any{"inputs": []any{map[string]any{"name": "features", "shape": []int{1, features.Count}, "datatype": "FP64", "data": row}}})
			continue
		}
		bodies[i] = fmt.Appendf(nil, `{"transaction_id":"t%d","card_id":"c%d","amount":%.2f,"currency":"EUR","merchant_id":"m%d","location":{"x":%.1f,"y":%.1f}}`,
			i, r.IntN(o.cards), 5+r.Float64()*200, r.IntN(5000), r.Float64()*100, r.Float64()*100)
	}
	u := o.target.JoinPath(path).String()
	var next atomic.Uint64
	header := map[string][]string{"Content-Type": {"application/json"}}
	targeter := func(t *vegeta.Target) error {
		t.Method, t.URL, t.Header = "POST", u, header
		t.Body = bodies[next.Add(1)%uint64(len(bodies))]
		return nil
	}
	return targeter, check
}

func checkScore(res *vegeta.Result) (loadgen.Outcome, string, string) {
	if ok, why, ex := loadgen.Transport(res, 200); !ok {
		return loadgen.Failed, why, ex
	}
	var a struct {
		Score    *float64 `json:"score"`
		Decision string   `json:"decision"`
		Degraded *bool    `json:"degraded"`
		Model    struct {
			Version string `json:"version"`
		} `json:"model"`
	}
	err := json.Unmarshal(res.Body, &a)
	switch {
	case err != nil, a.Score == nil, *a.Score < 0, *a.Score > 1, a.Degraded == nil, a.Model.Version == "",
		a.Decision != "approve" && a.Decision != "review" && a.Decision != "decline":
		return loadgen.Failed, "invalid answer", fmt.Sprintf("%.200s", res.Body)
	case *a.Degraded:
		return loadgen.Degraded, "", ""
	}
	return loadgen.Good, "", ""
}

func checkInfer(res *vegeta.Result) (loadgen.Outcome, string, string) {
	if ok, why, ex := loadgen.Transport(res, 200); !ok {
		return loadgen.Failed, why, ex
	}
	var a struct {
		Outputs []struct {
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(res.Body, &a); err != nil || len(a.Outputs) != 1 || len(a.Outputs[0].Data) != 1 || a.Outputs[0].Data[0] < 0 || a.Outputs[0].Data[0] > 1 {
		return loadgen.Failed, "invalid answer", fmt.Sprintf("%.200s", res.Body)
	}
	return loadgen.Good, "", ""
}
