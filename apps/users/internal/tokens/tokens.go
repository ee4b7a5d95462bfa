// Package tokens issues the users service's access tokens (see
// internal/accesstoken) and publishes the public keys that verify them as
// a JSON Web Key Set. The signing key comes from a file (Vault in staging and
// prod, the dev stack's dev-only credential in dev); a rotation keeps the
// previous key published for an overlap window, so tokens it signed stay
// valid until they expire.
package tokens

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/intelliflow/platform/internal/accesstoken"
)

// Key is an Ed25519 signing key and its id.
type Key struct {
	// ID is the RFC 7638 thumbprint of the public key: stable across
	// restarts and replicas, different for every key.
	ID      string
	Private ed25519.PrivateKey
}

// Public is the key's public half.
func (k Key) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// seedContext separates keys derived from a text secret from any other use
// of the same text.
const seedContext = "intelliflow access-token ed25519 v1\x00"

// ParseKey reads a signing key: a PEM PKCS#8 Ed25519 private key, or a
// random text secret of at least 32 characters (what a secrets store
// generates), from which the key is derived with SHA-256.
func ParseKey(material []byte) (Key, error) {
	if block, _ := pem.Decode(material); block != nil {
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return Key{}, fmt.Errorf("signing key: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return Key{}, fmt.Errorf("signing key is a %T, not Ed25519", k)
		}
		return withID(priv), nil
	}
	text := strings.TrimSpace(string(material))
	if len(text) < 32 {
		return Key{}, errors.New("signing key: neither a PEM Ed25519 key nor a secret of 32 characters or more")
	}
	seed := sha256.Sum256([]byte(seedContext + text))
	return withID(ed25519.NewKeyFromSeed(seed[:])), nil
}

func withID(priv ed25519.PrivateKey) Key {
	pub := priv.Public().(ed25519.PublicKey)
	// RFC 7638 for OKP keys: the members crv, kty, x in that order.
	canon := fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":"%s"}`, base64.RawURLEncoding.EncodeToString(pub))
	sum := sha256.Sum256([]byte(canon))
	return Key{ID: base64.RawURLEncoding.EncodeToString(sum[:]), Private: priv}
}

// Issuer signs access tokens.
type Issuer struct {
	keys             atomic.Pointer[keySet]
	issuer, audience string
	ttl              time.Duration
	now              func() time.Time
}

type keySet struct {
	current  Key
	previous []Key
	jwks     []byte
}

// NewIssuer signs with current and publishes previous too.
func NewIssuer(current Key, previous []Key, issuer, audience string, ttl time.Duration) (*Issuer, error) {
	i := &Issuer{issuer: issuer, audience: audience, ttl: ttl, now: time.Now}
	return i, i.SetKeys(current, previous)
}

// SetKeys replaces the keys (a rotation picked up from the key files).
func (i *Issuer) SetKeys(current Key, previous []Key) error {
	set := jwkset.NewMemoryStorage()
	ctx := context.Background()
	for _, k := range append([]Key{current}, previous...) {
		if k.ID == "" {
			continue
		}
		jwk, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
			ALG: jwkset.AlgEdDSA, KID: k.ID, USE: jwkset.UseSig, KEYOPS: []jwkset.KEYOPS{jwkset.KeyOpsVerify},
		}})
		if err != nil {
			return err
		}
		if err := set.KeyWrite(ctx, jwk); err != nil {
			return err
		}
	}
	doc, err := set.JSONPublic(ctx)
	if err != nil {
		return err
	}
	i.keys.Store(&keySet{current: current, previous: previous, jwks: doc})
	return nil
}

// JWKS is the JSON Web Key Set of every key whose tokens are still valid.
func (i *Issuer) JWKS() []byte { return i.keys.Load().jwks }

// KeyIDs are the current key's id and the previous keys'.
func (i *Issuer) KeyIDs() []string {
	ks := i.keys.Load()
	out := []string{ks.current.ID}
	for _, k := range ks.previous {
		out = append(out, k.ID)
	}
	return out
}

// Issue signs an access token for subject with role.
func (i *Issuer) Issue(subject, role string) (string, time.Time, error) {
	ks := i.keys.Load()
	now := i.now()
	exp := now.Add(i.ttl)
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, accesstoken.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: i.issuer, Subject: subject, Audience: jwt.ClaimStrings{i.audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
			ID: hex.EncodeToString(jti),
		},
		Role: role,
	})
	t.Header["kid"] = ks.current.ID
	s, err := t.SignedString(ks.current.Private)
	return s, exp, err
}

// Keyfunc finds the public key of a token's kid among the published keys.
func (i *Issuer) Keyfunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	ks := i.keys.Load()
	for _, k := range append([]Key{ks.current}, ks.previous...) {
		if k.ID == kid {
			return k.Public(), nil
		}
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

// Verify checks a token as every verifier does (internal/accesstoken).
func (i *Issuer) Verify(token string) (accesstoken.Claims, error) {
	return accesstoken.Parse(token, i.Keyfunc, i.issuer, i.audience, 30*time.Second)
}
