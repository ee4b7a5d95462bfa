// Package proctest runs the platform's binaries as processes for tests and
// load runs: built from their packages (with the race detector when the
// test binary has it), started on free loopback ports, waited for until they
// answer as themselves, measured (CPU time), and stopped with SIGTERM the way
// Kubernetes stops them.
package proctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/intelliflow/platform/internal/freeport"
	"github.com/intelliflow/platform/internal/loadgen"
	"github.com/intelliflow/platform/internal/servicetest"
)

// Build compiles each package (a path the go command takes: "./cmd/x",
// "github.com/.../apps/users") into a temporary folder and returns the
// binaries by package. race builds them with the race detector.
func Build(t testing.TB, race bool, pkgs ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for _, pkg := range pkgs {
		bin := filepath.Join(dir, filepath.Base(strings.TrimSuffix(pkg, "/")))
		if filepath.Base(pkg) == "." {
			bin = filepath.Join(dir, "main")
		}
		args := []string{"build", "-o", bin}
		if race {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s %s: %v\n%s", strings.Join(args, " "), pkg, err, b)
		}
		out[pkg] = bin
	}
	return out
}

// Process is a server the test started.
type Process struct {
	// URL is http://127.0.0.1:<first port>.
	URL string
	// Ports are the ports it was given.
	Ports  []int
	cmd    *exec.Cmd
	output *servicetest.Logs
	exited chan struct{}
}

// URLOf is http://127.0.0.1:<port i>: for our services, URLOf(1) is the
// metrics listener (where DEBUG_PPROF serves profiles).
func (p *Process) URLOf(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", p.Ports[i]) }

// Output is what the process wrote so far.
func (p *Process) Output() string { return p.output.String() }

// Start runs the command command returns for n free ports and waits until
// GET URL+probe answers 200 with want in the body: want names this server,
// so another one answering on a port taken in between is told apart and
// the ports are picked again.
func Start(t testing.TB, n int, probe, want string, command func(ports []int) *exec.Cmd) *Process {
	t.Helper()
	var p *Process
	_, err := freeport.Start(n, freeport.Pick, func(ports []int) error {
		p = &Process{URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), Ports: ports, cmd: command(ports), output: &servicetest.Logs{}, exited: make(chan struct{})}
		p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
		if err := p.cmd.Start(); err != nil {
			return err
		}
		go func() { _ = p.cmd.Wait(); close(p.exited) }()
		deadline := time.Now().Add(60 * time.Second)
		for {
			select {
			case <-p.exited:
				if strings.Contains(strings.ToLower(p.output.String()), "address already in use") {
					return fmt.Errorf("%s: %w", p.cmd.Path, freeport.ErrInUse)
				}
				return fmt.Errorf("%s exited: %s", p.cmd.Path, p.output)
			default:
			}
			if resp, err := http.Get(p.URL + probe); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && strings.Contains(string(b), want) {
					return nil
				}
				if resp.StatusCode == http.StatusOK {
					_ = p.Stop()
					return fmt.Errorf("another server answers on %s: %w", p.URL, freeport.ErrInUse)
				}
			}
			if time.Now().After(deadline) {
				_ = p.Stop()
				return fmt.Errorf("%s did not answer %s: %s", p.cmd.Path, probe, p.output)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

// Env is the test's environment with overrides, for a command.
func Env(vars map[string]string) []string {
	env := os.Environ()
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// Stop sends SIGTERM and returns how the process ended; a binary built with
// the race detector exits 66 when it saw a race.
func (p *Process) Stop() error {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if s := p.cmd.ProcessState; s != nil && !s.Success() {
		return fmt.Errorf("%s: %s", p.cmd.Path, s)
	}
	return nil
}

// CPU is the user and system CPU time the process and its children (an
// nginx master's workers) have used so far.
func (p *Process) CPU(t testing.TB) time.Duration {
	t.Helper()
	return CPUOf(t, p.cmd.Process.Pid)
}

// CPUOf is the CPU time pid and its live children have used, for servers
// another package started (PostgreSQL's postmaster and its backends).
func CPUOf(t testing.TB, pid int) time.Duration {
	t.Helper()
	total, _, err := stat(pid)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if cpu, parent, err := stat(child); err == nil && parent == pid {
			total += cpu
		}
	}
	return total
}

// stat reads a process's CPU time, with that of the children it has
// waited for (a server's exited workers or backends), and its parent from
// /proc/<pid>/stat.
func stat(pid int) (cpu time.Duration, ppid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses: ppid is the
	// 2nd; utime, stime, cutime and cstime the 12th to 15th, in clock
	// ticks of 1/100 s.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ppid, _ = strconv.Atoi(f[1])
	ticks := 0
	for _, v := range f[11:15] {
		n, _ := strconv.Atoi(v)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, ppid, nil
}

// StartNginx runs Debian's nginx (scripts/install-nginx.sh installs it) in
// a folder of its own with the http-level configuration http returns for
// n free ports, and waits until GET port[0]+probe answers with want.
func StartNginx(t testing.TB, n int, probe, want string, http func(ports []int) string) *Process {
	t.Helper()
	bin := "/usr/sbin/nginx"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("nginx is missing: run scripts/install-nginx.sh (make bench does)")
	}
	dir := t.TempDir()
	return Start(t, n, probe, want, func(ports []int) *exec.Cmd {
		conf := fmt.Sprintf(`worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, http(ports))
		path := filepath.Join(dir, fmt.Sprintf("nginx-%d.conf", ports[0]))
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		return exec.Command(bin, "-p", dir, "-c", path, "-g", "daemon off;")
	})
}

// Settle waits until the processes are idle: an overloaded server keeps
// working off requests whose clients gave up, and would take the cores
// from what the test measures next.
func Settle(t testing.TB, ps ...*Process) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		var before time.Duration
		for _, p := range ps {
			before += p.CPU(t)
		}
		time.Sleep(time.Second)
		var after time.Duration
		for _, p := range ps {
			after += p.CPU(t)
		}
		if after-before < 30*time.Millisecond {
			return
		}
	}
	t.Log("processes still busy after 2 minutes")
}

// LoadgenPackage is the generic load generator every benchmark runs.
const LoadgenPackage = "github.com/intelliflow/platform/cmd/loadgen"

// Load runs the generator binary (built from LoadgenPackage) with args and
// returns its report.
func Load(t testing.TB, bin string, args ...string) loadgen.Report {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("loadgen %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("loadgen report: %v: %s", err, out)
	}
	return rep
}
