// Package devcluster runs a local Kubernetes control plane for the dev
// stack: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// on loopback (Pod Security and ServiceAccount admission live, RBAC on),
// and kwok simulating the nodes, registered as the AWS node groups would
// be: general nodes and GPU nodes (nvidia.com/gpu capacity, GPU labels, the
// NoSchedule taint) over three zones. With Options.RealNode it adds a node
// that runs containers (realnode.go: kubelet, containerd, kube-proxy,
// kube-router, CoreDNS in a pod) and puts the host back at Down (host.go).
// The binaries come from tools/cluster/install.sh (make cluster builds
// them once, cached). cmd/devcluster is its command line; the end-to-end
// tests start their own.
package devcluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/intelliflow/platform/internal/freeport"
)

// Zones the simulated nodes are spread over, as the AWS foundation's.
var Zones = []string{"zone-a", "zone-b", "zone-c"}

// KwokAnnotation marks the nodes kwok simulates.
const KwokAnnotation = "kwok.x-k8s.io/node"

// ResourceMetricsPathAnnotation moves a node's /metrics/resource for
// metrics-server (sigs.k8s.io/metrics-server's scraper reads it).
const ResourceMetricsPathAnnotation = "metrics.k8s.io/resource-metrics-path"

// UsageCPUAnnotation sets the CPU kwok reports a simulated pod using
// (kwok's usage-from-annotation ResourceUsage), as a quantity: "250m".
const UsageCPUAnnotation = "kwok.x-k8s.io/usage-cpu"

// Options are a cluster's folders, nodes and loopback ports. The defaults
// (DefaultOptions) are make cluster's; tests pick free ports so they run
// beside a developer's cluster.
type Options struct {
	// Dir holds the state: data, certificates, logs, kubeconfig, pids.
	Dir string
	// Bin holds the binaries tools/cluster/install.sh builds.
	Bin string
	// General and GPU are the simulated nodes, spread over Zones.
	General, GPU int
	// Metrics runs metrics-server behind the API server's aggregation
	// layer, reading the usage kwok simulates for each pod (the
	// kwok.x-k8s.io/usage-cpu and usage-memory annotations; 1m and 1Mi
	// without them), so that the HPAs' CPU metric resolves as on EKS.
	Metrics bool
	// RealNode adds a node a kubelet runs on this host (containerd, runc,
	// the CNI bridge), tainted RealNodeTaintKey, so that pods run for real:
	// images, probes, security contexts. It changes the host (see
	// HostState); Down puts it back. It needs root.
	RealNode bool
	// KubeletPort is the real node's kubelet's, on the bridge's gateway.
	KubeletPort int
	// Ports on 127.0.0.1.
	APIPort, EtcdPort, EtcdPeerPort, ControllerPort, SchedulerPort, KwokPort, MetricsPort int
}

// DefaultOptions is make cluster's cluster.
func DefaultOptions() Options {
	return Options{Dir: ".cluster", Bin: "bin/cluster", General: 4, GPU: 2,
		APIPort: 6443, EtcdPort: 2379, EtcdPeerPort: 2380, ControllerPort: 10257, SchedulerPort: 10259, KwokPort: 10247,
		Metrics: true, MetricsPort: 4443, KubeletPort: 10250}
}

// Binaries returns the folder of the cluster's binaries in a repository
// (bin/cluster), or an error naming the command that builds them.
func Binaries(repo string) (string, error) {
	bin := filepath.Join(repo, "bin", "cluster")
	if _, err := os.Stat(filepath.Join(bin, "kwok-stages.yaml")); err != nil {
		return bin, fmt.Errorf("%s is missing or incomplete: run tools/cluster/install.sh (make cluster-tools)", bin)
	}
	return bin, nil
}

// Cluster is a running control plane.
type Cluster struct {
	// Kubeconfig is the admin kubeconfig's path.
	Kubeconfig string
	// Dir is the state folder; Down(Dir) stops the cluster.
	Dir string
	// bin holds the binaries (ctr, for Import).
	bin string
}

// Up starts the control plane and kwok, registers the nodes and waits
// until they are Ready. The processes outlive the caller; Down stops them.
func Up(o Options) (*Cluster, error) {
	// Checked here, not in up: a failed up stops what it started, and
	// this cluster is not its to stop.
	if _, err := os.Stat(filepath.Join(o.Dir, "pids")); err == nil {
		return nil, fmt.Errorf("%s/pids exists: the cluster is up (devcluster down first)", o.Dir)
	}
	c, err := up(o)
	if err != nil {
		// Leave nothing running behind a failed start, and nothing a next
		// start would trip on; keep the logs the error points at.
		_, _ = stop(o.Dir)
		restored := restoreHost(o.Dir)
		err = errors.Join(err, restored)
		entries, _ := os.ReadDir(o.Dir)
		for _, e := range entries {
			// The record of the host stays while the host is not back.
			if e.Name() != "logs" && (e.Name() != "host.json" || restored == nil) {
				_ = os.RemoveAll(filepath.Join(o.Dir, e.Name()))
			}
		}
	}
	return c, err
}

func up(o Options) (*Cluster, error) {
	dir, bin, general, gpu := o.Dir, o.Bin, o.General, o.GPU
	if general < 1 || gpu < 0 {
		return nil, fmt.Errorf("%d general and %d GPU nodes: want at least one general node", general, gpu)
	}
	need := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"}
	if o.Metrics {
		need = append(need, "metrics-server")
	}
	var node *realNode
	if o.RealNode {
		need = append(need, realNodeBinaries...)
		for _, tool := range realNodeHostTools {
			if _, err := os.Stat(tool); err != nil {
				return nil, fmt.Errorf("%s is missing: run tools/cluster/install.sh (make cluster does)", tool)
			}
		}
		node = &realNode{name: RealNodeName, ip: net.ParseIP(Gateway).To4()}
	}
	for _, b := range need {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s/%s is missing: run tools/cluster/install.sh (make cluster does)", bin, b)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	token, err := secrets(abs)
	if err != nil {
		return nil, err
	}
	if node != nil {
		if err := checkFreeSpace(abs, realNodeMinFreeMiB); err != nil {
			return nil, err
		}
		if err := claimRealNode(abs); err != nil {
			return nil, err
		}
	}
	if err := writePKI(abs, node); err != nil {
		return nil, err
	}
	pki := func(name string) string { return filepath.Join(abs, "pki", name) }
	var procs []*process
	// start runs one of bin's binaries, or a host tool named by its path.
	start := func(name string, args ...string) error {
		path := name
		if !filepath.IsAbs(name) {
			path = filepath.Join(bin, name)
		}
		p, err := startProcess(abs, path, args...)
		if err == nil {
			procs = append(procs, p)
		}
		return err
	}
	// alive fails as soon as a process Up started has exited: a taken port
	// shows at once, not as a timeout.
	alive := func() error {
		for _, p := range procs {
			if err := p.failed(); err != nil {
				return fmt.Errorf("%w (see %s)", err, p.log)
			}
		}
		return nil
	}
	loop := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }
	began := time.Now()
	if err := start("etcd", "--data-dir", filepath.Join(abs, "etcd"), "--listen-client-urls", loop(o.EtcdPort),
		"--advertise-client-urls", loop(o.EtcdPort), "--listen-peer-urls", loop(o.EtcdPeerPort),
		"--initial-advertise-peer-urls", loop(o.EtcdPeerPort), "--initial-cluster", "default="+loop(o.EtcdPeerPort)); err != nil {
		return nil, err
	}
	// Another etcd answering on the port would pass /health; ours is the
	// one whose member list holds its own peer URL.
	if err := waitHTTP(http.MethodPost, loop(o.EtcdPort)+"/v3/cluster/member/list", "", loop(o.EtcdPeerPort), 30*time.Second, alive); err != nil {
		return nil, fmt.Errorf("etcd: %w", withLog(err, dir, "etcd"))
	}
	if err := start("kube-apiserver",
		"--etcd-servers", loop(o.EtcdPort), "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(o.APIPort), "--cert-dir", filepath.Join(abs, "apiserver"),
		"--token-auth-file", filepath.Join(abs, "tokens.csv"), "--authorization-mode", "Node,RBAC",
		"--service-account-key-file", filepath.Join(abs, "sa.pub"), "--service-account-signing-key-file", filepath.Join(abs, "sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-cluster-ip-range", ServiceSubnet,
		"--api-audiences", "https://kubernetes.default.svc,vault",
		// The aggregation layer, as on EKS: extension API servers
		// (metrics-server, the adapter) trust the user the aggregator names
		// in these headers when its client certificate is front-proxy-ca's.
		"--requestheader-client-ca-file", pki(pkiFrontProxy+".crt"), "--requestheader-allowed-names", FrontProxyClient,
		"--requestheader-username-headers", "X-Remote-User", "--requestheader-group-headers", "X-Remote-Group",
		"--requestheader-extra-headers-prefix", "X-Remote-Extra-",
		"--proxy-client-cert-file", pki(FrontProxyClient+".crt"), "--proxy-client-key-file", pki(FrontProxyClient+".key"),
		// Published beside the front proxy's CA for extension API servers,
		// which refuse to start their delegated authentication without it;
		// clients-ca signs the real node's kubelet's certificate. ca signs
		// serving certificates only, so no client authenticates with one.
		"--client-ca-file", pki(pkiClientBundle+".crt"),
		// Loopback is not a valid endpoint for the kubernetes Service; no
		// pod here talks to the API through it.
		"--endpoint-reconciler-type", "none",
		// A node's kubelet may change only its own Node and its pods'.
		"--enable-admission-plugins", "NodeRestriction",
		// Logs, exec and port-forward go to a kubelet at the address its
		// node reports (kwok's on loopback, a real one on the bridge's gateway),
		// whose serving certificate ca signed.
		"--kubelet-client-certificate", pki(pkiKubeletClient+".crt"), "--kubelet-client-key", pki(pkiKubeletClient+".key"),
		"--kubelet-certificate-authority", pki(pkiCA+".crt"), "--kubelet-preferred-address-types", "InternalIP"); err != nil {
		return nil, err
	}
	// The token is this cluster's own: another API server answers 401.
	if err := waitHTTP(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/readyz", o.APIPort), token, "", 90*time.Second, alive); err != nil {
		return nil, fmt.Errorf("kube-apiserver: %w", withLog(err, dir, "kube-apiserver"))
	}
	kubeconfig := filepath.Join(abs, "kubeconfig")
	// The API server wrote its self-signed certificate and its CA's
	// before it answered.
	apiCA, err := os.ReadFile(filepath.Join(abs, "apiserver", "apiserver.crt"))
	if err != nil {
		return nil, err
	}
	// The admin's: the token, and the API server's CA inline.
	admin, err := writeKubeconfig(newKubeconfig(loopbackAPI(o.APIPort), &clientcmdapi.Cluster{CertificateAuthorityData: apiCA}, "admin", &clientcmdapi.AuthInfo{Token: token}))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(kubeconfig, []byte(admin), 0o600); err != nil {
		return nil, err
	}
	if err := start("kube-controller-manager", "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(o.ControllerPort),
		"--service-account-private-key-file", filepath.Join(abs, "sa.key"), "--root-ca-file", filepath.Join(abs, "apiserver", "apiserver.crt"),
		"--use-service-account-credentials", "--controllers", "*,-nodeipam"); err != nil {
		return nil, err
	}
	if err := start("kube-scheduler", "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(o.SchedulerPort)); err != nil {
		return nil, err
	}
	// kwok renews the nodes' Leases; without it the node lifecycle
	// controller marks every node NotReady about a minute after it joined.
	// It also answers for every node's kubelet on loopback over TLS (the
	// nodes' InternalIP and kubelet port), where metrics-server reads each
	// node's /metrics/resource at the path the node's annotation gives.
	if err := start("kwok", "--kubeconfig", kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector", KwokAnnotation+"=fake", "--config", filepath.Join(bin, "kwok-stages.yaml"),
		"--node-lease-duration-seconds", "40", "--server-address", fmt.Sprintf("127.0.0.1:%d", o.KwokPort),
		"--node-ip", "127.0.0.1", "--node-port", strconv.Itoa(o.KwokPort),
		"--tls-cert-file", pki("kubelet.crt"), "--tls-private-key-file", pki("kubelet.key")); err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var names []string
	for _, n := range Nodes(general, gpu) {
		if _, err := client.CoreV1().Nodes().Create(ctx, &n, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("register node %s: %w", n.Name, err)
		}
		names = append(names, n.Name)
	}
	for _, name := range names {
		if err := waitReady(ctx, client, name, alive); err != nil {
			return nil, fmt.Errorf("node %s: %w", name, withLog(err, dir, "kwok"))
		}
	}
	real := ""
	if node != nil {
		host, err := SnapshotHost(abs)
		if err != nil {
			return nil, err
		}
		if err := writeHostState(abs, host); err != nil {
			return nil, err
		}
		if err := startRealNode(ctx, client, pathsOf(abs), bin, node, o.APIPort, o.KubeletPort, filepath.Join(abs, "apiserver", "apiserver.crt"), start, alive); err != nil {
			return nil, err
		}
		if err := waitReady(ctx, client, node.name, alive); err != nil {
			return nil, fmt.Errorf("node %s: %w", node.name, withLog(err, dir, "kubelet"))
		}
		if err := waitSchedulable(ctx, client, node.name, alive); err != nil {
			return nil, fmt.Errorf("node %s: %w", node.name, withLog(err, dir, "kube-controller-manager"))
		}
		if err := underPressure(ctx, client, node.name); err != nil {
			return nil, fmt.Errorf("node %s: %w", node.name, withLog(err, dir, "kubelet"))
		}
		if err := startNodeServices(pathsOf(abs), node, o.APIPort, start); err != nil {
			return nil, err
		}
		if err := deployDNS(ctx, client, pathsOf(abs), filepath.Join(abs, "apiserver", "apiserver.crt")); err != nil {
			return nil, withLog(err, dir, "kubelet")
		}
		real = fmt.Sprintf(", and %s, a real node at %s", node.name, node.ip)
	}
	served := ""
	if o.Metrics {
		if err := start("metrics-server", "--kubeconfig", kubeconfig,
			"--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
			"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(o.MetricsPort),
			"--tls-cert-file", pki(MetricsServerName+".crt"), "--tls-private-key-file", pki(MetricsServerName+".key"),
			"--kubelet-use-node-status-port", "--kubelet-preferred-address-types", "InternalIP",
			"--kubelet-certificate-authority", pki(pkiCA+".crt"), "--metric-resolution", "10s", "--kubelet-request-timeout", "5s"); err != nil {
			return nil, err
		}
		if err := registerMetrics(ctx, cfg, o.MetricsPort, pki(pkiCA+".crt"), alive); err != nil {
			return nil, fmt.Errorf("metrics.k8s.io: %w", withLog(err, dir, "metrics-server"))
		}
		served = "; metrics.k8s.io served by metrics-server"
	}
	if err := alive(); err != nil {
		return nil, err
	}
	fmt.Printf("devcluster: up in %s: %d general and %d GPU nodes over %d zones%s%s\n  export KUBECONFIG=%s\n",
		time.Since(began).Round(100*time.Millisecond), general, gpu, len(Zones), real, served, kubeconfig)
	return &Cluster{Kubeconfig: kubeconfig, Dir: abs, bin: bin}, nil
}

// Nodes are the simulated nodes, labelled and tainted as the AWS node
// groups' (components/gpunodegroup): general and GPU, round-robin over the
// zones.
func Nodes(general, gpu int) []corev1.Node {
	var out []corev1.Node
	node := func(group string, i int, gpus int) corev1.Node {
		zone := Zones[i%len(Zones)]
		name := fmt.Sprintf("%s-%s-%d", group, zone, i)
		n := corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Annotations: map[string]string{
					KwokAnnotation: "fake",
					// metrics-server reads the node's /metrics/resource
					// here; kwok serves every node's under its name.
					ResourceMetricsPathAnnotation: "/metrics/nodes/" + name + "/metrics/resource",
				},
				Labels: map[string]string{
					"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
					"topology.kubernetes.io/zone": zone, "intelliflow.io/node-group": group, "type": "kwok",
				},
			},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("100Gi")},
			},
		}
		if gpus > 0 {
			n.Labels["nvidia.com/gpu.present"] = "true"
			n.Spec.Taints = []corev1.Taint{{Key: "nvidia.com/gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
			n.Status.Allocatable["nvidia.com/gpu"] = *resource.NewQuantity(int64(gpus), resource.DecimalSI)
		}
		n.Status.Capacity = n.Status.Allocatable.DeepCopy()
		return n
	}
	for i := range general {
		out = append(out, node("general", i, 0))
	}
	for i := range gpu {
		out = append(out, node("gpu", i, 1))
	}
	return out
}

// secrets writes the service-account key pair and the admin token file.
func secrets(dir string) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	files := map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(token + ",admin,admin,system:masters\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", err
		}
	}
	return token, nil
}

// process is a control-plane process Up started.
type process struct {
	name, log string
	exited    chan struct{}
}

// startProcess starts a binary in its own process group (it outlives this
// process; Down stops it), logging to logs/<name>.log, and records its pid.
func startProcess(dir, path string, args ...string) (*process, error) {
	name := filepath.Base(path)
	logPath := filepath.Join(dir, "logs", name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, log: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	f, err := os.OpenFile(filepath.Join(dir, "pids"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%d %s\n", cmd.Process.Pid, name)
	return p, err
}

// failed says why the process has exited, or nil while it runs. A port
// another process holds is freeport.ErrInUse, so callers can pick others.
func (p *process) failed() error {
	select {
	case <-p.exited:
	default:
		return nil
	}
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	// The last line, unless an earlier one says why: a panic's last line
	// is a stack frame, a usage error's the help text.
	why := lines[len(lines)-1]
	for _, l := range lines {
		if strings.Contains(strings.ToLower(l), "address already in use") {
			return fmt.Errorf("%s exited: %w: %.300s", p.name, freeport.ErrInUse, l)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "Error:") {
			why = l
			break
		}
	}
	return fmt.Errorf("%s exited: %.500s", p.name, why)
}

// withLog points at the log of the process a wait was for, unless the error
// already names the log of the process that died.
func withLog(err error, dir, name string) error {
	if strings.Contains(err.Error(), "(see ") {
		return err
	}
	return fmt.Errorf("%w (see %s/logs/%s.log)", err, dir, name)
}

// waitHTTP polls url until it answers 200 (with want in the body, when
// given), failing early when alive reports a dead process.
func waitHTTP(method, url, token, want string, limit time.Duration, alive func() error) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // loopback, self-signed
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if err := alive(); err != nil {
			return err
		}
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader("{}")
		}
		req, _ := http.NewRequest(method, url, body)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode != http.StatusOK:
				last = fmt.Errorf("%s answered %s", url, resp.Status)
			case !strings.Contains(string(b), want):
				last = fmt.Errorf("%s is another server's (no %s in %.200s)", url, want, b)
			default:
				return nil
			}
		} else {
			last = err
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", limit, last)
}

// waitReady waits until the node reports Ready.
func waitReady(ctx context.Context, client kubernetes.Interface, name string, alive func() error) error {
	return waitNode(ctx, client, name, alive, "not Ready", func(n *corev1.Node) bool {
		return slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool {
			return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
		})
	})
}

// waitSchedulable waits until the node lifecycle controller has lifted the
// not-ready taint a kubelet registers its node with.
func waitSchedulable(ctx context.Context, client kubernetes.Interface, name string, alive func() error) error {
	return waitNode(ctx, client, name, alive, "still tainted "+corev1.TaintNodeNotReady, func(n *corev1.Node) bool {
		return !slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady })
	})
}

// underPressure fails when the node reports disk, memory or process
// pressure: its taint would keep every pod Pending, and a caller would see
// only the timeout of whatever waits for them.
func underPressure(ctx context.Context, client kubernetes.Interface, name string) error {
	n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var under []string
	for _, c := range n.Status.Conditions {
		switch c.Type {
		case corev1.NodeDiskPressure, corev1.NodeMemoryPressure, corev1.NodePIDPressure:
			if c.Status == corev1.ConditionTrue {
				under = append(under, fmt.Sprintf("%s (%s)", c.Type, c.Message))
			}
		}
	}
	if under != nil {
		return fmt.Errorf("under pressure: %s", strings.Join(under, "; "))
	}
	return nil
}

// waitNode polls the node until ok says so, failing early when alive
// reports a dead process, and with why when ctx ends.
func waitNode(ctx context.Context, client kubernetes.Interface, name string, alive func() error, why string, ok func(*corev1.Node) bool) error {
	for {
		if err := alive(); err != nil {
			return err
		}
		if n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil && ok(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", why, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Down stops every process Up started, in reverse order, puts back what a
// real node changed on the host, and removes the state folder. It reports
// how many processes it stopped.
func Down(dir string) (int, error) {
	n, err := stop(dir)
	if err != nil {
		return n, err
	}
	if err := restoreHost(dir); err != nil {
		return n, err
	}
	return n, os.RemoveAll(dir)
}

// stop stops every process Up started, in reverse order, and reports how
// many there were.
func stop(dir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "pids"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if pid, err := strconv.Atoi(strings.Fields(lines[i])[0]); err == nil {
			_ = syscall.Kill(-pid, syscall.SIGTERM)
		}
	}
	time.Sleep(time.Second)
	for _, line := range lines {
		if pid, err := strconv.Atoi(strings.Fields(line)[0]); err == nil {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	return len(lines), os.Remove(filepath.Join(dir, "pids"))
}
