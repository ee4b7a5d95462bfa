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
	var c Claims
	p := jwt.NewParser(jwt.WithValidMethods([]string{Algorithm}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(leeway))
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
