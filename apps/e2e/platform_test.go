package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/localplatform"
	"github.com/intelliflow/platform/internal/proctest"
)

// mail is a message in mailpit.
type mail struct {
	Subject string
	To      []struct{ Address string }
	Created time.Time
}

func inbox(t *testing.T, mailpit string) []mail {
	t.Helper()
	resp, err := http.Get(mailpit + "/api/v1/messages")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct{ Messages []mail }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Messages
}

// TestWholePlatform runs what `make local` runs (every service on
// loopback, with PostgreSQL, Redis, FerretDB, mailpit, kfake, the model
// bucket and registry) and drives it through the gateway as a user would:
// register, get funded by an admin, pay; a payment fraud declines arrives
// as an e-mail in mailpit naming it, and every payment shows in
// analytics' reports. Stopping leaves nothing listening.
func TestWholePlatform(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	for _, bin := range []string{"ferretdb", "mailpit"} {
		if _, err := os.Stat(filepath.Join(root, "bin", "local", bin)); err != nil {
			if os.Getenv("INTELLIFLOW_REQUIRE_SERVICES") != "" {
				t.Fatalf("bin/local/%s is missing: run tools/local/install.sh (make local-tools)", bin)
			}
			t.Skipf("bin/local/%s is missing (make local-tools)", bin)
		}
	}
	ctx := context.Background()
	start := time.Now()
	lp, err := localplatform.Start(ctx, localplatform.Options{Root: root, Dir: filepath.Join(t.TempDir(), "local"), Race: proctest.Race})
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			lp.Stop()
		}
	})
	t.Logf("platform up in %s", time.Since(start).Round(time.Millisecond))
	p := platform{gateway: &proctest.Process{URL: lp.GatewayURL}}

	alice, _ := p.login(t, "alice@e2e.example")
	_, _ = p.login(t, "ops@e2e.example")
	require.NoError(t, lp.GrantAdmin(ctx, "ops@e2e.example"))
	admin, _ := p.login(t, "ops@e2e.example")

	acct := p.call(t, "POST", "/api/v1/accounts", alice, "", `{"currency":"EUR"}`)
	require.Equal(t, 201, acct.code, acct.body)
	id := acct.body["id"].(string)
	dep := p.call(t, "POST", "/api/v1/accounts/"+id+"/deposits", admin, "dep-1", `{"amount":5000000,"currency":"EUR"}`)
	require.Equal(t, 201, dep.code, dep.body)

	// Small payments at one shop build the card's history: approved.
	for i := range 4 {
		pay := p.call(t, "POST", "/api/v1/transactions", alice, fmt.Sprintf("small-%d", i),
			fmt.Sprintf(`{"account_id":%q,"merchant_id":"m-coffee","amount":%d,"currency":"EUR"}`, id, 300+i))
		require.Equal(t, 201, pay.code, pay.body)
		require.Equal(t, "approved", pay.body["status"], pay.body)
	}
	require.Empty(t, inbox(t, lp.MailpitURL), "approvals send no mail")

	// A payment far out of the card's pattern: declined, and mailed.
	paid := time.Now()
	big := p.call(t, "POST", "/api/v1/transactions", alice, "big-1", fmt.Sprintf(`{"account_id":%q,"merchant_id":"m-jewels","amount":2000000,"currency":"EUR"}`, id))
	require.Equal(t, 201, big.code, big.body)
	require.Equal(t, "declined", big.body["status"], big.body)
	txID := big.body["id"].(string)
	var got []mail
	require.Eventually(t, func() bool { got = inbox(t, lp.MailpitURL); return len(got) > 0 }, 30*time.Second, 20*time.Millisecond,
		"no e-mail; notifications log:\n%s", readLog(lp, "notifications"))
	latency := time.Since(paid)
	require.Len(t, got, 1)
	require.Contains(t, got[0].Subject, "decline")
	require.Contains(t, got[0].Subject, txID, "the alert names the payment")
	require.Equal(t, lp.MailTo(), got[0].To[0].Address)
	t.Logf("payment to e-mail in mailpit: %s", latency.Round(time.Millisecond))

	// Analytics counts every payment once, and ranks the merchants.
	var rates reply
	require.Eventually(t, func() bool {
		rates = p.call(t, "GET", "/api/v1/analytics/fraud-rates", admin, "", "")
		return rates.code == 200 && rates.body["transactions"] == 5.0 && rates.body["alerts"] == 1.0
	}, 30*time.Second, 50*time.Millisecond, "%v", rates.body)
	require.Equal(t, map[string]any{"approve": 4.0, "decline": 1.0}, rates.body["by_decision"])
	require.Equal(t, 0.2, rates.body["decline_rate"])
	top := p.call(t, "GET", "/api/v1/analytics/top-merchants?currency=EUR", admin, "", "")
	require.Equal(t, 200, top.code, top.body)
	merchants := top.body["merchants"].([]any)
	require.Len(t, merchants, 2)
	require.Equal(t, "m-jewels", merchants[0].(map[string]any)["merchant"])
	require.Equal(t, 2000000.0, merchants[0].(map[string]any)["amount"])
	require.Equal(t, 403, p.call(t, "GET", "/api/v1/analytics/fraud-rates", alice, "", "").code, "reports are for admins")
	require.NoError(t, lp.Running(), "no process died on the way")

	lp.Stop()
	stopped = true
	u, _ := url.Parse(lp.GatewayURL)
	_, err = net.DialTimeout("tcp", u.Host, time.Second)
	require.Error(t, err, "the gateway is gone")
	u, _ = url.Parse(lp.MailpitURL)
	_, err = net.DialTimeout("tcp", u.Host, time.Second)
	require.Error(t, err, "mailpit is gone")
}

func readLog(lp *localplatform.Platform, name string) string {
	b, _ := os.ReadFile(filepath.Join(lp.Logs(), name+".log"))
	return strings.TrimSpace(string(b))
}
