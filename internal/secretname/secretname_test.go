package secretname

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLooks(t *testing.T) {
	for name, want := range map[string]bool{
		"DB_PASSWORD": true, "JWT_SIGNING_KEY": true, "client_secret": true, "GITHUB_TOKEN": true,
		"AWS_CREDENTIALS": true, "STRIPE_API_KEY": true, "TLS_PRIVATE_KEY": true,
		"PASSWORD_MIN_LENGTH": false, "TOKEN_TTL": false, "SECRET_PATH_FILE": false, "LOG_LEVEL": false,
	} {
		require.Equal(t, want, Looks(name), name)
	}
}
