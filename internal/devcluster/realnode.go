package devcluster

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/intelliflow/platform/ci-cd/images"
	"github.com/intelliflow/platform/internal/freeport"
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
	// Gateway is the host's address on BridgeName: the node's address
	// (the kubelet listens there, not on the host's other interfaces),
	// where the API server's forward for pods listens, and where the pods
	// reach the host's stores.
	Gateway = "10.88.0.1"
	// NetcheckImage is internal/devcluster/netcheck's image, imported as
	// the pause image is: a server and a client for checking Services, DNS
	// and NetworkPolicies from inside pods.
	NetcheckImage = "intelliflow.local/netcheck:1"
	// ServiceSubnet is the API server's Service addresses; kube-proxy
	// sends them on to the pods.
	ServiceSubnet = "10.96.0.0/16"
)

// nodeServices are the clients of the API the real node runs besides its
// kubelet, each under a user of its own that Up binds to what it needs:
// kube-proxy (Services, as system:kube-proxy, which Kubernetes binds
// itself) and kube-router's policy controller (NetworkPolicies) on the
// host, CoreDNS (names) in a pod.
var nodeServices = []string{"kube-proxy", "coredns", "kube-router"}

// ErrRealNodeTaken is Up's error when another cluster on this host has
// the real node: they would share the bridge, the iptables chains, the
// ipsets and /run/netns.
var ErrRealNodeTaken = errors.New("another cluster on this host has a real node")

// realNodeClaim names the cluster whose real node this host runs, while it
// runs.
var realNodeClaim = "/run/intelliflow-devcluster-real-node"

// claimRealNode records dir as the cluster with the host's real node, or
// fails with ErrRealNodeTaken naming the cluster that has it. A claim whose
// cluster is gone (no pids file: down, or a crashed up whose folder went)
// is taken over.
func claimRealNode(dir string) error {
	for range 2 {
		f, err := os.OpenFile(realNodeClaim, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = f.WriteString(dir)
			return errors.Join(err, f.Close())
		}
		if !errors.Is(err, os.ErrExist) {
			return err
		}
		owner, err := os.ReadFile(realNodeClaim)
		if err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(string(owner), "pids")); err == nil {
			return fmt.Errorf("%w: the cluster in %s (devcluster down --dir %s first)", ErrRealNodeTaken, owner, owner)
		}
		if err := os.Remove(realNodeClaim); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return fmt.Errorf("%w: %s keeps coming back", ErrRealNodeTaken, realNodeClaim)
}

// releaseRealNode removes dir's claim, and only dir's.
func releaseRealNode(dir string) error {
	owner, err := os.ReadFile(realNodeClaim)
	if errors.Is(err, os.ErrNotExist) || (err == nil && string(owner) != dir) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.Remove(realNodeClaim)
}

// realNodeBinaries are what a real node needs beside the control plane's.
var realNodeBinaries = append([]string{"kubelet", "containerd", "containerd-shim-runc-v2", "ctr", "pause", "netcheck"}, nodeServices...)

// OnRealNode places a pod on the real node: its host name selected, its
// taint tolerated.
func OnRealNode(spec *corev1.PodSpec) {
	if spec.NodeSelector == nil {
		spec.NodeSelector = map[string]string{}
	}
	spec.NodeSelector[corev1.LabelHostname] = RealNodeName
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: RealNodeTaintKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
}

// socat forwards the pods' API connections from the bridge's gateway to
// the API server on loopback (CoreDNS reads the API from a pod).
const socat = "/usr/bin/socat"

// realNodeHostTools are Debian's, which tools/cluster/install.sh installs.
var realNodeHostTools = []string{"/usr/sbin/runc", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/sbin/iptables-save", "/usr/sbin/iptables-restore", "/usr/sbin/ipset", socat}

// realNode is the node a kubelet runs: its name and the address the API
// server reaches it on.
type realNode struct {
	name string
	ip   net.IP
}

// realNodePaths are the state folders of a real node under dir.
type realNodePaths struct {
	dir, containerd, socket, cni, kubelet string
}

// ctr runs containerd's client against the node's containerd.
func (p realNodePaths) ctr(bin string, args ...string) ([]byte, error) {
	return exec.Command(filepath.Join(bin, "ctr"), append([]string{"--address", p.socket}, args...)...).CombinedOutput()
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

// cniConfig puts each pod on BridgeName with an address from PodSubnet and
// one route, to the Services through the host (kube-proxy's rules): no
// default route, so a pod cannot even address anything but the bridge and
// the Services. host-local keeps its leases under dir, not in
// /var/lib/cni.
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
        "routes": [{"dst": %q}],
        "dataDir": %q
      }
    },
    {"type": "loopback"}
  ]
}
`, BridgeName, PodSubnet, ServiceSubnet, filepath.Join(p.cni, "ipam"))
}

// kubeletConfig is the KubeletConfiguration: certificates from the
// cluster's PKI (clients-ca authenticates callers, the API server
// authorizes them), no anonymous access and no read-only port, cgroupfs on
// cgroup v1, the taint, eviction at absolute free space (realNodeEvictionMiB),
// and no image garbage collection: the node's images came by import, and
// one collected before its pod starts cannot be pulled back.
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
clusterDNS: [%[9]s]
registerWithTaints:
- {key: %[8]s, value: "true", effect: NoSchedule}
evictionHard:
  memory.available: 100Mi
  nodefs.available: %[10]s
  imagefs.available: %[10]s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, node.ip, port, filepath.Join(pki, node.name+"-serving.crt"), filepath.Join(pki, node.name+"-serving.key"),
		filepath.Join(pki, pkiClients+".crt"), p.socket, filepath.Join(p.dir, "pod-logs"), RealNodeTaintKey, DNSServiceIP,
		strconv.Itoa(realNodeEvictionMiB)+"Mi")
}

// realNodeEvictionMiB is the free space (MiB) under which the kubelet
// reports DiskPressure and evicts: absolute, not a share of the disk,
// because these hosts' disks are large and nearly full (252 GiB with 5 GiB
// free is 98 % used), where a percentage, even 2 %, taints the node at once
// and leaves every pod Pending.
const realNodeEvictionMiB = 512

// realNodeMinFreeMiB is the free space Up wants on the filesystem of the
// node's state before it starts the kubelet: the eviction floor, and room
// above it for the platform's images, the containers' layers and logs.
const realNodeMinFreeMiB = 3 * realNodeEvictionMiB

// checkFreeSpace fails, saying how much there is and how much is wanted,
// when dir's filesystem has less than wantMiB free (realNodeMinFreeMiB).
func checkFreeSpace(dir string, wantMiB int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("free space under %s: %w", dir, err)
	}
	if free := int64(st.Bavail) * st.Bsize >> 20; free < wantMiB {
		return fmt.Errorf("the real node wants %d MiB free on the filesystem of %s (its kubelet evicts pods under %d MiB); it has %d MiB: free some space first",
			wantMiB, dir, realNodeEvictionMiB, free)
	}
	return nil
}

// serviceUser is the user a node service authenticates as.
func serviceUser(service string) string { return "system:" + service }

// kubeProxyConfig runs kube-proxy in iptables mode for the pods on the
// bridge, leaving the host's conntrack tunables as they are and keeping
// NodePorts off loopback (which would need route_localnet); its health and
// metrics servers listen on loopback ports of their own (it refuses 0).
func kubeProxyConfig(p realNodePaths, node *realNode, ports []int) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: %q}
hostnameOverride: %s
clusterCIDR: %s
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
`, filepath.Join(p.dir, "kube-proxy.kubeconfig"), node.name, PodSubnet, ports[0], ports[1])
}

// startRealNode makes the bridge, starts containerd, imports the images
// and starts the kubelet, which registers the node (Up waits for it as for
// the others, then starts its services).
func startRealNode(ctx context.Context, client kubernetes.Interface, p realNodePaths, bin string, node *realNode, apiPort, kubeletPort int, apiCA string,
	start func(name string, args ...string) error, alive func() error) error {
	for _, d := range []string{filepath.Dir(p.socket), filepath.Join(p.cni, "net.d"), p.kubelet, filepath.Join(p.dir, "pod-logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// A port taken before kube-proxy binds it fails Up with
	// freeport.ErrInUse, and a caller that retries gets others.
	proxyPorts, err := freeport.Pick(2)
	if err != nil {
		return err
	}
	files := map[string]string{
		filepath.Join(p.containerd, "config.toml"):          containerdConfig(p),
		filepath.Join(p.cni, "net.d", "10-bridge.conflist"): cniConfig(p),
		filepath.Join(p.dir, "kubelet.yaml"):                kubeletConfig(p, node, kubeletPort),
		filepath.Join(p.dir, "kube-proxy.yaml"):             kubeProxyConfig(p, node, proxyPorts),
	}
	kubeconfigs := map[string]*clientcmdapi.Config{"kubelet": clientKubeconfig(p, "system:node:"+node.name, node.name+"-client", loopbackAPI(apiPort), apiCA)}
	for _, svc := range nodeServices {
		kubeconfigs[svc] = clientKubeconfig(p, serviceUser(svc), svc+"-client", loopbackAPI(apiPort), apiCA)
	}
	for client, cfg := range kubeconfigs {
		if files[filepath.Join(p.dir, client+".kubeconfig")], err = writeKubeconfig(cfg); err != nil {
			return err
		}
	}
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			return err
		}
	}
	if err := bindNodeServices(ctx, client); err != nil {
		return err
	}
	if err := publishAPIEndpoint(ctx, client); err != nil {
		return err
	}
	// The bridge is made here, not by the CNI plugin at the first pod, so
	// that CoreDNS can bind the gateway before any pod asks it.
	for _, args := range [][]string{
		{"link", "add", BridgeName, "type", "bridge"},
		{"addr", "add", Gateway + "/24", "dev", BridgeName},
		{"link", "set", BridgeName, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	// containerd finds its shim beside itself.
	if err := start("containerd", "--config", filepath.Join(p.containerd, "config.toml")); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := alive(); err != nil {
			return err
		}
		if _, err := p.ctr(bin, "version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return withLog(errors.New("containerd: not answering on its socket after 30s"), p.dir, "containerd")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for ref, binary := range map[string]string{PauseImage: "pause", NetcheckImage: "netcheck", CoreDNSImage: "coredns"} {
		if err := importImage(p, bin, ref, binary); err != nil {
			return err
		}
	}
	return start("kubelet", "--config", filepath.Join(p.dir, "kubelet.yaml"), "--kubeconfig", filepath.Join(p.dir, "kubelet.kubeconfig"),
		"--root-dir", p.kubelet, "--cert-dir", filepath.Join(p.dir, "kubelet-pki"), "--node-ip", node.ip.String(),
		"--hostname-override", node.name, "--node-labels", "intelliflow.io/node-group=real,type=real")
}

// startNodeServices starts kube-proxy and kube-router's policy controller
// once the node is registered (they find their node by name at start), and
// the API server's forward for pods: the API server listens on loopback,
// which a pod cannot reach, and only there, where nothing else can.
func startNodeServices(p realNodePaths, node *realNode, apiPort int, start func(name string, args ...string) error) error {
	if err := start(socat, "TCP-LISTEN:"+strconv.Itoa(podAPIPort)+",bind="+Gateway+",fork,reuseaddr", "TCP:127.0.0.1:"+strconv.Itoa(apiPort)); err != nil {
		return err
	}
	if err := start("kube-proxy", "--config", filepath.Join(p.dir, "kube-proxy.yaml")); err != nil {
		return err
	}
	// The policy controller only: the bridge plugin routes, kube-proxy
	// serves the Services.
	return start("kube-router", "--kubeconfig", filepath.Join(p.dir, "kube-router.kubeconfig"), "--hostname-override", node.name,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
		"--service-cluster-ip-range", ServiceSubnet, "--health-port", "0", "--metrics-port", "0")
}

// podAPIPort is where pods reach the API server, through the kubernetes
// Service (10.96.0.1:443) or, CoreDNS, directly: the gateway's port 443,
// forwarded to the API server, as EKS's endpoint listens on 443. So the
// stack's egress rule for the API (port 443) holds here as there.
const podAPIPort = 443

// publishAPIEndpoint makes the kubernetes Service's endpoint the gateway's
// port 443 (the API server listens on loopback, which pods cannot reach,
// and its own endpoint reconciler is off): kube-proxy reads the
// EndpointSlice; the Endpoints are for older readers, marked so that the
// mirroring controller leaves them alone. The API server's certificate
// names the Service's address, so in-cluster clients verify it.
func publishAPIEndpoint(ctx context.Context, client kubernetes.Interface) error {
	const name = "kubernetes"
	port := int32(podAPIPort)
	eps := &corev1.Endpoints{ //nolint:staticcheck // read by clients older than EndpointSlices
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault, Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}},
		Subsets: []corev1.EndpointSubset{{ //nolint:staticcheck // as above
			Addresses: []corev1.EndpointAddress{{IP: Gateway}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}}, //nolint:staticcheck // as above
		}},
	}
	// Through the REST client, to drop the API server's deprecation warning
	// for this one write: it is meant, and client-go would print it on
	// every `make cluster` as a log line the user can do nothing about.
	err := client.CoreV1().RESTClient().Post().Namespace(metav1.NamespaceDefault).Resource("endpoints").
		Body(eps).WarningHandler(rest.NoWarnings{}).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("the API server's Endpoints: %w", err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault, Labels: map[string]string{
			discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "intelliflow-devcluster"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{Gateway}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: &port, Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if _, err := client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("the API server's EndpointSlice: %w", err)
	}
	return nil
}

// bindNodeServices gives CoreDNS and kube-router's users what they read
// (kube-proxy's, system:node-proxier, is Kubernetes' own binding).
func bindNodeServices(ctx context.Context, client kubernetes.Interface) error {
	read := []string{"get", "list", "watch"}
	roles := map[string][]rbacv1.PolicyRule{
		"coredns": {
			{APIGroups: []string{""}, Resources: []string{"services", "namespaces"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
		},
		"kube-router": {
			{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "nodes", "services", "endpoints"}, Verbs: read},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
		},
	}
	for svc, rules := range roles {
		name := "intelliflow:" + svc
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
		if _, err := client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("ClusterRole %s: %w", name, err)
		}
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: serviceUser(svc)}}}
		if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("ClusterRoleBinding %s: %w", name, err)
		}
	}
	return nil
}

// importImage packs bin/cluster/<binary> into ref (images.Static) and
// imports it.
func importImage(p realNodePaths, bin, ref, binary string) error {
	data, err := os.ReadFile(filepath.Join(bin, binary))
	if err != nil {
		return err
	}
	img, err := images.Static(binary, data, time.Unix(0, 0).UTC())
	if err != nil {
		return err
	}
	return importInto(p, bin, ref, img)
}

// Running is the cluster Up started in dir (its binaries in bin), for a
// command that works on it after Up's has ended (cmd/imagebuild --cluster).
func Running(dir, bin string) (*Cluster, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(abs, "pids")); err != nil {
		return nil, fmt.Errorf("no cluster is up in %s (make cluster): %w", dir, err)
	}
	return &Cluster{Kubeconfig: filepath.Join(abs, "kubeconfig"), Dir: abs, bin: bin}, nil
}

// Import loads an image into the real node's containerd under ref, as a
// registry would have delivered it: a pod runs it with imagePullPolicy
// Never. The platform's images (images.Build) go in this way; there is no
// registry to pull from.
func (c *Cluster) Import(ref string, img v1.Image) error {
	if _, err := os.Stat(pathsOf(c.Dir).socket); err != nil {
		return fmt.Errorf("the cluster in %s has no real node: %w", c.Dir, err)
	}
	return importInto(pathsOf(c.Dir), c.bin, ref, img)
}

// Ctr runs containerd's client against the real node's containerd, in the
// namespace the kubelet's pods live in (k8s.io): images ls, tasks ls.
func (c *Cluster) Ctr(args ...string) ([]byte, error) {
	return pathsOf(c.Dir).ctr(c.bin, append([]string{"--namespace", "k8s.io"}, args...)...)
}

// importInto writes img as an OCI image layout, archived, and has ctr
// import it into the CRI's namespace under ref. An OCI layout keeps the
// image's manifest as built, so the node's copy has the digest a registry
// would serve (a docker archive would be rewritten, with another digest,
// and a pod naming the image by digest would not find it).
func importInto(p realNodePaths, bin, ref string, img v1.Image) error {
	tag, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(p.containerd, "import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	oci, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		return err
	}
	if err := oci.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name": tag.Name(), "org.opencontainers.image.ref.name": tag.Identifier()})); err != nil {
		return err
	}
	archive := filepath.Join(dir, "image.tar")
	if err := tarDir(filepath.Join(dir, "layout"), archive); err != nil {
		return err
	}
	if out, err := p.ctr(bin, "--namespace", "k8s.io", "images", "import", archive); err != nil {
		return fmt.Errorf("import %s: %w: %s", ref, err, out)
	}
	return nil
}

// tarDir archives the files under dir, by their paths below it.
func tarDir(dir, archive string) error {
	f, err := os.Create(archive)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	return errors.Join(tw.AddFS(os.DirFS(dir)), tw.Close(), f.Close())
}
