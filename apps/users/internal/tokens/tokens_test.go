package tokens

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseKey(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	k, err := ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	require.NoError(t, err)
	require.Equal(t, priv, k.Private)
	require.Len(t, k.ID, 43, "a base64url SHA-256 thumbprint")

	a, err := ParseKey([]byte("dev-only-0123456789abcdef0123456789abcdef\n"))
	require.NoError(t, err)
	b, _ := ParseKey([]byte("dev-only-0123456789abcdef0123456789abcdef"))
	require.Equal(t, a.ID, b.ID, "the same secret gives the same key on every replica")
	c, _ := ParseKey([]byte("dev-only-0123456789abcdef0123456789abcdeF"))
	require.NotEqual(t, a.ID, c.ID)

	_, err = ParseKey([]byte("short"))
	require.ErrorContains(t, err, "32 characters or more")
	_, err = ParseKey([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	require.ErrorContains(t, err, "signing key")
}

// TestRotationKeepsThePreviousKeyValid: after a rotation, tokens signed with
// the previous key verify while it is published, new tokens carry the new
// kid, and the key set lists both until the previous is dropped.
func TestRotationKeepsThePreviousKeyValid(t *testing.T) {
	old, _ := ParseKey([]byte("first-secret-0123456789abcdef0123456789"))
	next, _ := ParseKey([]byte("second-secret-0123456789abcdef012345678"))
	iss, err := NewIssuer(old, nil, "https://api.intelliflow.test", "intelliflow-api", 15*time.Minute)
	require.NoError(t, err)
	before, _, err := iss.Issue("u-1", "customer")
	require.NoError(t, err)

	require.NoError(t, iss.SetKeys(next, []Key{old}))
	after, exp, err := iss.Issue("u-1", "admin")
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(15*time.Minute), exp, time.Minute)
	for _, tok := range []string{before, after} {
		c, err := iss.Verify(tok)
		require.NoError(t, err)
		require.Equal(t, "u-1", c.Subject)
	}
	var doc struct {
		Keys []struct{ KID, KTY, CRV, ALG, USE, X string } `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(iss.JWKS(), &doc))
	require.Len(t, doc.Keys, 2)
	require.Equal(t, []string{next.ID, old.ID}, iss.KeyIDs())
	for _, k := range doc.Keys {
		require.Equal(t, "OKP", k.KTY)
		require.Equal(t, "Ed25519", k.CRV)
		require.Equal(t, "EdDSA", k.ALG)
		require.NotContains(t, string(iss.JWKS()), `"d"`, "never the private half")
	}

	require.NoError(t, iss.SetKeys(next, nil))
	_, err = iss.Verify(before)
	require.ErrorContains(t, err, "unknown kid", "once the overlap ends the old key's tokens stop")
}
