// Package mlflow reads the MLflow model registry over its REST API (2.x,
// the /api/2.0/mlflow routes): the model version an alias points to, and
// the run that produced it with its metrics. It writes only tags on a
// model version, to record what the platform did with it. MLflow has no
// Go client; the calls are plain JSON over HTTP with a bearer token.
package mlflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client calls one MLflow tracking server.
type Client struct {
	// BaseURL is the server's root (https://mlflow.example), without
	// /api.
	BaseURL string
	// Token, when set, is sent as a bearer token.
	Token string
	HTTP  *http.Client
}

// Tag is a key and value on a registry object.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ModelVersion is a registered model's version.
type ModelVersion struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Source is where the version's files are (s3://bucket/folder).
	Source  string   `json:"source"`
	RunID   string   `json:"run_id"`
	Status  string   `json:"status"`
	Tags    []Tag    `json:"tags"`
	Aliases []string `json:"aliases"`
}

// Tag is the value of key, "" when unset.
func (m ModelVersion) Tag(key string) string {
	for _, t := range m.Tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// Metric is a run's metric at one step.
type Metric struct {
	Key   string  `json:"key"`
	Value float64 `json:"value"`
	Step  int64   `json:"step"`
}

// Run is a training run.
type Run struct {
	Info struct {
		RunID       string `json:"run_id"`
		Status      string `json:"status"`
		ArtifactURI string `json:"artifact_uri"`
	} `json:"info"`
	Data struct {
		Metrics []Metric `json:"metrics"`
		Params  []Tag    `json:"params"`
		Tags    []Tag    `json:"tags"`
	} `json:"data"`
}

// Metric is the latest value of key; ok is false when the run has none.
func (r Run) Metric(key string) (value float64, ok bool) {
	var step int64 = -1
	for _, m := range r.Data.Metrics {
		if m.Key == key && m.Step >= step {
			value, ok, step = m.Value, true, m.Step
		}
	}
	return value, ok
}

// Error is MLflow's answer to a failed call.
type Error struct {
	Status  int
	Code    string `json:"error_code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("mlflow: %d %s: %s", e.Status, e.Code, e.Message)
}

// NotFound reports whether err is MLflow saying the object does not exist
// (an alias not set answers INVALID_PARAMETER_VALUE on some versions).
func NotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == "RESOURCE_DOES_NOT_EXIST" ||
		e.Code == "INVALID_PARAMETER_VALUE" && strings.Contains(e.Message, "not found"))
}

// VersionByAlias is the version alias points to in model name.
func (c *Client) VersionByAlias(ctx context.Context, name, alias string) (ModelVersion, error) {
	var out struct {
		ModelVersion ModelVersion `json:"model_version"`
	}
	err := c.call(ctx, http.MethodGet, "registered-models/alias", url.Values{"name": {name}, "alias": {alias}}, nil, &out)
	if err == nil && out.ModelVersion.Version == "" {
		err = fmt.Errorf("mlflow: %s@%s: an answer without a model version", name, alias)
	}
	return out.ModelVersion, err
}

// Run is the run runID.
func (c *Client) Run(ctx context.Context, runID string) (Run, error) {
	var out struct {
		Run Run `json:"run"`
	}
	err := c.call(ctx, http.MethodGet, "runs/get", url.Values{"run_id": {runID}}, nil, &out)
	return out.Run, err
}

// SetVersionTag sets a tag on a model version.
func (c *Client) SetVersionTag(ctx context.Context, name, version, key, value string) error {
	body := map[string]string{"name": name, "version": version, "key": key, "value": value}
	return c.call(ctx, http.MethodPost, "model-versions/set-tag", nil, body, nil)
}

func (c *Client) call(ctx context.Context, method, route string, query url.Values, body, out any) error {
	u := strings.TrimSuffix(c.BaseURL, "/") + "/api/2.0/mlflow/" + route
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reader)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("mlflow %s: %w", route, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("mlflow %s: %w", route, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Code, e.Message = http.StatusText(resp.StatusCode), strings.TrimSpace(string(b[:min(len(b), 200)]))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("mlflow %s: the answer is not the documented JSON: %w", route, err)
	}
	return nil
}
