package channels

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// relay is an SMTP server on loopback that keeps what it was given.
type relay struct {
	mu       sync.Mutex
	logins   []string
	messages []string
	rcpts    []string
}

type session struct {
	r    *relay
	to   []string
	from string
}

func (r *relay) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{r: r}, nil }

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.r.mu.Lock()
		defer s.r.mu.Unlock()
		s.r.logins = append(s.r.logins, user+":"+pass)
		if pass != "relay-secret" {
			return errors.New("bad credentials")
		}
		return nil
	}), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "nobody@intelliflow.example" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.to = append(s.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.messages = append(s.r.messages, string(b))
	s.r.rcpts = append(s.r.rcpts, s.to...)
	return nil
}
func (s *session) Reset()        { s.to = nil }
func (s *session) Logout() error { return nil }

// startRelay serves SMTP on loopback, offering STARTTLS with a certificate
// for 127.0.0.1 when starttls, and returns its port and a client TLS
// config trusting it.
func startRelay(t *testing.T, starttls bool) (*relay, int, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	r := &relay{}
	srv := smtp.NewServer(r)
	srv.Domain = "relay.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if starttls {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	} else {
		srv.AllowInsecureAuth = true // a relay that would take a password in clear
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return r, ln.Addr().(*net.TCPAddr).Port, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

func email(t *testing.T, port int, tlsConfig *tls.Config, to ...string) *Email {
	return &Email{Host: "127.0.0.1", Port: port, Username: "alerts", Password: "relay-secret", From: "alerts@intelliflow.example",
		To: to, Subject: must(t, "subject", DefaultEmailSubject), Body: must(t, "body", DefaultEmailBody), TLS: tlsConfig}
}

// TestEmailOverStartTLS: the alert is one message to every recipient,
// after STARTTLS and AUTH PLAIN, with the rendered subject and body.
func TestEmailOverStartTLS(t *testing.T) {
	r, port, tlsConfig := startRelay(t, true)
	tries, err := Deliver(context.Background(), email(t, port, tlsConfig, "fraud-team@intelliflow.example"), decline(), fast)
	require.NoError(t, err)
	require.Equal(t, 1, tries)
	require.Equal(t, []string{"alerts:relay-secret"}, r.logins)
	require.Len(t, r.messages, 1)
	msg := r.messages[0]
	require.Contains(t, msg, "Subject: [IntelliFlow] decline: payment tx-9 (950.00 EUR)")
	require.Contains(t, msg, "X-IntelliFlow-Event: ev-1")
	require.Contains(t, msg, "amount_z +1.250")
	require.Equal(t, []string{"fraud-team@intelliflow.example"}, r.rcpts)
}

// TestEmailNeverWithoutTLS: a relay that offers no STARTTLS gets neither
// the alert nor the password.
func TestEmailNeverWithoutTLS(t *testing.T) {
	r, port, tlsConfig := startRelay(t, false)
	_, err := Deliver(context.Background(), email(t, port, tlsConfig, "fraud-team@intelliflow.example"), decline(),
		Retry{Initial: 10 * time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxElapsed: 100 * time.Millisecond})
	require.Error(t, err)
	require.Empty(t, r.logins, "no credential sent in clear")
	require.Empty(t, r.messages)
}

// TestEmailRefusedRecipientIsPermanent: a 5xx for a recipient is not
// retried (the alert goes to the dead-letter topic).
func TestEmailRefusedRecipientIsPermanent(t *testing.T) {
	r, port, tlsConfig := startRelay(t, true)
	tries, err := Deliver(context.Background(), email(t, port, tlsConfig, "nobody@intelliflow.example"), decline(), fast)
	require.Error(t, err)
	require.True(t, IsPermanent(err), "%v", err)
	require.Equal(t, 1, tries, strconv.Itoa(tries))
	require.Empty(t, r.messages)
}
