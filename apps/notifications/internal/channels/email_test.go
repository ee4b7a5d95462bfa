package channels

import (
	"context"
	"crypto/tls"
	"strconv"
	"testing"
	"time"

	"github.com/intelliflow/platform/apps/notifications/internal/smtptest"
	"github.com/stretchr/testify/require"
)

func email(t *testing.T, port int, tlsConfig *tls.Config, to ...string) *Email {
	return &Email{Host: "127.0.0.1", Port: port, Username: "alerts", Password: smtptest.Password, From: "alerts@intelliflow.example",
		To: to, Subject: must(t, "subject", DefaultEmailSubject), Body: must(t, "body", DefaultEmailBody), TLS: tlsConfig}
}

// TestEmailOverStartTLS: the alert is one message to every recipient,
// after STARTTLS and AUTH PLAIN, with the rendered subject and body.
func TestEmailOverStartTLS(t *testing.T) {
	r, port, tlsConfig := smtptest.Start(t, true)
	tries, err := Deliver(context.Background(), email(t, port, tlsConfig, "fraud-team@intelliflow.example"), decline(), fast)
	require.NoError(t, err)
	require.Equal(t, 1, tries)
	require.Equal(t, []string{"alerts:relay-secret"}, r.Logins())
	require.Len(t, r.Messages(), 1)
	msg := r.Messages()[0]
	require.Contains(t, msg, "Subject: [IntelliFlow] decline: payment tx-9 (950.00 EUR)")
	require.Contains(t, msg, "X-IntelliFlow-Event: ev-1")
	require.Contains(t, msg, "amount_z +1.250")
	require.Equal(t, []string{"fraud-team@intelliflow.example"}, r.Recipients())
}

// TestEmailNeverWithoutTLS: a relay that offers no STARTTLS gets neither
// the alert nor the password.
func TestEmailNeverWithoutTLS(t *testing.T) {
	r, port, tlsConfig := smtptest.Start(t, false)
	_, err := Deliver(context.Background(), email(t, port, tlsConfig, "fraud-team@intelliflow.example"), decline(),
		Retry{Initial: 10 * time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxElapsed: 100 * time.Millisecond})
	require.Error(t, err)
	require.Empty(t, r.Logins(), "no credential sent in clear")
	require.Empty(t, r.Messages())
}

// TestEmailRefusedRecipientIsPermanent: a 5xx for a recipient is not
// retried (the alert goes to the dead-letter topic).
func TestEmailRefusedRecipientIsPermanent(t *testing.T) {
	r, port, tlsConfig := smtptest.Start(t, true)
	tries, err := Deliver(context.Background(), email(t, port, tlsConfig, smtptest.Unknown), decline(), fast)
	require.Error(t, err)
	require.True(t, IsPermanent(err), "%v", err)
	require.Equal(t, 1, tries, strconv.Itoa(tries))
	require.Empty(t, r.Messages())
}
