// Package api is the users service's HTTP API: accounts, logins, token
// refresh and logout, profiles, and the public keys that verify its tokens.
// Callers are authenticated by the gateway (internal/identity); the auth
// endpoints are public.
package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/intelliflow/platform/apps/users/internal/passwords"
	"github.com/intelliflow/platform/apps/users/internal/tokens"
	"github.com/intelliflow/platform/apps/users/internal/userdb"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/jsonapi"
	"github.com/intelliflow/platform/internal/ratelimit"
	"github.com/intelliflow/platform/internal/telemetry"
)

// maxBody bounds request bodies: a login is a few hundred bytes.
const maxBody = 16 << 10

// Config is the API's dependencies and policy.
type Config struct {
	Store   *userdb.Store
	Tokens  *tokens.Issuer
	Redis   *redis.Client
	Limiter *ratelimit.Limiter
	Metrics *Metrics
	HTTP    *telemetry.HTTP
	Log     *slog.Logger

	Passwords passwords.Params
	// Hashing bounds concurrent password hashes; nil: one per core,
	// waiting at most HashWait.
	Hashing           *passwords.Pool
	PasswordMinLength int
	RefreshTTL        time.Duration
	CacheTTL          time.Duration
	// PerAccount and PerIP limit login attempts.
	PerAccount, PerIP ratelimit.Limit
}

// HashWait is how long a login or a registration waits for a core to hash
// its password before it is answered 503: what a client would otherwise
// spend in a queue growing faster than it drains.
const HashWait = 250 * time.Millisecond

// hashing runs f (a password hash) within the pool; false when it
// answered instead: 503 with Retry-After at capacity.
func (a *API) hashing(w http.ResponseWriter, r *http.Request, f func()) bool {
	err := a.c.Hashing.Do(r.Context(), f)
	if errors.Is(err, passwords.ErrBusy) {
		w.Header().Set("Retry-After", "1")
		a.fail(w, r, jsonapi.Errorf(http.StatusServiceUnavailable, "too many logins at once; retry in a second"))
		return false
	}
	if err != nil {
		a.fail(w, r, err)
		return false
	}
	return true
}

// API serves the routes.
type API struct {
	c Config
	// dummy is verified against when an email is unknown, so a login
	// takes as long whether or not the account exists.
	dummy string
}

// New builds the API.
func New(c Config) (*API, error) {
	if c.Hashing == nil {
		c.Hashing = passwords.NewPool(runtime.GOMAXPROCS(0), HashWait)
	}
	dummy, err := passwords.Hash("no account has this password", c.Passwords)
	if err != nil {
		return nil, err
	}
	return &API{c: c, dummy: dummy}, nil
}

// Handler is every route.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) { a.c.HTTP.Handle(mux, pattern, h) }
	handle("POST /v1/auth/register", a.register)
	handle("POST /v1/auth/login", a.login)
	handle("POST /v1/auth/refresh", a.refresh)
	handle("POST /v1/auth/logout", a.logout)
	handle("GET /v1/users/me", a.me)
	handle("PATCH /v1/users/me", a.updateMe)
	handle("GET /v1/users/{id}", a.user)
	handle("GET /v1/users", a.list)
	handle("GET /.well-known/jwks.json", a.jwks)
	return mux
}

// errNoAccount is the one answer for an account that is missing or not
// the caller's to see, so ids cannot be probed.
var errNoAccount = jsonapi.Errorf(http.StatusNotFound, "account not found")

// fail answers err, logging what the client is not told. A missing
// account is a 404 wherever it is found missing.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, userdb.ErrNotFound):
		err = errNoAccount
	case errors.Is(err, userdb.ErrBadCursor):
		err = jsonapi.Errorf(http.StatusBadRequest, "%s", err.Error())
	}
	jsonapi.FailLogged(a.c.Log, w, r, err)
}

// normalizeEmail lower-cases and checks an address.
func normalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 || a.Name != "" {
		return "", jsonapi.Errorf(http.StatusUnprocessableEntity, "email: %q is not an address", s)
	}
	return s, nil
}

func (a *API) checkPassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < a.c.PasswordMinLength:
		return jsonapi.Errorf(http.StatusUnprocessableEntity, "password: at least %d characters", a.c.PasswordMinLength)
	case len(password) > 256:
		return jsonapi.Errorf(http.StatusUnprocessableEntity, "password: at most 256 bytes")
	case strings.EqualFold(password, email):
		return jsonapi.Errorf(http.StatusUnprocessableEntity, "password: must not be the email")
	}
	return nil
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) {
		return "", jsonapi.Errorf(http.StatusUnprocessableEntity, "name: 1 to 200 characters")
	}
	return name, nil
}

// limit spends one attempt of each rule, answering 429 when one refuses.
func (a *API) limit(w http.ResponseWriter, r *http.Request, rules ...ratelimit.Rule) bool {
	ok, wait, err := a.c.Limiter.Allow(r.Context(), rules...)
	if err != nil {
		a.c.Log.Warn("rate limit unavailable; allowing", "error", err.Error())
	}
	if !ok {
		ratelimit.TooMany(w, wait)
	}
	return ok
}

func ipRule(r *http.Request, limit ratelimit.Limit) ratelimit.Rule {
	return ratelimit.Rule{Key: "users:login:ip:" + identity.ClientIP(r), Limit: limit}
}

func (a *API) register(w http.ResponseWriter, r *http.Request) {
	var q struct {
		Email, Password, Name string
	}
	if err := jsonapi.Decode(w, r, maxBody, &q); err != nil {
		a.fail(w, r, err)
		return
	}
	email, err := normalizeEmail(q.Email)
	if err == nil {
		err = a.checkPassword(q.Password, email)
	}
	name, nerr := checkName(q.Name)
	if err = errors.Join(err, nerr); err != nil {
		jsonapi.Write(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		return
	}
	if !a.limit(w, r, ipRule(r, a.c.PerIP)) {
		return
	}
	var hash string
	if !a.hashing(w, r, func() { hash, err = passwords.Hash(q.Password, a.c.Passwords) }) {
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.c.Store.Create(r.Context(), email, name, hash)
	if errors.Is(err, userdb.ErrEmailTaken) {
		a.fail(w, r, jsonapi.Errorf(http.StatusConflict, "email already registered"))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.c.Log.Info("audit", "action", "user.register", "actor", u.ID, "outcome", "success", "source_ip", identity.ClientIP(r))
	jsonapi.Write(w, http.StatusCreated, u)
}

// tokenPair is what a login or a refresh answers.
type tokenPair struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
}

func newRefreshToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *API) pair(u userdb.User, refresh string) (tokenPair, error) {
	access, exp, err := a.c.Tokens.Issue(u.ID, u.Role)
	if err != nil {
		return tokenPair{}, err
	}
	a.c.Metrics.TokensIssued.Inc()
	return tokenPair{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(time.Until(exp).Round(time.Second).Seconds()),
		RefreshToken: refresh, RefreshExpiresIn: int(a.c.RefreshTTL.Seconds())}, nil
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var q struct{ Email, Password string }
	if err := jsonapi.Decode(w, r, maxBody, &q); err != nil {
		a.fail(w, r, err)
		return
	}
	email := strings.ToLower(strings.TrimSpace(q.Email))
	account := sha256.Sum256([]byte(email)) // the key never holds the address
	if !a.limit(w, r, ipRule(r, a.c.PerIP), ratelimit.Rule{Key: "users:login:account:" + hex.EncodeToString(account[:16]), Limit: a.c.PerAccount}) {
		a.c.Metrics.Logins.WithLabelValues("limited").Inc()
		return
	}
	u, err := a.c.Store.ByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, userdb.ErrNotFound) {
		a.fail(w, r, err)
		return
	}
	stored := u.PasswordHash
	if errors.Is(err, userdb.ErrNotFound) || len(q.Password) > 256 {
		stored = a.dummy
	}
	var ok, rehash bool
	var verr error
	if !a.hashing(w, r, func() { ok, rehash, verr = passwords.Verify(q.Password, stored, a.c.Passwords) }) {
		a.c.Metrics.Logins.WithLabelValues("busy").Inc()
		return
	}
	if verr != nil {
		a.fail(w, r, fmt.Errorf("user %s: %w", u.ID, verr))
		return
	}
	if !ok || stored == a.dummy {
		a.c.Metrics.Logins.WithLabelValues("failure").Inc()
		a.c.Log.Info("audit", "action", "user.login", "actor", u.ID, "outcome", "failure", "source_ip", identity.ClientIP(r))
		a.fail(w, r, jsonapi.Errorf(http.StatusUnauthorized, "invalid email or password"))
		return
	}
	if rehash {
		// Best effort, in the pool too: the login already succeeded.
		var h string
		var herr error
		if a.c.Hashing.Do(r.Context(), func() { h, herr = passwords.Hash(q.Password, a.c.Passwords) }) == nil && herr == nil {
			if err := a.c.Store.SetPasswordHash(r.Context(), u.ID, h); err != nil {
				a.c.Log.Warn("password rehash failed", "user", u.ID, "error", err.Error())
			}
		}
	}
	refresh := newRefreshToken()
	if err := a.c.Store.StartFamily(r.Context(), u.ID, refresh, time.Now().Add(a.c.RefreshTTL)); err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.pair(u, refresh)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.c.Metrics.Logins.WithLabelValues("success").Inc()
	a.c.Log.Info("audit", "action", "user.login", "actor", u.ID, "outcome", "success", "source_ip", identity.ClientIP(r))
	w.Header().Set("Cache-Control", "no-store")
	jsonapi.Write(w, http.StatusOK, p)
}

func (a *API) refresh(w http.ResponseWriter, r *http.Request) {
	var q struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := jsonapi.Decode(w, r, maxBody, &q); err != nil {
		a.fail(w, r, err)
		return
	}
	next := newRefreshToken()
	u, err := a.c.Store.Rotate(r.Context(), q.RefreshToken, next, time.Now().Add(a.c.RefreshTTL))
	switch {
	case errors.Is(err, userdb.ErrTokenReused):
		a.c.Metrics.Refreshes.WithLabelValues("reused").Inc()
		a.c.Log.Warn("audit", "action", "token.refresh", "outcome", "reuse_detected", "source_ip", identity.ClientIP(r))
		a.fail(w, r, jsonapi.Errorf(http.StatusUnauthorized, "%v", err))
		return
	case errors.Is(err, userdb.ErrTokenInvalid):
		a.c.Metrics.Refreshes.WithLabelValues("invalid").Inc()
		a.fail(w, r, jsonapi.Errorf(http.StatusUnauthorized, "%v", err))
		return
	case err != nil:
		a.fail(w, r, err)
		return
	}
	p, err := a.pair(u, next)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.c.Metrics.Refreshes.WithLabelValues("success").Inc()
	w.Header().Set("Cache-Control", "no-store")
	jsonapi.Write(w, http.StatusOK, p)
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	var q struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := jsonapi.Decode(w, r, maxBody, &q); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.c.Store.RevokeFamily(r.Context(), q.RefreshToken); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// caller is the authenticated caller, or a 401.
func caller(w http.ResponseWriter, r *http.Request) (identity.Caller, bool) {
	c, ok := identity.FromRequest(r)
	if !ok {
		jsonapi.Fail(w, jsonapi.Errorf(http.StatusUnauthorized, "authentication required"))
	}
	return c, ok
}

func cacheKey(id string) string { return "users:profile:" + id }

// profile reads an account through the cache.
func (a *API) profile(ctx context.Context, id string) (userdb.User, error) {
	if b, err := a.c.Redis.Get(ctx, cacheKey(id)).Bytes(); err == nil {
		var u userdb.User
		if json.Unmarshal(b, &u) == nil {
			a.c.Metrics.Cache.WithLabelValues("hit").Inc()
			return u, nil
		}
	} else if errors.Is(err, redis.Nil) {
		a.c.Metrics.Cache.WithLabelValues("miss").Inc()
	} else {
		a.c.Metrics.Cache.WithLabelValues("error").Inc()
	}
	u, err := a.c.Store.ByID(ctx, id)
	if err != nil {
		return u, err
	}
	if b, err := json.Marshal(u); err == nil {
		_ = a.c.Redis.Set(ctx, cacheKey(id), b, a.c.CacheTTL).Err() // best effort: the database answered
	}
	return u, nil
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	u, err := a.profile(r.Context(), c.Subject)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, u)
}

func (a *API) updateMe(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	var q struct{ Name string }
	if err := jsonapi.Decode(w, r, maxBody, &q); err != nil {
		a.fail(w, r, err)
		return
	}
	name, err := checkName(q.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.c.Store.Rename(r.Context(), c.Subject, name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// After the write: the next read fills the cache from the database.
	if err := a.c.Redis.Del(r.Context(), cacheKey(u.ID)).Err(); err != nil {
		a.c.Log.Warn("profile cache not invalidated; it expires on its own", "user", u.ID, "ttl", a.c.CacheTTL, "error", err.Error())
	}
	jsonapi.Write(w, http.StatusOK, u)
}

// user is one account: the caller's own, or any for an admin. Others get
// 404, not 403, so ids cannot be probed.
func (a *API) user(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if id != c.Subject && !c.Admin() {
		a.fail(w, r, errNoAccount)
		return
	}
	u, err := a.profile(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, u)
}

// list pages through every account, for admins: ?after=<id>&limit=<1..200>.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	if !c.Admin() {
		a.fail(w, r, jsonapi.Errorf(http.StatusForbidden, "admins only"))
		return
	}
	limit, err := jsonapi.Limit(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	users, err := a.c.Store.List(r.Context(), r.URL.Query().Get("after"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	next := ""
	if len(users) == limit {
		next = users[len(users)-1].ID
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"users": users, "next": next})
}

func (a *API) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(a.c.Tokens.JWKS())
}
