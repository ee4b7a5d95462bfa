// Package ferretserver is what running a FerretDB of our own needs: where
// make local-tools puts the binary, the flags it runs with on a
// PostgreSQL, and the check that the server answering on a port is the
// process we started. The test servers (internal/mongotest) and the local
// platform (internal/localplatform) both start theirs so.
package ferretserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intelliflow/platform/internal/freeport"
)

// Binary is FerretDB in the repository root's bin/local, or an error
// naming the command that builds it.
func Binary(root string) (string, error) {
	bin := filepath.Join(root, "bin", "local", "ferretdb")
	if _, err := os.Stat(bin); err != nil {
		return bin, fmt.Errorf("%s is missing: run tools/local/install.sh (make local-tools)", bin)
	}
	return bin, nil
}

// Args run FerretDB on the PostgreSQL at pgURL, listening on loopback port
// with its state in stateDir.
func Args(pgURL string, port int, stateDir string) []string {
	return []string{"--handler=postgresql", "--postgresql-url=" + pgURL,
		"--listen-addr=127.0.0.1:" + strconv.Itoa(port), "--state-dir=" + stateDir,
		// Its debug listener would take the same port in every instance.
		"--debug-addr=127.0.0.1:0", "--telemetry=disable", "--log-level=warn", "--log-format=text"}
}

// URI is the server's address on port.
func URI(port int) string { return fmt.Sprintf("mongodb://127.0.0.1:%d/", port) }

// Check asks the server on port who it is: nil when it is process pid (the
// serverStatus pid), freeport.ErrInUse when another server answers, and
// the error while none does.
func Check(ctx context.Context, port, pid int) error {
	c, err := mongo.Connect(options.Client().ApplyURI(URI(port)).SetServerSelectionTimeout(time.Second).SetTimeout(2 * time.Second))
	if err != nil {
		return err
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	var status struct {
		PID int64 `bson:"pid"`
	}
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "serverStatus", Value: 1}}).Decode(&status); err != nil {
		return err
	}
	if int(status.PID) != pid {
		return fmt.Errorf("another server (pid %d) answers on port %d: %w", status.PID, port, freeport.ErrInUse)
	}
	return nil
}
