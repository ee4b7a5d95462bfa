// Package mongotest starts a throwaway MongoDB-protocol server for
// integration tests: FerretDB (bin/local/ferretdb, make local-tools) on a
// PostgreSQL of the test's own, on a loopback port, removed at cleanup. It
// stands in for DocumentDB, which speaks the same protocol.
package mongotest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intelliflow/platform/internal/ferretserver"
	"github.com/intelliflow/platform/internal/freeport"
	"github.com/intelliflow/platform/internal/pgtest"
)

// Server is a running FerretDB.
type Server struct {
	// URI has no credentials; Username and Password authenticate (PLAIN,
	// FerretDB's mechanism: they become its PostgreSQL login).
	URI                string
	Username, Password string
	// PID is FerretDB's process id.
	PID int
}

// Binary is where make local-tools puts FerretDB.
func Binary() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	return ferretserver.Binary(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Start runs FerretDB on a new PostgreSQL for the test. It skips where the
// binary is missing, unless INTELLIFLOW_REQUIRE_SERVICES is set (make test
// sets it after building it).
func Start(t testing.TB) Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("INTELLIFLOW_REQUIRE_SERVICES") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	pg := pgtest.Start(t)
	const user, password = "analytics", "dev-only-mongo-password"
	admin := pg.Connect(t, pg.Superuser, "", "postgres")
	for _, stmt := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", user, password),
		"CREATE DATABASE ferretdb OWNER " + user,
	} {
		if _, err := admin.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	dir := t.TempDir()
	var proc *ferret
	ports, err := freeport.Start(1, freeport.Pick, func(ports []int) error {
		proc, err = launch(bin, dir, pg.URL(user, password, "ferretdb"), ports[0])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.stop)
	return Server{URI: ferretserver.URI(ports[0]), Username: user, Password: password, PID: proc.cmd.Process.Pid}
}

// Connect is a client authenticated as the server's user, disconnected at
// cleanup.
func (s Server) Connect(t testing.TB) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI).
		SetAuth(options.Credential{AuthMechanism: "PLAIN", Username: s.Username, Password: s.Password}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

type ferret struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func (f *ferret) stop() {
	_ = f.cmd.Process.Signal(os.Interrupt)
	select {
	case <-f.exited:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
}

// launch starts FerretDB on port and waits until it answers as itself:
// one that could not bind exits, and another server answering on the port
// has another pid; both are freeport.ErrInUse.
func launch(bin, dir, pgURL string, port int) (*ferret, error) {
	log, err := os.Create(filepath.Join(dir, fmt.Sprintf("ferretdb-%d.log", port)))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, ferretserver.Args(pgURL, port, dir)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	f := &ferret{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(f.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-f.exited:
			out, _ := os.ReadFile(log.Name())
			if strings.Contains(string(out), "address already in use") {
				return nil, fmt.Errorf("ferretdb on port %d: %w", port, freeport.ErrInUse)
			}
			return nil, fmt.Errorf("ferretdb on port %d exited:\n%s", port, out)
		default:
		}
		err := ferretserver.Check(context.Background(), port, cmd.Process.Pid)
		switch {
		case err == nil:
			return f, nil
		case errors.Is(err, freeport.ErrInUse):
			f.stop()
			return nil, err
		case time.Now().After(deadline):
			f.stop()
			out, _ := os.ReadFile(log.Name())
			return nil, fmt.Errorf("ferretdb on port %d did not answer: %v\n%s", port, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
