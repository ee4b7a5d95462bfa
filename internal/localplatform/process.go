package localplatform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/freeport"
)

// proc is a server process the platform started.
type proc struct {
	name    string
	cmd     *exec.Cmd
	log     string
	exited  chan struct{}
	stopSig os.Signal
}

// spawn starts bin with args and env (added to this process's), its
// output in logs/<name>.log. Each child gets a process group of its own:
// the terminal's Ctrl-C reaches only the platform, which stops the
// children in order.
func (p *Platform) spawn(name string, cred *syscall.Credential, env map[string]string, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(p.dir, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pr := &proc{name: name, cmd: cmd, log: logPath, exited: make(chan struct{}), stopSig: syscall.SIGTERM}
	go func() { _ = cmd.Wait(); close(pr.exited) }()
	return pr, nil
}

// stop signals the process and waits up to 15 s before killing it.
func (pr *proc) stop() {
	select {
	case <-pr.exited:
		return
	default:
	}
	_ = pr.cmd.Process.Signal(pr.stopSig)
	select {
	case <-pr.exited:
	case <-time.After(15 * time.Second):
		_ = pr.cmd.Process.Kill()
		<-pr.exited
	}
}

// tail is the end of the process's log, for an error message.
func (pr *proc) tail() string {
	b, _ := os.ReadFile(pr.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// wait polls ready until it succeeds, the process exits, or 60 s pass. A
// process that exits saying its address is in use is freeport.ErrInUse:
// the caller picks other ports.
func (pr *proc) wait(ctx context.Context, ready func(context.Context) error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-pr.exited:
			out := pr.tail()
			if strings.Contains(strings.ToLower(out), "address already in use") {
				return fmt.Errorf("%s: %w", pr.name, freeport.ErrInUse)
			}
			return fmt.Errorf("%s exited:\n%s", pr.name, out)
		case <-ctx.Done():
			pr.stop()
			return ctx.Err()
		default:
		}
		err := ready(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, freeport.ErrInUse) || time.Now().After(deadline) {
			pr.stop()
			if errors.Is(err, freeport.ErrInUse) {
				return err
			}
			return fmt.Errorf("%s did not get ready: %v\n%s", pr.name, err, pr.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startOn picks n free ports and starts a server on them with start, again
// on other ports when they were taken in between; the platform stops it.
// A store whose port the stack names gets that one first (and no retry).
func (p *Platform) startOn(st catalog.Store, n int, start func(ports []int) (*proc, error)) ([]int, error) {
	pick := freeport.Pick
	if port, ok := p.ports[st]; ok {
		pick = func(n int) ([]int, error) {
			rest, err := freeport.Pick(n - 1)
			return append([]int{port}, rest...), err
		}
	}
	var pr *proc
	ports, err := freeport.Start(n, pick, func(ports []int) error {
		var err error
		pr, err = start(ports)
		return err
	})
	if err != nil {
		return nil, err
	}
	p.procs = append(p.procs, pr)
	return ports, nil
}

// httpReady is a readiness check: GET url answers 200 with want in its
// body. Another server answering 200 without it has the port.
func httpReady(url, want string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		switch {
		case resp.StatusCode == http.StatusOK && strings.Contains(string(b), want):
			return nil
		case resp.StatusCode == http.StatusOK:
			return fmt.Errorf("another server answers %s: %w", url, freeport.ErrInUse)
		}
		return fmt.Errorf("%s: %d", url, resp.StatusCode)
	}
}

// tcpReady is a readiness check: something accepts connections on addr
// (the caller has checked the process is its own by other means).
func tcpReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}
