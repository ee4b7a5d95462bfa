// Command localplatform runs the whole platform on this machine until
// Ctrl-C (make local): the stores, Kafka, the model bucket and registry,
// and the seven services, on loopback. It prints the gateway's URL, the
// demo accounts and where the mail and the logs are.
//
//	localplatform [--dir .local]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/intelliflow/platform/internal/localplatform"
)

// Demo accounts (dev only): registered at start, the second made admin.
const (
	demoEmail, adminEmail = "demo@intelliflow.local", "admin@intelliflow.local"
	demoPassword          = "dev-only demo password"
)

func main() {
	dir := flag.String("dir", ".local", "state folder (emptied at start): logs, databases, built binaries")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "localplatform:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, out io.Writer) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("run it from the repository's root (make local)")
	}
	p, err := localplatform.Start(ctx, localplatform.Options{Root: root, Dir: filepath.Join(root, dir), Progress: out})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "local: stopping")
		p.Stop()
		fmt.Fprintln(out, "local: stopped; nothing is left running (logs stay in", p.Logs()+")")
	}()
	for _, email := range []string{demoEmail, adminEmail} {
		if err := register(ctx, p.GatewayURL, email); err != nil {
			return err
		}
	}
	if err := p.GrantAdmin(ctx, adminEmail); err != nil {
		return err
	}
	fmt.Fprintf(out, `
IntelliFlow is running (dev-only credentials, loopback only).

  gateway      %s
  mail         %s  (fraud alerts to %s)
  logs         %s

  customer     %s / %s
  admin        %s / %s

  TOKEN=$(curl -s %s/auth/login -d '{"email":"%s","password":"%s"}' | jq -r .access_token)
  curl -s -H "Authorization: Bearer $TOKEN" %s/api/v1/accounts -d '{"currency":"EUR"}'

Ctrl-C stops everything.
`, p.GatewayURL, p.MailpitURL, p.MailTo(), p.Logs(), demoEmail, demoPassword, adminEmail, demoPassword,
		p.GatewayURL, demoEmail, demoPassword, p.GatewayURL)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := p.Running(); err != nil {
				return err
			}
		}
	}
}

// register makes the account through the gateway (409: there already).
func register(ctx context.Context, gateway, email string) error {
	body := fmt.Sprintf(`{"email":%q,"password":%q,"name":"Demo"}`, email, demoPassword)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gateway+"/auth/register", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("register %s: %d %s", email, resp.StatusCode, b)
	}
	return nil
}
