package devcluster

import (
	"os"
	"path/filepath"
	"time"

	"github.com/intelliflow/platform/internal/loopbackca"
)

// The cluster's certificates, under <dir>/pki. Two authorities, as
// kubeadm keeps them: ca signs what serves (kwok's kubelet endpoint,
// metrics-server), front-proxy-ca only the aggregator's client certificate,
// so that no serving certificate can assert a user through the request
// headers an extension API server trusts.
const (
	pkiCA         = "ca"
	pkiFrontProxy = "front-proxy-ca"
	// FrontProxyClient is the only name the API server's aggregator may
	// present to an extension API server (--requestheader-allowed-names).
	FrontProxyClient = "front-proxy-client"
	// MetricsServerName is metrics-server's Service in kube-system; the
	// aggregator checks its certificate against this name.
	MetricsServerName = "metrics-server"
)

// writePKI writes every certificate the cluster uses into <dir>/pki: the
// authorities' certificates (their keys stay in memory: nothing after Up
// signs) and each leaf's certificate and key.
func writePKI(dir string) error {
	pki := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	const year = 365 * 24 * time.Hour
	ca, err := loopbackca.New("devcluster-"+pkiCA, year)
	if err != nil {
		return err
	}
	front, err := loopbackca.New("devcluster-"+pkiFrontProxy, year)
	if err != nil {
		return err
	}
	svc := MetricsServerName + ".kube-system.svc"
	leaves := map[string]func() (loopbackca.Leaf, error){
		FrontProxyClient: func() (loopbackca.Leaf, error) { return front.Client(FrontProxyClient) },
		// kwok answers for every node's kubelet on loopback.
		"kubelet": func() (loopbackca.Leaf, error) { return ca.Server("kwok", []string{"localhost"}, loopbackca.Loopback) },
		MetricsServerName: func() (loopbackca.Leaf, error) {
			return ca.Server(svc, []string{svc, "localhost"}, loopbackca.Loopback)
		},
	}
	files := map[string][]byte{pkiCA + ".crt": ca.PEM, pkiFrontProxy + ".crt": front.PEM}
	for name, issue := range leaves {
		leaf, err := issue()
		if err != nil {
			return err
		}
		files[name+".crt"], files[name+".key"] = leaf.CertPEM, leaf.KeyPEM
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(pki, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
