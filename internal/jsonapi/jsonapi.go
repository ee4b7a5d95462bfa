// Package jsonapi is how the services read and write JSON over HTTP: request
// bodies decoded strictly (JSON content type, no unknown fields, no trailing
// data, a size bound) with the right status for each refusal, and errors
// answered as {"error": "..."} naming the problem.
package jsonapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"

	"github.com/intelliflow/platform/internal/telemetry"
)

// Error is a refusal with its HTTP status.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Errorf makes a refusal.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// Decode reads r's body into v: 415 unless the content type is JSON, 413
// past max bytes, 400 for malformed JSON, an unknown field or a second
// value.
func Decode(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return Errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
	return DecodeBody(w, r, max, v)
}

// DecodeBody is Decode whatever the content type says, for an API that
// never asked its clients for one (fraud's scoring and inference calls).
func DecodeBody(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, max)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", tooBig.Limit)
		}
		return Errorf(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "malformed JSON: more than one value")
	}
	return nil
}

// Write answers with v as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Fail answers with err: its own status when it is an *Error, 500 and a
// message that hides the cause otherwise (the caller logs it).
func Fail(w http.ResponseWriter, err error) {
	var e *Error
	if errors.As(err, &e) {
		Write(w, e.Status, map[string]string{"error": e.Msg})
		return
	}
	Write(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
}

// FailLogged is Fail for a handler: an error that is not an *Error is a
// 500 whose cause the client is not told, so it is logged with the route
// and the request id.
func FailLogged(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		log.Error("request failed", "route", r.Pattern, "error", err.Error(), "request_id", telemetry.RequestID(r.Context()))
	}
	Fail(w, err)
}

// Page sizes every list endpoint accepts in ?limit=.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Limit reads ?limit= (DefaultLimit when absent); anything but an integer
// from 1 to MaxLimit is a 400.
func Limit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, Errorf(http.StatusBadRequest, "limit: %q is not 1 to %d", s, MaxLimit)
	}
	return n, nil
}
