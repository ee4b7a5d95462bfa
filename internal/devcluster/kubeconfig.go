package devcluster

import (
	"fmt"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// newKubeconfig is a kubeconfig of one cluster, the API server at server
// verified by ca, and one user with auth: what every client of the local
// cluster gets, the admin and the real node's kubelet and services alike.
func newKubeconfig(server string, ca *clientcmdapi.Cluster, user string, auth *clientcmdapi.AuthInfo) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	ca.Server = server
	cfg.Clusters["devcluster"] = ca
	cfg.AuthInfos[user] = auth
	cfg.Contexts["devcluster"] = &clientcmdapi.Context{Cluster: "devcluster", AuthInfo: user}
	cfg.CurrentContext = "devcluster"
	return cfg
}

// loopbackAPI is the API server's address for a client on this host.
func loopbackAPI(apiPort int) string { return fmt.Sprintf("https://127.0.0.1:%d", apiPort) }

// clientKubeconfig reaches the API server at server (loopbackAPI on this
// host) as user, with the client certificate writePKI signed for it
// (pki/<file>.crt) and the API server's CA by its path: the kubelet as
// system:node:<name>, the node's services as their own users, none with
// the admin's token.
func clientKubeconfig(p realNodePaths, user, file, server, apiCA string) *clientcmdapi.Config {
	pki := filepath.Join(p.dir, "pki")
	return newKubeconfig(server, &clientcmdapi.Cluster{CertificateAuthority: apiCA}, user,
		&clientcmdapi.AuthInfo{ClientCertificate: filepath.Join(pki, file+".crt"), ClientKey: filepath.Join(pki, file+".key")})
}

// podKubeconfig is clientKubeconfig for a pod: the files inline (a pod has
// none of the host's), the API server through the gateway's forward (the
// kubernetes Service's endpoint), its certificate checked for the name it
// carries (kubernetes.default.svc; not the gateway's address).
func podKubeconfig(p realNodePaths, user, file, apiCA string) (string, error) {
	cfg := clientKubeconfig(p, user, file, fmt.Sprintf("https://%s:%d", Gateway, podAPIPort), apiCA)
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		return "", err
	}
	cfg.Clusters["devcluster"].TLSServerName = "kubernetes.default.svc"
	return writeKubeconfig(cfg)
}

// writeKubeconfig is cfg as client-go writes it.
func writeKubeconfig(cfg *clientcmdapi.Config) (string, error) {
	b, err := clientcmd.Write(*cfg)
	return string(b), err
}
