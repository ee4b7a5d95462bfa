// Package pgtest starts throwaway PostgreSQL servers on loopback ports for
// integration tests: initdb into a temporary folder, postgres on a free
// port, removed at cleanup.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intelliflow/platform/internal/freeport"
	"github.com/intelliflow/platform/internal/pgserver"
)

// Server is a running PostgreSQL.
type Server struct {
	// Host and Port are where it listens (127.0.0.1).
	Host string
	Port int
	// Superuser is the bootstrap superuser (trust authentication on
	// loopback), for setting up what a test needs.
	Superuser string
	proc      *process
}

// URL is a connection URL for user (password may be empty) on database.
func (s Server) URL(user, password, database string) string {
	u := user
	if password != "" {
		u += ":" + password
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", u, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), database)
}

// Connect opens a connection as user, closed at cleanup.
func (s Server) Connect(t testing.TB, user, password, database string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL(user, password, database))
	if err != nil {
		t.Fatalf("connect to PostgreSQL as %s: %v", user, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// Pool opens a connection pool as user on database, closed at cleanup.
func (s Server) Pool(t testing.TB, user, database string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), s.URL(user, "", database))
	if err != nil {
		t.Fatalf("pool as %s: %v", user, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Start runs a PostgreSQL server for the test. It skips where PostgreSQL is
// missing, unless INTELLIFLOW_REQUIRE_SERVICES is set (make test sets it
// after scripts/install-services.sh), so CI can never pass without it.
func Start(t testing.TB) Server {
	t.Helper()
	bin, err := pgserver.BinDir()
	if err != nil {
		if os.Getenv("INTELLIFLOW_REQUIRE_SERVICES") != "" {
			t.Fatalf("%v; run scripts/install-services.sh", err)
		}
		t.Skipf("%v; make test installs it", err)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cred, err := pgserver.Account(dir)
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Dir = dir
		return cmd
	}
	data := filepath.Join(dir, "data")
	const super = "pgtest"
	if out, err := run("initdb", "-D", data, "-U", super, "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	proc := &process{}
	ports, err := freeport.Start(1, pick, func(ports []int) error {
		proc.current, err = launch(run, dir, data, ports[0], super)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	proc.restart = func() error {
		proc.current.stop()
		proc.current, err = launch(run, dir, data, ports[0], super)
		return err
	}
	t.Cleanup(func() { proc.current.stop() })
	return Server{Host: "127.0.0.1", Port: ports[0], Superuser: super, proc: proc}
}

// process is the server's current postgres, which Restart replaces.
type process struct {
	current *postgres
	restart func() error
}

// PID is the postmaster's process id (its backends are its children), for
// benchmarks that count the server's CPU (proctest.CPUOf).
func (s Server) PID() int { return s.proc.current.cmd.Process.Pid }

// Restart stops the server (a fast shutdown: sessions are cut, as a crash
// or a failover cuts them) and starts it again on the same port and data.
func (s Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.proc.restart(); err != nil {
		t.Fatalf("restart PostgreSQL: %v", err)
	}
}

// pick is freeport.Pick; a test hands out a taken port first.
var pick = freeport.Pick

// postgres is a running server of ours.
type postgres struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// stop shuts the server down fast (SIGINT), or kills it after 10 s.
func (p *postgres) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// launch starts postgres on port and waits until it answers as itself: a
// server that could not bind exits, and another test's server answering on
// the port has another data directory; both are freeport.ErrInUse.
func launch(run func(string, ...string) *exec.Cmd, dir, data string, port int, super string) (*postgres, error) {
	cmd := run("postgres", "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir, "-c", "fsync=off", "-c", "full_page_writes=off")
	logFile, err := os.Create(filepath.Join(dir, fmt.Sprintf("postgres-%d.log", port)))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &postgres{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	url := Server{Host: "127.0.0.1", Port: port}.URL(super, "", "postgres")
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.exited:
			log, _ := os.ReadFile(logFile.Name())
			if strings.Contains(string(log), "Address already in use") {
				return nil, fmt.Errorf("postgres on port %d: %w", port, freeport.ErrInUse)
			}
			return nil, fmt.Errorf("postgres on port %d exited:\n%s", port, log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var serving string
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			err = conn.QueryRow(ctx, "SHOW data_directory").Scan(&serving)
			_ = conn.Close(context.Background())
		}
		cancel()
		switch {
		case err == nil && serving == data:
			return p, nil
		case err == nil:
			p.stop()
			return nil, fmt.Errorf("another PostgreSQL (%s) answers on port %d: %w", serving, port, freeport.ErrInUse)
		case time.Now().After(deadline):
			p.stop()
			log, _ := os.ReadFile(logFile.Name())
			return nil, fmt.Errorf("PostgreSQL on port %d did not start: %v\n%s", port, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
