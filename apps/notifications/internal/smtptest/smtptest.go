// Package smtptest is an SMTP relay on loopback for the notifications
// tests: STARTTLS with a certificate it makes, AUTH PLAIN, a mailbox that
// refuses mail, and a record of everything it was given.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The relay's password, and the mailbox it refuses (550).
const (
	Password = "relay-secret"
	Unknown  = "nobody@intelliflow.example"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Relay is an SMTP server on loopback that keeps what it was given.
type Relay struct {
	// CA is the relay's certificate, PEM (what SMTP_CA_FILE holds).
	CA       []byte
	mu       sync.Mutex
	logins   []string
	messages []string
	rcpts    []string
}

// Logins are the user:password pairs clients authenticated with.
func (r *Relay) Logins() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.logins...)
}

// Messages are the messages accepted, as sent.
func (r *Relay) Messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.messages...)
}

// Recipients are the accepted messages' recipients.
func (r *Relay) Recipients() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.rcpts...)
}

type session struct {
	r    *Relay
	to   []string
	from string
}

// NewSession implements smtp.Backend.
func (r *Relay) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{r: r}, nil }

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.r.mu.Lock()
		defer s.r.mu.Unlock()
		s.r.logins = append(s.r.logins, user+":"+pass)
		if pass != Password {
			return errors.New("bad credentials")
		}
		return nil
	}), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == Unknown {
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

// Start serves SMTP on loopback until the test ends, offering STARTTLS
// with a certificate for 127.0.0.1 when starttls (else it takes AUTH in
// clear, as a relay no one should use), with the password Password and a
// mailbox that does not exist, Unknown. It returns the relay, its port
// and a client TLS config trusting it.
func Start(t testing.TB, starttls bool) (*Relay, int, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	r := &Relay{CA: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	srv := smtp.NewServer(r)
	srv.Domain = "relay.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if starttls {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	} else {
		srv.AllowInsecureAuth = true // a relay that would take a password in clear
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return r, ln.Addr().(*net.TCPAddr).Port, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}
