package accesstoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

const (
	iss = "https://api.intelliflow.test"
	aud = "intelliflow-api"
)

type signer struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	kid  string
}

func newSigner(t *testing.T) signer {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return signer{pub, priv, "key-1"}
}

func (s signer) keys(t *jwt.Token) (any, error) {
	if t.Header["kid"] != s.kid {
		return nil, jwt.ErrTokenUnverifiable
	}
	return s.pub, nil
}

func claims(mutate func(*Claims)) Claims {
	now := time.Now()
	c := Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: iss, Subject: "u-1", Audience: jwt.ClaimStrings{aud},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute))}, Role: "customer"}
	if mutate != nil {
		mutate(&c)
	}
	return c
}

func (s signer) sign(t *testing.T, c Claims, header map[string]any) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = s.kid
	for k, v := range header {
		tok.Header[k] = v
	}
	out, err := tok.SignedString(s.priv)
	require.NoError(t, err)
	return out
}

// TestAttacks: every token an attacker could forge or replay is refused.
func TestAttacks(t *testing.T) {
	s := newSigner(t)
	good := s.sign(t, claims(nil), nil)
	c, err := Parse(good, s.keys, iss, aud, time.Second)
	require.NoError(t, err)
	require.Equal(t, "u-1", c.Subject)

	b64 := base64.RawURLEncoding.EncodeToString
	payload := strings.Split(good, ".")[1]
	pubDER, err := x509.MarshalPKIXPublicKey(s.pub)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)

	hmacWithPublicKey := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
		tok.Header["kid"] = s.kid
		out, err := tok.SignedString(pubDER)
		require.NoError(t, err)
		return out
	}
	rs256 := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil))
		tok.Header["kid"] = s.kid
		out, err := tok.SignedString(rsaKey)
		require.NoError(t, err)
		return out
	}
	otherKey := newSigner(t)

	for _, tt := range []struct {
		name, token, want string
	}{
		{"alg none", b64([]byte(`{"alg":"none","typ":"JWT","kid":"key-1"}`)) + "." + payload + ".", "signing method none is invalid"},
		{"alg none, empty kid check bypass", b64([]byte(`{"alg":"none"}`)) + "." + payload + ".", "signing method none is invalid"},
		{"HMAC signed with the public key (algorithm confusion)", hmacWithPublicKey(), "signing method HS256 is invalid"},
		{"RS256", rs256(), "signing method RS256 is invalid"},
		{"expired", s.sign(t, claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute)) }), nil), "token is expired"},
		{"no expiry", s.sign(t, claims(func(c *Claims) { c.ExpiresAt = nil }), nil), "exp claim is required"},
		{"not yet valid", s.sign(t, claims(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) }), nil), "token is not valid yet"},
		{"issued in the future", s.sign(t, claims(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Hour)) }), nil), "token used before issued"},
		{"wrong issuer", s.sign(t, claims(func(c *Claims) { c.Issuer = "https://evil.example" }), nil), "token has invalid issuer"},
		{"wrong audience", s.sign(t, claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"another-api"} }), nil), "token has invalid audience"},
		{"unknown kid", s.sign(t, claims(nil), map[string]any{"kid": "key-9"}), "token is unverifiable"},
		{"no kid", s.sign(t, claims(nil), map[string]any{"kid": ""}), "token has no kid"},
		{"signed by another key", otherKey.sign(t, claims(nil), nil), "signature is invalid"},
		{"payload swapped", strings.Join([]string{strings.Split(good, ".")[0], b64([]byte(`{"sub":"admin-1","role":"admin"}`)), strings.Split(good, ".")[2]}, "."), "signature is invalid"},
		{"no subject", s.sign(t, claims(func(c *Claims) { c.Subject = "" }), nil), "token has no subject"},
		{"unknown role", s.sign(t, claims(func(c *Claims) { c.Role = "root" }), nil), `token role "root"`},
		{"garbage", "not.a.token", "token is malformed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.token, s.keys, iss, aud, time.Second)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestVerifierRemembersOnlyWhatVerified: a good token is checked against
// the key once and then trusted from memory, but never past its expiry;
// a bad one is checked (and refused) every time.
func TestVerifierRemembersOnlyWhatVerified(t *testing.T) {
	s := newSigner(t)
	lookups := 0
	keys := func(tok *jwt.Token) (any, error) { lookups++; return s.keys(tok) }
	v := NewVerifier(keys, iss, aud, 0, 100, time.Minute)
	now := time.Now()
	v.now = func() time.Time { return now }

	good := s.sign(t, claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(10 * time.Second)) }), nil)
	for range 3 {
		c, err := v.Verify(good)
		require.NoError(t, err)
		require.Equal(t, "u-1", c.Subject)
	}
	require.Equal(t, 1, lookups, "verified once, then remembered")

	now = now.Add(11 * time.Second)
	_, err := v.Verify(good)
	require.ErrorIs(t, err, jwt.ErrTokenExpired, "a remembered token still expires")

	bad := s.sign(t, claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"someone-else"} }), nil)
	lookups = 0
	for range 3 {
		_, err := v.Verify(bad)
		require.Error(t, err)
	}
	require.Equal(t, 3, lookups, "a refused token is never remembered")

	forged := good[:strings.LastIndex(good, ".")+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	_, err = v.Verify(forged)
	require.Error(t, err, "same claims, another signature: not the remembered token")
}
