// Command loadgen puts an open-loop load on one HTTP endpoint from a process
// of its own and prints what internal/loadgen measured as JSON: goodput
// (answers with the expected status, and the expected text when given),
// failures by reason, latency percentiles of the good answers.
//
//	loadgen -url http://127.0.0.1:8080/api/v1/users/me -rate 2000 -duration 10s \
//	  -header 'Authorization: Bearer ...'
//	loadgen -url .../v1/transactions -method POST -body '{...}' -unique-header Idempotency-Key -status 201
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/intelliflow/platform/internal/flaghelp"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/intelliflow/platform/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		flaghelp.Exit("loadgen", err, 2)
	}
}

// headers is a repeatable -header flag.
type headers http.Header

func (h headers) String() string { return "" }

func (h headers) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%q is not Name: value", v)
	}
	http.Header(h).Add(strings.TrimSpace(k), strings.TrimSpace(val))
	return nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	target := fs.String("url", "", "the endpoint (required unless -urls)")
	urls := fs.String("urls", "", "a file of endpoints, one a line, requested in turn (instead of -url)")
	method := fs.String("method", http.MethodGet, "request method")
	body := fs.String("body", "", "request body (JSON content type when set)")
	bodies := fs.String("bodies", "", "a file of request bodies, one a line, sent in turn (instead of -body)")
	hdr := headers{}
	fs.Var(hdr, "header", "a request header, Name: value (repeatable)")
	unique := fs.String("unique-header", "", "a header given a value of its own on every request (an Idempotency-Key)")
	status := fs.Int("status", http.StatusOK, "the status of a good answer")
	expect := fs.String("expect", "", "text a good answer's body contains")
	rate := fs.Int("rate", 100, "requests per second")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout; a later answer is a failure")
	if err := flaghelp.Parse(fs, args); err != nil {
		return err
	}
	var errs []error
	targets := []string{*target}
	if *urls != "" {
		b, err := os.ReadFile(*urls)
		if err != nil {
			return fmt.Errorf("-urls: %w", err)
		}
		targets = strings.Fields(string(b))
	}
	for _, t := range targets {
		if u, err := url.Parse(t); t == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("-url %q: an http(s) URL is required", t))
			break
		}
	}
	if *rate < 1 || *duration <= 0 || *timeout <= 0 {
		errs = append(errs, fmt.Errorf("-rate, -duration and -timeout must be positive"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	payloads := [][]byte{[]byte(*body)}
	if *bodies != "" {
		b, err := os.ReadFile(*bodies)
		if err != nil {
			return fmt.Errorf("-bodies: %w", err)
		}
		payloads = bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	}
	if (*body != "" || *bodies != "") && http.Header(hdr).Get("Content-Type") == "" {
		http.Header(hdr).Set("Content-Type", "application/json")
	}
	var seq atomic.Uint64
	prefix := strconv.FormatInt(time.Now().UnixNano(), 36)
	targeter := func(t *vegeta.Target) error {
		n := seq.Add(1)
		t.Method, t.URL, t.Body = *method, targets[n%uint64(len(targets))], payloads[n%uint64(len(payloads))]
		t.Header = http.Header(hdr).Clone()
		if *unique != "" {
			t.Header.Set(*unique, prefix+"-"+strconv.FormatUint(n, 10))
		}
		return nil
	}
	check := func(res *vegeta.Result) (loadgen.Outcome, string, string) {
		if ok, why, ex := loadgen.Transport(res, *status); !ok {
			return loadgen.Failed, why, ex
		}
		if *expect != "" && !bytes.Contains(res.Body, []byte(*expect)) {
			return loadgen.Failed, "unexpected answer", fmt.Sprintf("%.200s", res.Body)
		}
		return loadgen.Good, "", ""
	}
	rep := loadgen.Run(ctx, loadgen.Attack{Targeter: targeter, Check: check, Rate: *rate, Duration: *duration, Timeout: *timeout})
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
