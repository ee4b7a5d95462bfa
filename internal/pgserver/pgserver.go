// Package pgserver finds what running a PostgreSQL server of our own needs
// on these machines: Debian's server programs, and the account to run
// them as (PostgreSQL refuses root). The test servers (internal/pgtest)
// and the local platform (internal/localplatform) both start theirs so.
package pgserver

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// BinDir is the folder of the server's programs: Debian puts them in
// /usr/lib/postgresql/<major>/bin, off PATH; the newest major wins.
func BinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(found) == 0 {
		return "", fmt.Errorf("no PostgreSQL server programs (pg_ctl) found; scripts/install-services.sh installs them")
	}
	sort.Strings(found)
	return filepath.Dir(found[len(found)-1]), nil
}

// Account is who runs the server with dir as its folder: the caller, or
// as root Debian's postgres account, which is given dir. nil means the
// caller.
func Account(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres account: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
