package devcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/intelliflow/platform/ci-cd/images"
)

// The real node: a kubelet on this host, with containerd, runc and the CNI
// bridge plugin, beside the simulated nodes.
const (
	// RealNodeName is its name.
	RealNodeName = "real-0"
	// RealNodeTaintKey taints it (NoSchedule), so that what means the
	// simulated nodes stays on them; a pod for the real node tolerates it.
	RealNodeTaintKey = "intelliflow.io/real-node"
	// PauseImage is the pod sandbox image Up packs from bin/cluster/pause
	// and imports into containerd: there is no registry to pull one from.
	PauseImage = "intelliflow.local/pause:1"
	// PodSubnet is the real node's pod addresses, on BridgeName.
	PodSubnet = "10.88.0.0/24"
	// BridgeName is the bridge the pods' veths join; the host is its
	// gateway. Pod traffic stays on it and on loopback: no masquerade, no
	// route anywhere else.
	BridgeName = "devcluster0"
)

// realNodeBinaries are what a real node needs beside the control plane's.
var realNodeBinaries = []string{"kubelet", "containerd", "containerd-shim-runc-v2", "ctr", "pause"}

// realNodeHostTools are Debian's, which tools/cluster/install.sh installs.
var realNodeHostTools = []string{"/usr/sbin/runc", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/sbin/iptables-save", "/usr/sbin/iptables-restore"}

// realNode is the node a kubelet runs: its name and the address the API
// server reaches it on.
type realNode struct {
	name string
	ip   net.IP
}

// hostAddress is the address of the host's first interface that is up,
// not loopback and not the pods' bridge: the kubelet refuses a loopback
// node address, and the API server reaches the kubelet there.
func hostAddress() (net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || i.Name == BridgeName || strings.HasPrefix(i.Name, "veth") {
			continue
		}
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.To4(), nil
			}
		}
	}
	return nil, errors.New("no interface with an IPv4 address besides loopback: the kubelet needs one")
}

// realNodePaths are the state folders of a real node under dir.
type realNodePaths struct {
	dir, containerd, socket, cni, kubelet string
}

func pathsOf(dir string) realNodePaths {
	return realNodePaths{dir: dir, containerd: filepath.Join(dir, "containerd"), socket: filepath.Join(dir, "run", "containerd.sock"),
		cni: filepath.Join(dir, "cni"), kubelet: filepath.Join(dir, "kubelet")}
}

// containerdConfig is containerd's configuration (version 3, containerd
// 2.x): state under dir (runc's too), the CRI's CNI configuration and plugins, runc
// with cgroupfs (these hosts are cgroup v1 without systemd managing
// cgroups), the pause image pinned as the sandbox, and
// restrict_oom_score_adj: without CAP_SYS_RESOURCE runc cannot lower a
// sandbox's oom_score_adj and every sandbox fails.
func containerdConfig(p realNodePaths) string {
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = %[5]q

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = %[6]q
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = %[7]q
        SystemdCgroup = false
`, filepath.Join(p.containerd, "root"), filepath.Join(p.containerd, "state"), p.socket, p.socket+".ttrpc",
		PauseImage, filepath.Join(p.cni, "net.d"), filepath.Join(p.containerd, "runc"))
}

// cniConfig puts each pod on BridgeName with an address from PodSubnet;
// host-local keeps its leases under dir, not in /var/lib/cni.
func cniConfig(p realNodePaths) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "devcluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "dataDir": %q
      }
    },
    {"type": "loopback"}
  ]
}
`, BridgeName, PodSubnet, filepath.Join(p.cni, "ipam"))
}

// kubeletConfig is the KubeletConfiguration: certificates from the
// cluster's PKI (clients-ca authenticates callers, the API server
// authorizes them), no anonymous access and no read-only port, cgroupfs on
// cgroup v1, the taint, and eviction thresholds a shared disk can meet.
func kubeletConfig(p realNodePaths, node *realNode, port int) string {
	pki := filepath.Join(p.dir, "pki")
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzPort: 0
tlsCertFile: %[3]q
tlsPrivateKeyFile: %[4]q
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[5]q}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://%[6]s
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: %[7]q
clusterDomain: cluster.local
registerWithTaints:
- {key: %[8]s, value: "true", effect: NoSchedule}
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%%
  imagefs.available: 2%%
imageGCHighThresholdPercent: 98
imageGCLowThresholdPercent: 97
`, node.ip, port, filepath.Join(pki, node.name+"-serving.crt"), filepath.Join(pki, node.name+"-serving.key"),
		filepath.Join(pki, pkiClients+".crt"), p.socket, filepath.Join(p.dir, "pod-logs"), RealNodeTaintKey)
}

// nodeKubeconfig reaches the API as system:node:<name>, with the node's
// own client certificate: not the admin's token.
func nodeKubeconfig(p realNodePaths, node *realNode, apiPort int, apiCA string) string {
	pki := filepath.Join(p.dir, "pki")
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: devcluster
  cluster: {server: "https://127.0.0.1:%d", certificate-authority: %q}
users:
- name: %s
  user: {client-certificate: %q, client-key: %q}
contexts:
- name: node
  context: {cluster: devcluster, user: %s}
current-context: node
`, apiPort, apiCA, node.name, filepath.Join(pki, node.name+"-client.crt"), filepath.Join(pki, node.name+"-client.key"), node.name)
}

// startRealNode starts containerd, imports the pause image and starts the
// kubelet, which registers the node; Up waits for it as for the others.
func startRealNode(p realNodePaths, bin string, node *realNode, apiPort, kubeletPort int, apiCA string,
	start func(name string, args ...string) error, alive func() error) error {
	for _, d := range []string{filepath.Dir(p.socket), filepath.Join(p.cni, "net.d"), p.kubelet, filepath.Join(p.dir, "pod-logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		filepath.Join(p.containerd, "config.toml"):          containerdConfig(p),
		filepath.Join(p.cni, "net.d", "10-bridge.conflist"): cniConfig(p),
		filepath.Join(p.dir, "kubelet.yaml"):                kubeletConfig(p, node, kubeletPort),
		filepath.Join(p.dir, "kubelet.kubeconfig"):          nodeKubeconfig(p, node, apiPort, apiCA),
	}
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			return err
		}
	}
	// containerd finds its shim beside itself.
	if err := start("containerd", "--config", filepath.Join(p.containerd, "config.toml")); err != nil {
		return err
	}
	ctr := func(args ...string) ([]byte, error) {
		return exec.Command(filepath.Join(bin, "ctr"), append([]string{"--address", p.socket}, args...)...).CombinedOutput()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := alive(); err != nil {
			return err
		}
		if _, err := ctr("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return withLog(errors.New("containerd: not answering on its socket after 30s"), p.dir, "containerd")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := importPause(p, bin, ctr); err != nil {
		return err
	}
	return start("kubelet", "--config", filepath.Join(p.dir, "kubelet.yaml"), "--kubeconfig", filepath.Join(p.dir, "kubelet.kubeconfig"),
		"--root-dir", p.kubelet, "--cert-dir", filepath.Join(p.dir, "kubelet-pki"), "--node-ip", node.ip.String(),
		"--hostname-override", node.name, "--node-labels", "intelliflow.io/node-group=real,type=real")
}

// importPause packs bin/cluster/pause into PauseImage and imports it into
// the CRI's namespace.
func importPause(p realNodePaths, bin string, ctr func(args ...string) ([]byte, error)) error {
	binary, err := os.ReadFile(filepath.Join(bin, "pause"))
	if err != nil {
		return err
	}
	img, err := images.Pause(binary, time.Unix(0, 0).UTC())
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(PauseImage)
	if err != nil {
		return err
	}
	archive := filepath.Join(p.containerd, "pause.tar")
	if err := tarball.WriteToFile(archive, ref, img); err != nil {
		return err
	}
	if out, err := ctr("--namespace", "k8s.io", "images", "import", archive); err != nil {
		return fmt.Errorf("import %s: %w: %s", PauseImage, err, out)
	}
	return nil
}
