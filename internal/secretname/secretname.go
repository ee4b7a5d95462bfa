// Package secretname tells whether a configuration or environment variable
// name holds a secret, so the microservice component refuses to put one in
// a ConfigMap and the policy pack (SEC-19) catches any that slip through.
package secretname

import "regexp"

// secretish matches names that end in the secret noun (DB_PASSWORD,
// JWT_SIGNING_KEY), not settings about secrets (PASSWORD_MIN_LENGTH,
// TOKEN_TTL).
var secretish = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|SIGNING_KEY|CREDENTIALS?)$`)

// Looks reports whether name looks like it holds a secret.
func Looks(name string) bool { return secretish.MatchString(name) }
