// Package envconfig reads a service's settings from its environment once, at
// start: every bad value is collected and reported together with its key,
// a secret comes from KEY or from the file KEY_FILE names (what the Vault
// Agent renders in staging and prod), and the settings can be logged with
// every secret masked. It records the keys a service reads, so tests can
// hold them to the service's catalog entry.
package envconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reader reads settings and collects their errors.
type Reader struct {
	getenv   func(string) string
	errs     []error
	values   map[string]string // what was read, secrets masked
	secrets  map[string]bool
	required map[string]bool
}

// New reads from getenv (os.Getenv in main, a map in tests).
func New(getenv func(string) string) *Reader {
	return &Reader{getenv: getenv, values: map[string]string{}, secrets: map[string]bool{}, required: map[string]bool{}}
}

// Fail records a problem found while interpreting settings.
func (r *Reader) Fail(err error) { r.errs = append(r.errs, err) }

// Err joins every problem found, each naming its key.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Keys are the keys read so far, sorted; a secret is listed by its name,
// whether it came from KEY or KEY_FILE.
func (r *Reader) Keys() []string {
	out := make([]string, 0, len(r.values))
	for k := range r.values {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Contract is what a service reads from its environment: the stack must
// provide every key in Requires, and should provide nothing it never reads.
// Each service keeps its own in testdata/env.golden; infra's tests hold the
// stacks to them.
type Contract struct {
	Reads    []string `json:"reads"`
	Requires []string `json:"requires"`
}

// Contract is what the reader was asked for.
func (r *Reader) Contract() Contract { return Contract{Reads: r.Keys(), Requires: r.RequiredKeys()} }

// Require records that the service cannot start without key (for checks
// of its own; Required and required secrets record themselves).
func (r *Reader) Require(key string) { r.required[key] = true }

// RequiredKeys are the keys the service cannot start without, sorted: the
// stack must provide each (a secret as KEY or KEY_FILE).
func (r *Reader) RequiredKeys() []string {
	out := make([]string, 0, len(r.required))
	for k := range r.required {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// LogValue is the settings as read, secrets masked, for the start-up log
// line: slog calls it, so Reader can be logged as is.
func (r *Reader) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(r.values))
	for _, k := range r.Keys() {
		attrs = append(attrs, slog.String(k, r.values[k]))
	}
	return slog.GroupValue(attrs...)
}

func (r *Reader) raw(key, def string) string {
	v := r.getenv(key)
	if v == "" {
		v = def
	}
	r.values[key] = v
	return v
}

// String is key's value, or def when unset.
func (r *Reader) String(key, def string) string { return r.raw(key, def) }

// Required is key's value; unset is an error.
func (r *Reader) Required(key string) string {
	r.Require(key)
	v := r.raw(key, "")
	if v == "" {
		r.Fail(fmt.Errorf("%s: required", key))
	}
	return v
}

// Int is key as an integer in [lo, hi].
func (r *Reader) Int(key string, def, lo, hi int) int {
	s := r.raw(key, strconv.Itoa(def))
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		r.Fail(fmt.Errorf("%s: %q is not a whole number from %d to %d", key, s, lo, hi))
	}
	return n
}

// Float is key as a number in [lo, hi].
func (r *Reader) Float(key string, def, lo, hi float64) float64 {
	s := r.raw(key, strconv.FormatFloat(def, 'g', -1, 64))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < lo || f > hi {
		r.Fail(fmt.Errorf("%s: %q is not a number from %g to %g", key, s, lo, hi))
	}
	return f
}

// Bool is key as true or false.
func (r *Reader) Bool(key string, def bool) bool {
	s := r.raw(key, strconv.FormatBool(def))
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	r.Fail(fmt.Errorf("%s: %q is not true or false", key, s))
	return def
}

// Duration is key as a Go duration above zero.
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	s := r.raw(key, def.String())
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.Fail(fmt.Errorf("%s: %q is not a positive duration (e.g. 150ms, 30s)", key, s))
	}
	return d
}

// Addr is the listen address for the port in key on BIND_ADDRESS (all
// interfaces when unset).
func (r *Reader) Addr(key string, def int) string {
	port := r.Int(key, def, 0, 65535)
	return net.JoinHostPort(r.String("BIND_ADDRESS", ""), strconv.Itoa(port))
}

// Level is key as a log level (debug, info, warn, error).
func (r *Reader) Level(key string, def slog.Level) slog.Level {
	s := r.raw(key, strings.ToLower(def.String()))
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		r.Fail(fmt.Errorf("%s: %q is not debug, info, warn or error", key, s))
	}
	return l
}

// List is key as a comma-separated list, empty entries dropped.
func (r *Reader) List(key, def string) []string {
	var out []string
	for _, f := range strings.Split(r.raw(key, def), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Secret is the value of key, or the content of the file key_FILE names
// (trimmed), never both; it is masked wherever the settings are shown.
// required makes an unset secret an error.
func (r *Reader) Secret(key string, required bool) string {
	r.secrets[key] = true
	if required {
		r.Require(key)
	}
	v, file := r.getenv(key), r.getenv(key+"_FILE")
	switch {
	case v != "" && file != "":
		r.Fail(fmt.Errorf("%s and %s_FILE are both set; set one", key, key))
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			r.Fail(fmt.Errorf("%s_FILE: %w", key, err))
		}
		v = strings.TrimSpace(string(b))
		if v == "" && err == nil {
			r.Fail(fmt.Errorf("%s_FILE: %s is empty", key, file))
		}
	case v == "" && required:
		r.Fail(fmt.Errorf("%s: required (or %s_FILE naming a file that holds it)", key, key))
	}
	r.values[key] = mask(v)
	return v
}

// Rotating is a secret that may change while the service runs: the Vault
// Agent re-renders its file when a lease is renewed (dynamic database
// users). Value reads the file again on every call.
type Rotating struct {
	key, value, file string
}

// Value is the secret as it is now.
func (s Rotating) Value() (string, error) {
	if s.file == "" {
		return s.value, nil
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", s.key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// RotatingSecret is Secret for a value that may rotate: it is checked now
// and read again whenever Value is called.
func (r *Reader) RotatingSecret(key string, required bool) Rotating {
	v := r.Secret(key, required)
	return Rotating{key: key, value: v, file: r.getenv(key + "_FILE")}
}

// mask shows whether a secret is set, never any of it.
func mask(v string) string {
	if v == "" {
		return ""
	}
	return "[set]"
}

// File is the content of the file key names, and whether key is set; a
// file that cannot be read is an error (and nil content).
func (r *Reader) File(key string) (content []byte, set bool) {
	path := r.raw(key, "")
	if path == "" {
		return nil, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		r.Fail(fmt.Errorf("%s: %w", key, err))
	}
	return b, true
}

// Standard are the keys every service reads besides its catalog entry's:
// where it listens, how it logs and how long it drains.
var Standard = []string{"BIND_ADDRESS", "HTTP_PORT", "METRICS_PORT", "LOG_LEVEL", "SHUTDOWN_DRAIN"}
