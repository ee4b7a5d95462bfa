// Package kubeauth lets a service know which workload calls it: the caller
// sends its Kubernetes ServiceAccount token (a projected token minted for
// the callee's audience), and the API server says whose it is
// (TokenReview). A token minted for another audience, for the API server
// itself, expired, or of a deleted ServiceAccount does not pass. The
// callee's own ServiceAccount needs to create TokenReviews (the
// system:auth-delegator ClusterRole).
package kubeauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/intelliflow/platform/internal/jsonapi"
)

// ErrUnauthenticated is a token the API server does not vouch for.
var ErrUnauthenticated = errors.New("not a valid service account token for this audience")

// Reviewer asks the API server whose a token is, and remembers the answer
// for a short while (a reload storm must not become a TokenReview storm).
type Reviewer struct {
	client   kubernetes.Interface
	audience string
	ttl      time.Duration
	now      func() time.Time
	seen     *lru.Cache[[32]byte, reviewed]
}

type reviewed struct {
	username string
	until    time.Time
}

// NewReviewer reviews tokens for audience with client; a token that passed
// is trusted for ttl without asking again.
func NewReviewer(client kubernetes.Interface, audience string, ttl time.Duration) *Reviewer {
	seen, _ := lru.New[[32]byte, reviewed](1024) // only fails for a size <= 0
	return &Reviewer{client: client, audience: audience, ttl: ttl, now: time.Now, seen: seen}
}

// Review returns the username of token's owner
// ("system:serviceaccount:NAMESPACE:NAME"), or ErrUnauthenticated.
func (r *Reviewer) Review(ctx context.Context, token string) (string, error) {
	key := sha256.Sum256([]byte(token))
	if v, ok := r.seen.Get(key); ok && r.now().Before(v.until) {
		return v.username, nil
	}
	res, err := r.client.AuthenticationV1().TokenReviews().Create(ctx, &authv1.TokenReview{
		Spec: authv1.TokenReviewSpec{Token: token, Audiences: []string{r.audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token review: %w", err)
	}
	if !res.Status.Authenticated || !slices.Contains(res.Status.Audiences, r.audience) {
		return "", ErrUnauthenticated
	}
	r.seen.Add(key, reviewed{username: res.Status.User.Username, until: r.now().Add(r.ttl)})
	return res.Status.User.Username, nil
}

type callerKey struct{}

// Caller is the verified identity Require put in the request's context.
func Caller(ctx context.Context) string {
	s, _ := ctx.Value(callerKey{}).(string)
	return s
}

// Require lets through only callers whose verified username is in allowed:
// 401 without a valid token for the audience, 403 for another identity,
// 503 when the API server cannot be asked. An empty allowed refuses
// everyone.
func Require(r *Reviewer, allowed []string, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kubernetes service account"`)
			jsonapi.Fail(w, jsonapi.Errorf(http.StatusUnauthorized, "a service account token is required (Authorization: Bearer)"))
			return
		}
		user, err := r.Review(req.Context(), strings.TrimSpace(token))
		switch {
		case errors.Is(err, ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="kubernetes service account", error="invalid_token"`)
			jsonapi.Fail(w, jsonapi.Errorf(http.StatusUnauthorized, "%s", err.Error()))
			return
		case err != nil:
			log.Error("token review failed", "path", req.URL.Path, "error", err.Error())
			jsonapi.Fail(w, jsonapi.Errorf(http.StatusServiceUnavailable, "the caller cannot be verified now"))
			return
		case !slices.Contains(allowed, user):
			log.Warn("caller refused", "path", req.URL.Path, "caller", user)
			jsonapi.Fail(w, jsonapi.Errorf(http.StatusForbidden, "%s may not call this", user))
			return
		}
		next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), callerKey{}, user)))
	})
}

// Config is the client's configuration: the kubeconfig file when given
// (a developer's, a test's), else the pod's own (in cluster).
func Config(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return rest.InClusterConfig()
}
