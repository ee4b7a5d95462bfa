// Package accesstoken is the platform's access token: a JWT the users
// service signs with an Ed25519 key (EdDSA) named by a kid, and what every
// verifier checks: only EdDSA (so neither "none" nor an HMAC token signed
// with the public key passes), a known kid, the issuer and audience,
// expiry required, not-before and issued-at honoured, a subject and a role.
package accesstoken

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/intelliflow/platform/internal/identity"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "EdDSA"

// Claims are an access token's claims.
type Claims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

// Parse verifies token with the key keys returns for its kid and returns its
// claims; leeway absorbs clock skew between issuer and verifier.
func Parse(token string, keys jwt.Keyfunc, issuer, audience string, leeway time.Duration) (Claims, error) {
	return parse(token, keys, issuer, audience, leeway, time.Now)
}

func parse(token string, keys jwt.Keyfunc, issuer, audience string, leeway time.Duration, now func() time.Time) (Claims, error) {
	var c Claims
	p := jwt.NewParser(jwt.WithValidMethods([]string{Algorithm}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(leeway), jwt.WithTimeFunc(now))
	t, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid == "" {
			return nil, errors.New("token has no kid")
		}
		return keys(t)
	})
	if err != nil {
		return Claims{}, err
	}
	if !t.Valid {
		return Claims{}, errors.New("token is not valid")
	}
	if c.Subject == "" {
		return Claims{}, errors.New("token has no subject")
	}
	if c.Role != identity.RoleCustomer && c.Role != identity.RoleAdmin {
		return Claims{}, fmt.Errorf("token role %q is not one the platform knows", c.Role)
	}
	return c, nil
}

// Verifier is Parse with a memory of the tokens it verified. A client
// sends the same token with every call for its whole life, and the Ed25519
// check is most of what verifying costs (about 120 µs of a core here,
// measured by BenchmarkGateway's profile); a token seen again is trusted
// from memory for at most its TTL, and never past its own expiry.
//
// What a cached token skips is the key lookup: a key dropped from the key
// set stops verifying tokens already seen only once their entries expire.
// Access tokens cannot be revoked anyway (they live minutes); the TTL is
// kept below the key set's refresh interval.
type Verifier struct {
	keys             jwt.Keyfunc
	issuer, audience string
	leeway           time.Duration
	ttl              time.Duration
	now              func() time.Time
	seen             *lru.Cache[string, remembered]
}

// remembered is a verified token's claims and until when they are trusted
// without a new check. The LRU has no clock of its own (its expiring
// variant runs a goroutine per cache that nothing stops).
type remembered struct {
	claims Claims
	until  time.Time
}

// NewVerifier verifies with Parse's rules, remembering up to size tokens
// for ttl each (size 0: no memory).
func NewVerifier(keys jwt.Keyfunc, issuer, audience string, leeway time.Duration, size int, ttl time.Duration) *Verifier {
	v := &Verifier{keys: keys, issuer: issuer, audience: audience, leeway: leeway, ttl: ttl, now: time.Now}
	if size > 0 {
		v.seen, _ = lru.New[string, remembered](size) // only fails for size <= 0
	}
	return v
}

// Verify is Parse, from memory when token verified before. Only tokens
// that verified are remembered.
func (v *Verifier) Verify(token string) (Claims, error) {
	if v.seen != nil {
		if r, ok := v.seen.Get(token); ok && v.now().Before(r.until) {
			return r.claims, nil
		}
	}
	c, err := parse(token, v.keys, v.issuer, v.audience, v.leeway, v.now)
	if err == nil && v.seen != nil {
		until := v.now().Add(v.ttl)
		if exp := c.ExpiresAt.Add(v.leeway); exp.Before(until) {
			until = exp
		}
		v.seen.Add(token, remembered{claims: c, until: until})
	} else if v.seen != nil {
		v.seen.Remove(token)
	}
	return c, err
}
