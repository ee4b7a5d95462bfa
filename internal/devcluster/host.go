package devcluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// HostState is what a real node changes on the host: Up records it before
// it starts containerd (in <dir>/host.json) and Down puts it back, then
// compares. The kubelet sets kernel tunables and adds iptables chains, the
// bridge plugin turns on forwarding and adds a bridge, containerd mounts
// each pod's network namespace under /run/netns, and the kubelet creates a
// few host paths whatever its root folder.
type HostState struct {
	// Sysctls are the values of the tunables a node sets, by /proc/sys path.
	Sysctls map[string]string `json:"sysctls"`
	// Rules are iptables-save's and ip6tables-save's output.
	Rules map[string]string `json:"rules"`
	// Mounts are the mount points a node may add: under the cluster's
	// folder (the kubelet's root, containerd's state) and under nodePaths
	// (the pods' network namespaces in /run/netns). Others are other
	// programs' (a test's bind mount beside this one), not the node's to
	// take down.
	Mounts []string `json:"mounts"`
	// Paths are the host paths a node creates: whether each was there, and
	// what a folder held.
	Paths map[string][]string `json:"paths"`
	// Links are the network interfaces.
	Links []string `json:"links"`
	// IPSets are the names of the ipsets (kube-router's policies).
	IPSets []string `json:"ipsets"`
}

// nodeSysctls are what the kubelet (its kernel tunables), the bridge
// plugin (forwarding), kube-proxy (conntrack, route_localnet; configured
// to leave them) and kube-router (bridge netfilter) may set. Some exist
// only once their kernel module is in.
var nodeSysctls = []string{"kernel/panic", "kernel/panic_on_oops", "vm/overcommit_memory", "vm/panic_on_oom",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding",
	"net/ipv4/conf/all/route_localnet", "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
	"net/netfilter/nf_conntrack_max", "net/netfilter/nf_conntrack_tcp_timeout_established", "net/netfilter/nf_conntrack_tcp_timeout_close_wait"}

// nodePaths are the host paths a node may create whatever its folders.
var nodePaths = []string{"/var/lib/kubelet", "/var/log/containers", "/var/log/pods", "/run/netns", "/var/lib/cni", "/etc/cni",
	"/run/containerd", "/var/lib/containerd", "/run/runc", "/etc/kubernetes"}

// absent marks a path that was not there: no entry of a folder has a
// slash in its name.
const absent = "/absent"

// SnapshotHost records the host as the real node of the cluster in dir
// would change it.
func SnapshotHost(dir string) (HostState, error) {
	s := HostState{Sysctls: map[string]string{}, Rules: map[string]string{}, Paths: map[string][]string{}}
	for _, k := range nodeSysctls {
		b, err := os.ReadFile(filepath.Join("/proc/sys", k))
		switch {
		case errors.Is(err, os.ErrNotExist):
			s.Sysctls[k] = absent
		case err != nil:
			return s, err
		default:
			s.Sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(tool).Output()
		if err != nil {
			return s, fmt.Errorf("%s: %w", tool, err)
		}
		s.Rules[tool] = string(out)
	}
	mounts, err := mountPoints()
	if err != nil {
		return s, err
	}
	roots := append([]string{dir}, nodePaths...)
	for _, m := range mounts {
		if slices.ContainsFunc(roots, func(root string) bool { return m == root || strings.HasPrefix(m, root+"/") }) {
			s.Mounts = append(s.Mounts, m)
		}
	}
	for _, p := range nodePaths {
		entries, err := os.ReadDir(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			s.Paths[p] = []string{absent}
		case err != nil:
			return s, err
		default:
			names := []string{}
			for _, e := range entries {
				names = append(names, e.Name())
			}
			s.Paths[p] = names
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return s, err
	}
	for _, i := range ifaces {
		s.Links = append(s.Links, i.Name)
	}
	sort.Strings(s.Links)
	out, err := exec.Command("ipset", "list", "-n").Output()
	if err != nil {
		return s, fmt.Errorf("ipset list: %w", err)
	}
	s.IPSets = strings.Fields(string(out))
	return s, nil
}

// mountPoints are the host's mount points, in the order mounted.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out, sc.Err()
}

var mountEscape = regexp.MustCompile(`\\[0-7]{3}`)

// unescapeMount undoes mountinfo's octal escapes (a space is \040).
func unescapeMount(s string) string {
	return mountEscape.ReplaceAllStringFunc(s, func(e string) string {
		n, _ := strconv.ParseUint(e[1:], 8, 8)
		return string(rune(n))
	})
}

// Diff lists what differs between two states, as a person would check it:
// iptables by their rules (counters and comments aside, an empty table as
// no table), mounts and links as sets.
func (s HostState) Diff(now HostState) []string {
	var out []string
	for _, k := range nodeSysctls {
		if s.Sysctls[k] != now.Sysctls[k] {
			out = append(out, fmt.Sprintf("sysctl %s: %s, was %s", strings.ReplaceAll(k, "/", "."), now.Sysctls[k], s.Sysctls[k]))
		}
	}
	for tool, before := range s.Rules {
		if a, b := normalRules(before), normalRules(now.Rules[tool]); a != b {
			out = append(out, fmt.Sprintf("%s differs:\n--- before\n%s--- now\n%s", tool, a, b))
		}
	}
	if added, removed := setDiff(s.Mounts, now.Mounts); len(added)+len(removed) > 0 {
		out = append(out, fmt.Sprintf("mounts: added %v, gone %v", added, removed))
	}
	for _, p := range nodePaths {
		if added, removed := setDiff(s.Paths[p], now.Paths[p]); len(added)+len(removed) > 0 {
			out = append(out, fmt.Sprintf("%s: now %v, was %v", p, now.Paths[p], s.Paths[p]))
		}
	}
	if added, removed := setDiff(s.Links, now.Links); len(added)+len(removed) > 0 {
		out = append(out, fmt.Sprintf("links: added %v, gone %v", added, removed))
	}
	if added, removed := setDiff(s.IPSets, now.IPSets); len(added)+len(removed) > 0 {
		out = append(out, fmt.Sprintf("ipsets: added %v, gone %v", added, removed))
	}
	return out
}

func setDiff(before, now []string) (added, removed []string) {
	for _, x := range now {
		if !slices.Contains(before, x) {
			added = append(added, x)
		}
	}
	for _, x := range before {
		if !slices.Contains(now, x) {
			removed = append(removed, x)
		}
	}
	return added, removed
}

var counters = regexp.MustCompile(`\s*\[\d+:\d+\]`)

// normalRules is iptables-save's output without comments or counters, and
// without tables that hold nothing (only built-in chains that accept):
// what restoring an empty table leaves is what never loading it left.
func normalRules(save string) string {
	var b strings.Builder
	for _, table := range strings.Split(save, "COMMIT") {
		var lines []string
		empty := true
		for _, l := range strings.Split(table, "\n") {
			l = strings.TrimSpace(counters.ReplaceAllString(l, ""))
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			lines = append(lines, l)
			// A rule, a chain of its own (":NAME -") or a built-in chain
			// that no longer accepts is something.
			if !strings.HasPrefix(l, "*") && !(strings.HasPrefix(l, ":") && strings.HasSuffix(l, " ACCEPT")) {
				empty = false
			}
		}
		if !empty {
			b.WriteString(strings.Join(lines, "\n") + "\nCOMMIT\n")
		}
	}
	return b.String()
}

// writeHostState records s in dir for Down.
func writeHostState(dir string, s HostState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "host.json"), b, 0o600)
}

// restoreHost undoes what a real node did to the host, once its kubelet and
// containerd are stopped: it kills the containers their shims left, takes
// down the mounts that were not there, removes the paths and links that
// were not there, writes back the tunables and the iptables rules, and
// reports what still differs; with the host back, it releases the real
// node's claim. Without <dir>/host.json (no real node, or already
// restored) it only releases a claim dir holds.
func restoreHost(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	before, err := RecordedHost(abs)
	if errors.Is(err, os.ErrNotExist) {
		return releaseRealNode(abs)
	}
	if err != nil {
		return err
	}
	killShims(abs)
	// What is there now that was not before goes; what it was is the
	// record's.
	now, err := SnapshotHost(abs)
	if err != nil {
		return err
	}
	var errs []error
	mounts, _ := setDiff(before.Mounts, now.Mounts)
	for i := len(mounts) - 1; i >= 0; i-- { // the last mounted first
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mounts[i], err))
		}
	}
	for p, was := range before.Paths {
		if slices.Equal(was, []string{absent}) {
			errs = append(errs, os.RemoveAll(p))
			continue
		}
		added, _ := setDiff(was, now.Paths[p])
		for _, e := range slices.DeleteFunc(added, func(e string) bool { return e == absent }) {
			errs = append(errs, os.RemoveAll(filepath.Join(p, e)))
		}
	}
	links, _ := setDiff(before.Links, now.Links)
	for _, l := range links {
		if out, err := exec.Command("ip", "link", "delete", l).CombinedOutput(); err != nil && !bytes.Contains(out, []byte("Cannot find device")) {
			errs = append(errs, fmt.Errorf("ip link delete %s: %w: %s", l, err, out))
		}
	}
	for k, v := range before.Sysctls {
		if v != absent {
			errs = append(errs, os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644))
		}
	}
	for tool, rules := range before.Rules {
		errs = append(errs, restoreRules(strings.TrimSuffix(tool, "-save"), rules, now.Rules[tool]))
	}
	// After the rules, which may refer to them.
	sets, _ := setDiff(before.IPSets, now.IPSets)
	for _, set := range sets {
		if out, err := exec.Command("ipset", "destroy", set).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ipset destroy %s: %w: %s", set, err, out))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if now, err = SnapshotHost(abs); err != nil {
		return err
	}
	if diff := before.Diff(now); len(diff) > 0 {
		return fmt.Errorf("the host differs from before the real node:\n%s", strings.Join(diff, "\n"))
	}
	if err := os.Remove(filepath.Join(abs, "host.json")); err != nil {
		return err
	}
	return releaseRealNode(abs)
}

// RecordedHost is the host as Up found it before starting the real node of
// the cluster in dir (its host.json), while that node runs.
func RecordedHost(dir string) (HostState, error) {
	var s HostState
	b, err := os.ReadFile(filepath.Join(dir, "host.json"))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s/host.json: %w", dir, err)
	}
	return s, nil
}

// restoreRules puts back the rules iptables-save printed before, and
// empties the tables loaded since (the kubelet's canary chains live in
// mangle); now is what it prints now.
func restoreRules(family, before, now string) error {
	input := before
	tables := regexp.MustCompile(`(?m)^\*(\w+)$`)
	had := map[string]bool{}
	for _, m := range tables.FindAllStringSubmatch(before, -1) {
		had[m[1]] = true
	}
	for _, m := range tables.FindAllStringSubmatch(now, -1) {
		if !had[m[1]] {
			input += "*" + m[1] + "\nCOMMIT\n"
		}
	}
	cmd := exec.Command(family + "-restore")
	cmd.Stdin = strings.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s-restore: %w: %s", family, err, out)
	}
	return nil
}

// killShims kills the runc shims serving this cluster's containerd (they
// leave its process group on purpose, to outlive a containerd restart) and
// the pods' containers: every process under a shim, and every process in
// the kubelet's cgroups (/kubepods, as the cgroupfs driver names them),
// since a container whose shim died first has gone to init. It waits,
// briefly, for them to be gone: what they held mounted goes with them.
func killShims(dir string) {
	socket := pathsOf(dir).socket
	procs, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	var shims, pods []int
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces.
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte("containerd-shim-runc-v2")) && bytes.Contains(cmdline, []byte(socket)) {
			shims = append(shims, pid)
		}
		if cgroups, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup")); bytes.Contains(cgroups, []byte(":/kubepods")) {
			pods = append(pods, pid)
		}
	}
	under := func(pid int) bool {
		for p := pid; p > 1; p = parent[p] {
			if slices.Contains(shims, p) {
				return true
			}
		}
		return false
	}
	var killed []int
	for pid := range parent {
		if under(pid) || slices.Contains(pods, pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed = append(killed, pid)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !slices.ContainsFunc(killed, func(pid int) bool { return syscall.Kill(pid, 0) == nil }) {
			return
		}
	}
}
