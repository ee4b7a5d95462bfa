package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"path/filepath"
	"slices"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/localplatform"
	"github.com/intelliflow/platform/stacks"
)

// storesFor is what the stores command serves for a stack: the address
// every store of the stack shares, and each store's port. Only a dev stack
// whose stores all name one IP address of this machine qualifies (the
// local cluster's real node reaches its host at the bridge's gateway);
// staging's and prod's stores are AWS's.
func storesFor(cfg stacks.Config) (string, map[catalog.Store]int, error) {
	if cfg.Environment != stacks.Dev || cfg.AWS != nil {
		return "", nil, fmt.Errorf("stores: %s is a %s stack; only a dev stack's stores run on this machine", cfg.Stack, cfg.Environment)
	}
	if cfg.TrustedCAFile == "" {
		return "", nil, fmt.Errorf("stores: stack %s has no %s:trustedCAFile for the stores' CA certificate", cfg.Stack, stacks.Namespace)
	}
	ports := map[catalog.Store]int{}
	var addr string
	for _, st := range slices.Sorted(maps.Keys(cfg.DataStores)) {
		e := cfg.DataStores[st]
		if net.ParseIP(e.Host) == nil || (addr != "" && e.Host != addr) {
			return "", nil, fmt.Errorf("stores: %s:dataStores.%s.host is %q; every store must name the same IP address of this machine", stacks.Namespace, st, e.Host)
		}
		addr, ports[st] = e.Host, e.Port
	}
	return addr, ports, nil
}

// startStores starts the stack's stores; the CA certificate goes to the
// stack's trustedCAFile. repo is where the committed model and bin/local
// are (the project root, except in tests).
func startStores(ctx context.Context, o options, repo string, getenv func(string) string, progress io.Writer) (*localplatform.Platform, string, error) {
	cfg, _, err := loadStack(o, getenv)
	if err != nil {
		return nil, "", err
	}
	addr, ports, err := storesFor(cfg)
	if err != nil {
		return nil, "", err
	}
	caFile := cfg.TrustedCAPath(o.root)
	p, err := localplatform.StartStores(ctx, localplatform.StoresOptions{
		Root: repo, Dir: filepath.Join(o.root, "out", "stores-"+o.stack), Address: addr, Ports: ports,
		Credentials: cfg.Credentials, ModelURI: cfg.FraudModel.URI, CAFile: caFile, Progress: progress,
	})
	return p, caFile, err
}

// runStores is the stores command: the stack's stores until ctx ends.
func runStores(ctx context.Context, o options, getenv func(string) string, stdout io.Writer) error {
	p, caFile, err := startStores(ctx, o, o.root, getenv, stdout)
	if err != nil {
		return err
	}
	defer p.Stop()
	addrs := p.Addresses()
	for _, st := range slices.Sorted(maps.Keys(addrs)) {
		fmt.Fprintf(stdout, "stores: %-9s %s\n", st, addrs[st])
	}
	fmt.Fprintf(stdout, "stores: CA certificate in %s; mail UI %s; logs in %s; Ctrl-C stops them\n", caFile, p.MailpitURL, p.Logs())
	<-ctx.Done()
	if err := p.Running(); err != nil {
		return errors.Join(errors.New("stores: a store stopped on its own"), err)
	}
	return nil
}
