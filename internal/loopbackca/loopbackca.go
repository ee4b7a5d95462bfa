// Package loopbackca issues the certificates of servers that run on
// loopback for development and tests (the local control plane, the local
// platform's stores, a test's Redis): an authority made on the spot, its
// key kept in memory only, and the leaves it signs. Nothing here is for a
// real deployment: there, cert-manager and Vault issue.
package loopbackca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Loopback is 127.0.0.1, the address most leaves are for.
var Loopback = net.IPv4(127, 0, 0, 1)

// CA is an authority whose certificate is PEM.
type CA struct {
	// PEM is the authority's certificate, for clients to trust.
	PEM      []byte
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	validFor time.Duration
}

// Leaf is a signed certificate and its private key, both PEM.
type Leaf struct {
	CertPEM, KeyPEM []byte
}

// New makes an authority named name whose certificates are valid for
// validFor (from an hour ago: clocks drift).
func New(name string, validFor time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(validFor),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{PEM: encode("CERTIFICATE", der), cert: cert, key: key, validFor: validFor}, nil
}

// Server signs a serving certificate for cn, valid for the DNS names and
// IP addresses given.
func (ca *CA) Server(cn string, names []string, ips ...net.IP) (Leaf, error) {
	return ca.sign(&x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: names, IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
}

// Client signs a client certificate for the user cn, in the groups given
// (its organizations, as Kubernetes reads them).
func (ca *CA) Client(cn string, groups ...string) (Leaf, error) {
	return ca.sign(&x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: groups}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

func (ca *CA) sign(tmpl *x509.Certificate) (Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Leaf{}, err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(ca.validFor)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return Leaf{}, fmt.Errorf("sign %s: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Leaf{}, err
	}
	return Leaf{CertPEM: encode("CERTIFICATE", der), KeyPEM: encode("EC PRIVATE KEY", keyDER)}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

func encode(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}
