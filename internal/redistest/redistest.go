// Package redistest starts throwaway redis-server processes on loopback
// ports for integration tests.
package redistest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intelliflow/platform/internal/freeport"
	"github.com/intelliflow/platform/internal/loopbackca"
)

// Start runs a redis-server for the test and returns its address and a stop
// function (also run at cleanup). It skips where redis-server is missing,
// unless INTELLIFLOW_REQUIRE_SERVICES is set (make test sets it after
// scripts/install-services.sh), so CI can never pass without running it.
func Start(t testing.TB) (addr string, stop func()) {
	t.Helper()
	return start(t, nil, nil)
}

// TLS is a redis-server that, like ElastiCache with transit encryption,
// accepts only TLS clients with the password.
type TLS struct {
	// Addr is localhost:<port>, the name its certificate carries.
	Addr string
	// CAFile is the PEM file of the CA that signed its certificate.
	CAFile   string
	Password string
}

// StartTLS runs a redis-server that speaks TLS only, with a certificate for
// localhost signed by a CA made for the test, and requires password.
func StartTLS(t testing.TB, password string) TLS {
	t.Helper()
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := certificates(t)
	files := map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tlsArgs := func(port int) []string {
		return []string{"--port", "0", "--tls-port", fmt.Sprint(port), "--requirepass", password,
			"--tls-cert-file", filepath.Join(dir, "cert.pem"), "--tls-key-file", filepath.Join(dir, "key.pem"),
			"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"), "--tls-auth-clients", "no"}
	}
	client := func(addr string) *redis.Options {
		return &redis.Options{Addr: addr, Password: password, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}}
	}
	addr, _ := start(t, tlsArgs, client)
	_, port, _ := net.SplitHostPort(addr)
	return TLS{Addr: net.JoinHostPort("localhost", port), CAFile: filepath.Join(dir, "ca.pem"), Password: password}
}

// certificates makes a CA and a server certificate for localhost.
func certificates(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	ca, err := loopbackca.New("redistest CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Server("localhost", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	return ca.PEM, leaf.CertPEM, leaf.KeyPEM
}

// pick is freeport.Pick; a test hands out a taken port first.
var pick = freeport.Pick

// start runs redis-server with the listener arguments for a port (plain
// by default) and waits until it answers a client with those options.
func start(t testing.TB, listen func(port int) []string, client func(addr string) *redis.Options) (addr string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("INTELLIFLOW_REQUIRE_SERVICES") != "" {
			t.Fatal("redis-server is missing; run scripts/install-services.sh")
		}
		t.Skip("redis-server is missing; make test installs it")
	}
	if listen == nil {
		listen = func(port int) []string { return []string{"--port", fmt.Sprint(port)} }
	}
	if client == nil {
		client = func(addr string) *redis.Options { return &redis.Options{Addr: addr} }
	}
	dir := t.TempDir()
	var s *server
	ports, err := freeport.Start(1, pick, func(ports []int) error {
		s, err = launch(bin, dir, ports[0], listen, client)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return fmt.Sprintf("127.0.0.1:%d", ports[0]), s.stop
}

// server is a running redis-server of ours.
type server struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool
}

func (s *server) stop() {
	if !s.stopped {
		s.stopped = true
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// launch starts redis-server on port and waits until it answers as itself:
// a server that could not bind exits, and another test's server answering
// on the port has another process id; both are freeport.ErrInUse.
func launch(bin, dir string, port int, listen func(port int) []string, client func(addr string) *redis.Options) (*server, error) {
	logFile := filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))
	args := append(listen(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", logFile)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	opts := client(fmt.Sprintf("127.0.0.1:%d", port))
	opts.DialTimeout, opts.ReadTimeout, opts.MaxRetries = 200*time.Millisecond, 500*time.Millisecond, -1
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.exited:
			log, _ := os.ReadFile(logFile)
			if strings.Contains(string(log), "Address already in use") {
				return nil, fmt.Errorf("redis-server on port %d: %w", port, freeport.ErrInUse)
			}
			return nil, fmt.Errorf("redis-server on port %d exited: %s", port, log)
		default:
		}
		if info, err := rdb.Info(context.Background(), "server").Result(); err == nil {
			if strings.Contains(info, fmt.Sprintf("process_id:%d\r\n", cmd.Process.Pid)) {
				return s, nil
			}
			s.stop()
			return nil, fmt.Errorf("another redis-server answers on port %d: %w", port, freeport.ErrInUse)
		}
		if time.Now().After(deadline) {
			s.stop()
			log, _ := os.ReadFile(logFile)
			return nil, fmt.Errorf("redis-server on port %d did not start: %s", port, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
