package devcluster

import (
	"os"
	"path/filepath"
	"time"

	"github.com/intelliflow/platform/internal/loopbackca"
)

// The cluster's certificates, under <dir>/pki. Three authorities, as
// kubeadm keeps them apart: ca signs what serves (kwok's kubelet endpoint,
// the real node's kubelet, metrics-server), front-proxy-ca only the
// aggregator's client certificate, so that no serving certificate can
// assert a user through the request headers an extension API server
// trusts, and clients-ca the clients that authenticate with a certificate
// (the real node's kubelet as system:node:<name>, the API server to the
// kubelets).
const (
	pkiCA         = "ca"
	pkiFrontProxy = "front-proxy-ca"
	pkiClients    = "clients-ca"
	// pkiClientBundle is the API server's --client-ca-file: ca's and
	// clients-ca's certificates. Only clients-ca signs client certificates.
	pkiClientBundle = "client-ca-bundle"
	// pkiKubeletClient is the API server's certificate to the kubelets
	// (logs, exec, port-forward), in system:masters as kubeadm's is.
	pkiKubeletClient = "apiserver-kubelet-client"
	// FrontProxyClient is the only name the API server's aggregator may
	// present to an extension API server (--requestheader-allowed-names).
	FrontProxyClient = "front-proxy-client"
	// MetricsServerName is metrics-server's Service in kube-system; the
	// aggregator checks its certificate against this name.
	MetricsServerName = "metrics-server"
)

// writePKI writes every certificate the cluster uses into <dir>/pki: the
// authorities' certificates (their keys stay in memory: nothing after Up
// signs) and each leaf's certificate and key. With a real node, its
// kubelet's client certificate (system:node:<name> in system:nodes) and
// serving certificate (for its address) too.
func writePKI(dir string, node *realNode) error {
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
	clients, err := loopbackca.New("devcluster-"+pkiClients, year)
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
		pkiKubeletClient: func() (loopbackca.Leaf, error) {
			return clients.Client("kube-apiserver-kubelet-client", "system:masters")
		},
	}
	if node != nil {
		leaves[node.name+"-client"] = func() (loopbackca.Leaf, error) { return clients.Client("system:node:"+node.name, "system:nodes") }
		leaves[node.name+"-serving"] = func() (loopbackca.Leaf, error) { return ca.Server(node.name, []string{node.name}, node.ip) }
		for _, svc := range nodeServices {
			leaves[svc+"-client"] = func() (loopbackca.Leaf, error) { return clients.Client(serviceUser(svc)) }
		}
	}
	files := map[string][]byte{pkiCA + ".crt": ca.PEM, pkiFrontProxy + ".crt": front.PEM, pkiClients + ".crt": clients.PEM,
		pkiClientBundle + ".crt": append(append([]byte{}, ca.PEM...), clients.PEM...)}
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
