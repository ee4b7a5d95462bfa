// Package e2e runs the request path end to end on loopback: the gateway,
// users, transactions and fraud as the binaries production runs, on real
// PostgreSQL and Redis and a Kafka (kfake) that creates no topic by itself.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/intelliflow/platform/apps/transactions/events"
	"github.com/intelliflow/platform/internal/pgtest"
	"github.com/intelliflow/platform/internal/proctest"
	"github.com/intelliflow/platform/internal/redistest"
)

const (
	issuer   = "https://api.e2e.intelliflow.test"
	pkgUsers = "github.com/intelliflow/platform/apps/users"
	pkgTx    = "github.com/intelliflow/platform/apps/transactions"
	pkgFraud = "github.com/intelliflow/platform/apps/fraud"
	pkgGW    = "github.com/intelliflow/platform/apps/gateway"
)

// platform is the request path, running.
type platform struct {
	gateway, users, transactions, fraud *proctest.Process
	usersBin                            string
	usersEnv                            map[string]string
	kafka                               *kfake.Cluster
}

func startPlatform(t *testing.T) platform {
	t.Helper()
	bins := proctest.Build(t, proctest.Race, pkgUsers, pkgTx, pkgFraud, pkgGW)
	pg := pgtest.Start(t)
	redisAddr, _ := redistest.Start(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)

	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(v), 0o600))
		return p
	}
	db := map[string]string{
		"DATABASE_HOST": pg.Host, "DATABASE_PORT": strconv.Itoa(pg.Port), "DATABASE_NAME": "postgres", "DATABASE_SSLMODE": "disable",
		"DATABASE_USER_FILE": write("db-user", pg.Superuser), "DATABASE_PASSWORD_FILE": write("db-password", "vault-rendered"),
	}
	common := func(more ...map[string]string) map[string]string {
		env := map[string]string{"BIND_ADDRESS": "127.0.0.1", "SHUTDOWN_DRAIN": "10ms", "LOG_LEVEL": "info"}
		for _, m := range more {
			for k, v := range m {
				env[k] = v
			}
		}
		return env
	}
	serve := func(bin, probe, want string, env map[string]string) *proctest.Process {
		return proctest.Start(t, 2, probe, want, func(ports []int) *exec.Cmd {
			cmd := exec.Command(bin)
			cmd.Env = append(proctest.Env(env), "HTTP_PORT="+strconv.Itoa(ports[0]), "METRICS_PORT="+strconv.Itoa(ports[1]))
			return cmd
		})
	}

	// fraud, on the committed model.
	models := filepath.Join(dir, "models", "e2e-model")
	require.NoError(t, os.MkdirAll(models, 0o755))
	for _, f := range []string{"model.json", "reference.json", "metrics.json"} {
		b, err := os.ReadFile(filepath.Join("..", "fraud", "model", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(models, f), b, 0o644))
	}
	p := platform{kafka: cluster, usersBin: bins[pkgUsers]}
	p.fraud = serve(bins[pkgFraud], "/v2/models/fraud", "e2e-model", common(map[string]string{
		"MODEL_DIR": filepath.Dir(models), "REDIS_ADDR": redisAddr, "FEATURE_TIMEOUT": "250ms",
	}))
	p.usersEnv = common(db, map[string]string{
		"REDIS_ADDR": redisAddr, "JWT_SIGNING_KEY_FILE": write("jwt-signing-key", "e2e-signing-secret-0123456789abcdef012345"), "JWT_ISSUER": issuer,
	})
	p.users = serve(bins[pkgUsers], "/.well-known/jwks.json", `"kty":"OKP"`, p.usersEnv)
	p.transactions = serve(bins[pkgTx], "/readyz", "ready", common(db, map[string]string{
		"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "KAFKA_TOPIC_REPLICATION": "1", "FRAUD_URL": p.fraud.URL,
	}))
	p.gateway = serve(bins[pkgGW], "/api/health", `"ok"`, common(map[string]string{
		"REDIS_ADDR": redisAddr, "JWT_ISSUER": issuer, "USERS_URL": p.users.URL, "TRANSACTIONS_URL": p.transactions.URL,
		"FRAUD_URL": p.fraud.URL, "ANALYTICS_URL": "http://127.0.0.1:9", "ORCHESTRATOR_URL": "http://127.0.0.1:9", "TRUSTED_PROXY_CIDRS": "127.0.0.0/8",
	}))
	return p
}

type reply struct {
	code int
	body map[string]any
}

func (p platform) call(t *testing.T, method, path, token, key, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, p.gateway.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return reply{resp.StatusCode, out}
}

// login registers (when new) and logs in through the gateway.
func (p platform) login(t *testing.T, email string) (token, id string) {
	t.Helper()
	reg := p.call(t, "POST", "/auth/register", "", "", fmt.Sprintf(`{"email":%q,"password":"a long e2e password","name":"E2E"}`, email))
	require.Contains(t, []int{201, 409}, reg.code, reg.body)
	r := p.call(t, "POST", "/auth/login", "", "", fmt.Sprintf(`{"email":%q,"password":"a long e2e password"}`, email))
	require.Equal(t, 200, r.code, r.body)
	me := p.call(t, "GET", "/api/v1/users/me", r.body["access_token"].(string), "", "")
	require.Equal(t, 200, me.code, me.body)
	return r.body["access_token"].(string), me.body["id"].(string)
}

// TestRequestPath: register and log in through the gateway, open an
// account, have an admin fund it, pay a merchant, and find fraud's score on
// the payment and its event on the topic.
func TestRequestPath(t *testing.T) {
	p := startPlatform(t)
	alice, _ := p.login(t, "alice@e2e.example")

	// An admin, made with the users service's command.
	_, _ = p.login(t, "ops@e2e.example")
	grant := exec.Command(p.usersBin, "grant-admin", "ops@e2e.example")
	grant.Env = proctest.Env(p.usersEnv)
	out, err := grant.CombinedOutput()
	require.NoError(t, err, "%s", out)
	admin, _ := p.login(t, "ops@e2e.example") // a new token carries the role

	acct := p.call(t, "POST", "/api/v1/accounts", alice, "", `{"currency":"EUR"}`)
	require.Equal(t, 201, acct.code, acct.body)
	id := acct.body["id"].(string)
	require.Equal(t, 403, p.call(t, "POST", "/api/v1/accounts/"+id+"/deposits", alice, "dep-1", `{"amount":50000,"currency":"EUR"}`).code)
	dep := p.call(t, "POST", "/api/v1/accounts/"+id+"/deposits", admin, "dep-1", `{"amount":50000,"currency":"EUR"}`)
	require.Equal(t, 201, dep.code, dep.body)

	pay := p.call(t, "POST", "/api/v1/transactions", alice, "pay-1", `{"account_id":"`+id+`","merchant_id":"m-coffee","amount":450,"currency":"EUR"}`)
	require.Equal(t, 201, pay.code, pay.body)
	fraud := pay.body["fraud"].(map[string]any)
	require.Equal(t, true, fraud["checked"], "scored by the real fraud server")
	require.Contains(t, fraud["model"], "fraud/e2e-model")
	require.Contains(t, []any{"approved", "held", "declined"}, pay.body["status"])
	txID := pay.body["id"].(string)
	got := p.call(t, "GET", "/api/v1/transactions/"+txID, alice, "", "")
	require.Equal(t, 200, got.code)
	require.Equal(t, fraud["score"], got.body["fraud"].(map[string]any)["score"])

	bob, _ := p.login(t, "bob@e2e.example")
	require.Equal(t, 404, p.call(t, "GET", "/api/v1/transactions/"+txID, bob, "", "").code, "another user sees nothing of it")
	require.Equal(t, 401, p.call(t, "GET", "/api/v1/transactions/"+txID, "", "", "").code, "nor does a caller without a token")

	// Its event is on the topic the transactions service created.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka.ListenAddrs()...), kgo.ConsumeTopics("transactions.events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	found := false
	for deadline := time.Now().Add(30 * time.Second); !found && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var e events.Event
			require.NoError(t, json.Unmarshal(r.Value, &e))
			if e.Transaction.ID == txID && e.Type == events.Created {
				found = true
				require.Equal(t, id, string(r.Key), "keyed by account")
				require.Equal(t, events.SchemaVersion, e.Version)
				require.NotNil(t, e.Transaction.Fraud.Score)
				require.Equal(t, fraud["score"], *e.Transaction.Fraud.Score)
			}
		})
		cancel()
	}
	require.True(t, found, "the payment's event reached Kafka")

	// The delivery pipeline's smoke test, against this gateway: health, the
	// smoke account registered and logged in, a payment scored.
	smoke := func() ([]byte, error) {
		cmd := exec.Command("bash", filepath.Join("..", "..", "ci-cd", "jenkins", "smoke-api.sh"), p.gateway.URL)
		cmd.Env = proctest.Env(map[string]string{"SMOKE_EMAIL": "smoke@e2e.example", "SMOKE_PASSWORD": `a "quoted" \ smoke password`})
		return cmd.CombinedOutput()
	}
	out, err = smoke()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "is serving")
	out, err = smoke()
	require.NoError(t, err, "a second run finds the account registered: %s", out)

	// Every process exits cleanly (and, built with -race, without a race).
	for name, proc := range map[string]*proctest.Process{"gateway": p.gateway, "transactions": p.transactions, "users": p.users, "fraud": p.fraud} {
		require.NoError(t, proc.Stop(), "%s:\n%s", name, proc.Output())
	}
}
