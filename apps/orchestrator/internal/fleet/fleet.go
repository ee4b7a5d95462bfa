// Package fleet reloads the fraud servers onto a promoted model version,
// one at a time: each must answer that it serves the version before the
// next is asked, and the first refusal stops the roll, so a version that
// cannot load on one pod never reaches the others. In a cluster the
// servers are the ready pods of fraud's Deployment (client-go); on one
// machine, a list of URLs. The orchestrator proves who it is with its
// ServiceAccount's projected token for fraud's audience, read from its
// file at each call (the kubelet rotates it).
package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Instance is one fraud server.
type Instance struct {
	// Name is the pod's name (or the URL).
	Name string
	// URL is its API's base URL.
	URL string
}

// Targets lists the servers to reload.
type Targets interface {
	Instances(ctx context.Context) ([]Instance, error)
}

// Static is a fixed list of base URLs.
type Static []string

// Instances is the list.
func (s Static) Instances(context.Context) ([]Instance, error) {
	out := make([]Instance, 0, len(s))
	for _, u := range s {
		out = append(out, Instance{Name: u, URL: strings.TrimSuffix(u, "/")})
	}
	return out, nil
}

// Pods are the ready pods selected in a namespace, reached on Port by
// their IPs, in name order.
type Pods struct {
	Client    kubernetes.Interface
	Namespace string
	Selector  string
	Port      int
}

// Instances lists the pods; a pod not ready is not a server to roll (it
// loads the newest version when it starts).
func (p Pods) Instances(ctx context.Context) ([]Instance, error) {
	list, err := p.Client.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: p.Selector})
	if err != nil {
		return nil, fmt.Errorf("list fraud pods (%s in %s): %w", p.Selector, p.Namespace, err)
	}
	var out []Instance
	for _, pod := range list.Items {
		if pod.DeletionTimestamp != nil || pod.Status.PodIP == "" || !ready(pod) {
			continue
		}
		out = append(out, Instance{Name: pod.Name, URL: "http://" + pod.Status.PodIP + ":" + strconv.Itoa(p.Port)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func ready(pod corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Reloader rolls the targets.
type Reloader struct {
	Targets Targets
	// TokenFile holds the bearer token fraud checks (TokenReview).
	TokenFile string
	HTTP      *http.Client
}

// Outcome is how one server answered.
type Outcome struct {
	Instance string `json:"instance"`
	Status   int    `json:"status"`
	Serving  string `json:"serving,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Roll asks each server that does not serve version yet, in turn, to load
// it (its model.json has sha256), and stops at the first that does not
// answer it serves it. It returns the answers of the servers it asked;
// err names the refusal.
func (r Reloader) Roll(ctx context.Context, version, sha256 string) ([]Outcome, error) {
	instances, err := r.Targets.Instances(ctx)
	if err != nil {
		return nil, err
	}
	if len(instances) == 0 {
		return nil, fmt.Errorf("no fraud server to reload")
	}
	var out []Outcome
	for _, in := range instances {
		if r.serves(ctx, in) == version {
			continue
		}
		o := r.reload(ctx, in, version, sha256)
		out = append(out, o)
		if o.Status != http.StatusOK || o.Serving != version {
			return out, fmt.Errorf("%s refused version %s (%d %s); the roll stops after %d reloads, the rest were not asked",
				in.Name, version, o.Status, o.Error, len(out)-1)
		}
	}
	return out, nil
}

// serves is the version in answers it serves (the Open Inference
// Protocol's model metadata), "" when it does not answer.
func (r Reloader) serves(ctx context.Context, in Instance) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL+"/v2/models/fraud", nil)
	if err != nil {
		return ""
	}
	resp, err := r.client().Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var meta struct {
		Versions []string `json:"versions"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&meta) != nil || len(meta.Versions) != 1 {
		return ""
	}
	return meta.Versions[0]
}

func (r Reloader) client() *http.Client {
	if r.HTTP != nil {
		return r.HTTP
	}
	return http.DefaultClient
}

func (r Reloader) reload(ctx context.Context, in Instance, version, sha256 string) Outcome {
	o := Outcome{Instance: in.Name}
	token, err := os.ReadFile(r.TokenFile)
	if err != nil {
		o.Error = "no token: " + err.Error()
		return o
	}
	body, _ := json.Marshal(map[string]string{"version": version, "sha256": sha256})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL+"/admin/reload", bytes.NewReader(body))
	if err != nil {
		o.Error = err.Error()
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := r.client().Do(req)
	if err != nil {
		o.Error = err.Error()
		return o
	}
	defer resp.Body.Close()
	var answer struct {
		Serving string `json:"serving"`
		Error   string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(b, &answer)
	o.Status, o.Serving, o.Error = resp.StatusCode, answer.Serving, answer.Error
	return o
}
