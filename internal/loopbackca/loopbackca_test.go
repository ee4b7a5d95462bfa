package loopbackca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServerAndClient: a server with the CA's leaf is trusted by a client
// holding only the CA's certificate, for the names it was issued for and
// no other; a client leaf authenticates to a server that trusts the CA,
// and a serving leaf cannot pose as a client.
func TestServerAndClient(t *testing.T) {
	ca, err := New("test CA", time.Hour)
	require.NoError(t, err)
	serving, err := ca.Server("localhost", []string{"localhost"}, Loopback)
	require.NoError(t, err)
	client, err := ca.Client("someone")
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca.PEM))

	pair := func(l Leaf) tls.Certificate {
		c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
		require.NoError(t, err)
		return c
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair(serving)}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	get := func(host string, as Leaf) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair(as)}}}}
		resp, err := c.Get("https://" + net.JoinHostPort(host, port))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	require.NoError(t, get("127.0.0.1", client))
	require.NoError(t, get("localhost", client))
	require.Error(t, get("127.0.0.1", serving), "a serving certificate is no client's")

	block, _ := pem.Decode(serving.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "elsewhere.example"})
	require.Error(t, err, "valid only for its names")
}
