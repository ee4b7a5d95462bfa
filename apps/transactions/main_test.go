package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/transactions/events"
	"github.com/intelliflow/platform/apps/transactions/internal/api"
	"github.com/intelliflow/platform/apps/transactions/internal/fraudclient"
	"github.com/intelliflow/platform/apps/transactions/internal/outbox"
	"github.com/intelliflow/platform/internal/golden"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/pgtest"
	"github.com/intelliflow/platform/internal/servicetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		// http.Transport keeps idle connections to the fake fraud servers.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

// fraudFake is a fraud server whose answer the test sets.
type fraudFake struct {
	*httptest.Server
	decision atomic.Value // "approve", "review", "decline", or "down"
	calls    atomic.Int64
}

func newFraud(t *testing.T) *fraudFake {
	f := &fraudFake{}
	f.decision.Store("approve")
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		var p fraudclient.Payment
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.CardID == "" || p.Amount <= 0 {
			http.Error(w, "bad payment", http.StatusBadRequest)
			return
		}
		d := f.decision.Load().(string)
		if d == "down" {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		score := map[string]float64{"approve": 0.05, "review": 0.6, "decline": 0.95}[d]
		fmt.Fprintf(w, `{"score":%g,"decision":%q,"model":{"name":"fraud","version":"test"},"degraded":false}`, score, d)
	}))
	t.Cleanup(f.Close)
	return f
}

type service struct {
	url, metrics string
	pg           pgtest.Server
	kafka        *kfake.Cluster
	fraud        *fraudFake
	logs         *servicetest.Logs
	stop         func() error
}

// start runs the service on a fresh PostgreSQL, a Kafka that creates no
// topic by itself, and the fake fraud server, with env overrides.
func start(t *testing.T, env map[string]string) service {
	t.Helper()
	pg := pgtest.Start(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	fraud := newFraud(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "db-user"), []byte(pg.Superuser), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "db-password"), []byte("vault-rendered"), 0o600))
	base := map[string]string{
		"DATABASE_HOST": pg.Host, "DATABASE_PORT": strconv.Itoa(pg.Port), "DATABASE_NAME": "postgres", "DATABASE_SSLMODE": "disable",
		"DATABASE_USER_FILE": filepath.Join(dir, "db-user"), "DATABASE_PASSWORD_FILE": filepath.Join(dir, "db-password"), "DATABASE_MAX_CONNS": "60",
		"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "KAFKA_TOPIC_REPLICATION": "1", "KAFKA_TOPIC_PARTITIONS": "3",
		"FRAUD_URL": fraud.URL, "FRAUD_SCORE_TIMEOUT": "500ms",
	}
	for k, v := range env {
		base[k] = v
	}
	s := servicetest.Start(t, "transactions", run, base)
	return service{url: s.API, metrics: s.Metrics, pg: pg, kafka: cluster, fraud: fraud, logs: s.Logs, stop: s.Stop}
}

var (
	alice = identity.Caller{Subject: "user-alice", Role: "customer"}
	bob   = identity.Caller{Subject: "user-bob", Role: "customer"}
	admin = identity.Caller{Subject: "user-admin", Role: "admin"}
)

type reply struct {
	code   int
	body   map[string]any
	header http.Header
}

func (s service) do(t *testing.T, who *identity.Caller, method, path, key, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if who != nil {
		req.Header.Set(identity.SubjectHeader, who.Subject)
		req.Header.Set(identity.RoleHeader, who.Role)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return reply{resp.StatusCode, out, resp.Header}
}

// account opens an account for who and, when funds > 0, has an admin
// deposit them.
func (s service) account(t *testing.T, who identity.Caller, currency string, funds int64) string {
	t.Helper()
	r := s.do(t, &who, "POST", "/v1/accounts", "", `{"currency":"`+currency+`"}`)
	require.Equal(t, 201, r.code, r.body)
	id := r.body["id"].(string)
	if funds > 0 {
		d := s.do(t, &admin, "POST", "/v1/accounts/"+id+"/deposits", "deposit-"+id, fmt.Sprintf(`{"amount":%d,"currency":%q}`, funds, currency))
		require.Equal(t, 201, d.code, d.body)
	}
	return id
}

func (s service) balance(t *testing.T, who identity.Caller, id string) int64 {
	t.Helper()
	r := s.do(t, &who, "GET", "/v1/accounts/"+id, "", "")
	require.Equal(t, 200, r.code, r.body)
	return int64(r.body["balance"].(float64))
}

func TestPaymentsTransfersAndReviews(t *testing.T) {
	s := start(t, nil)
	a1 := s.account(t, alice, "EUR", 100_00)
	b1 := s.account(t, bob, "EUR", 0)

	pay := s.do(t, &alice, "POST", "/v1/transactions", "k1", `{"account_id":"`+a1+`","merchant_id":"m-42","amount":1250,"currency":"EUR"}`)
	require.Equal(t, 201, pay.code, pay.body)
	require.Equal(t, "approved", pay.body["status"])
	require.Equal(t, "payment", pay.body["kind"])
	require.Equal(t, true, pay.body["fraud"].(map[string]any)["checked"])
	require.Equal(t, "/v1/transactions/"+pay.body["id"].(string), pay.header.Get("Location"))
	require.Equal(t, int64(100_00-1250), s.balance(t, alice, a1))

	tr := s.do(t, &alice, "POST", "/v1/transactions", "k2", `{"account_id":"`+a1+`","to_account_id":"`+b1+`","amount":2000,"currency":"EUR"}`)
	require.Equal(t, 201, tr.code, tr.body)
	require.Equal(t, int64(2000), s.balance(t, bob, b1))
	require.Equal(t, 200, s.do(t, &bob, "GET", "/v1/transactions/"+tr.body["id"].(string), "", "").code, "the receiver sees the transfer")
	require.Equal(t, 404, s.do(t, &bob, "GET", "/v1/accounts/"+a1, "", "").code, "but not the sender's account")
	require.Equal(t, 404, s.do(t, &bob, "GET", "/v1/transactions/"+pay.body["id"].(string), "", "").code)

	// Fraud says review: the funds leave now, arrive on approval.
	s.fraud.decision.Store("review")
	held := s.do(t, &alice, "POST", "/v1/transactions", "k3", `{"account_id":"`+a1+`","to_account_id":"`+b1+`","amount":500,"currency":"EUR"}`)
	require.Equal(t, 201, held.code, held.body)
	require.Equal(t, "held", held.body["status"])
	require.Equal(t, int64(100_00-1250-2000-500), s.balance(t, alice, a1))
	require.Equal(t, int64(2000), s.balance(t, bob, b1))
	require.Equal(t, 403, s.do(t, &alice, "POST", "/v1/transactions/"+held.body["id"].(string)+"/review", "", `{"decision":"approve"}`).code)
	rv := s.do(t, &admin, "POST", "/v1/transactions/"+held.body["id"].(string)+"/review", "", `{"decision":"approve"}`)
	require.Equal(t, 200, rv.code, rv.body)
	require.Equal(t, "approved", rv.body["status"])
	require.Equal(t, int64(2500), s.balance(t, bob, b1))
	require.Equal(t, 409, s.do(t, &admin, "POST", "/v1/transactions/"+held.body["id"].(string)+"/review", "", `{"decision":"decline"}`).code)

	// Declined: recorded, nothing moves.
	s.fraud.decision.Store("decline")
	dec := s.do(t, &alice, "POST", "/v1/transactions", "k4", `{"account_id":"`+a1+`","merchant_id":"m-7","amount":3000,"currency":"EUR"}`)
	require.Equal(t, 201, dec.code, dec.body)
	require.Equal(t, "declined", dec.body["status"])
	require.Equal(t, int64(100_00-1250-2000-500), s.balance(t, alice, a1))

	// History, newest first, in pages.
	seen := map[string]bool{}
	cursor := ""
	for page := 0; page < 10; page++ {
		r := s.do(t, &alice, "GET", "/v1/accounts/"+a1+"/transactions?limit=2&cursor="+cursor, "", "")
		require.Equal(t, 200, r.code, r.body)
		for _, x := range r.body["transactions"].([]any) {
			seen[x.(map[string]any)["id"].(string)] = true
		}
		if cursor = r.body["next"].(string); cursor == "" {
			break
		}
	}
	require.Len(t, seen, 5, "deposit, payment, transfer, held transfer, declined payment")
	require.Equal(t, 400, s.do(t, &alice, "GET", "/v1/accounts/"+a1+"/transactions?cursor=bogus", "", "").code)
}

func TestIdempotency(t *testing.T) {
	s := start(t, nil)
	a1 := s.account(t, alice, "EUR", 1_000_00)
	body := `{"account_id":"` + a1 + `","merchant_id":"m-1","amount":100,"currency":"EUR"}`

	require.Equal(t, 400, s.do(t, &alice, "POST", "/v1/transactions", "", body).code, "the key is required")
	first := s.do(t, &alice, "POST", "/v1/transactions", "same-key", body)
	require.Equal(t, 201, first.code, first.body)
	again := s.do(t, &alice, "POST", "/v1/transactions", "same-key", strings.ReplaceAll(body, ",", ", "))
	require.Equal(t, 201, again.code)
	require.Equal(t, first.body["id"], again.body["id"])
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	other := s.do(t, &alice, "POST", "/v1/transactions", "same-key", strings.Replace(body, `"amount":100`, `"amount":101`, 1))
	require.Equal(t, 422, other.code)
	require.Contains(t, other.body["error"], "Idempotency-Key was used before")
	require.Equal(t, 201, s.do(t, &bob, "POST", "/v1/accounts", "", `{"currency":"EUR"}`).code)

	// 50 concurrent duplicates: one runs, the rest wait and replay it.
	var wg sync.WaitGroup
	ids := make(chan string, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.do(t, &alice, "POST", "/v1/transactions", "burst-key", body)
			if r.code == 201 {
				ids <- r.body["id"].(string)
			} else {
				ids <- fmt.Sprint(r.code, r.body)
			}
		}()
	}
	wg.Wait()
	close(ids)
	distinct := map[string]int{}
	for id := range ids {
		distinct[id]++
	}
	require.Len(t, distinct, 1, "every duplicate got the one transaction: %v", distinct)
	var rows int
	require.NoError(t, s.pg.Pool(t, s.pg.Superuser, "postgres").QueryRow(context.Background(),
		`SELECT count(*) FROM transactions WHERE kind = 'payment'`).Scan(&rows))
	require.Equal(t, 2, rows, "same-key and burst-key: exactly one row each")
	require.Equal(t, int64(1_000_00-200), s.balance(t, alice, a1))
}

// TestNoOverdraft: forty concurrent debits of 10.00 on an account holding
// 100.00: exactly ten go through, the balance ends at zero, never below.
func TestNoOverdraft(t *testing.T) {
	s := start(t, nil)
	a1 := s.account(t, alice, "EUR", 100_00)
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.do(t, &alice, "POST", "/v1/transactions", fmt.Sprintf("debit-%d", i), `{"account_id":"`+a1+`","merchant_id":"m","amount":1000,"currency":"EUR"}`)
			switch {
			case r.code == 201:
				ok.Add(1)
			case r.code == 422 && strings.Contains(fmt.Sprint(r.body["error"]), "insufficient funds"):
				refused.Add(1)
			default:
				t.Errorf("unexpected %d %v", r.code, r.body)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(10), ok.Load())
	require.Equal(t, int64(30), refused.Load())
	require.Zero(t, s.balance(t, alice, a1))
}

func TestBadInputStoresNothing(t *testing.T) {
	s := start(t, nil)
	a1 := s.account(t, alice, "EUR", 100_00)
	usd := s.account(t, alice, "USD", 0)
	for i, tt := range []struct {
		body, ctype string
		code        int
		want        string
	}{
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":100,"currency":"EUR","note":"x"}`, "", 400, `unknown field "note"`},
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":100,"currency":"EUR"} {"again":1}`, "", 400, "more than one value"},
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":100,"currency":"EUR"}`, "text/plain", 415, "Content-Type"},
		{`{"account_id":"` + a1 + `","merchant_id":"` + strings.Repeat("m", 20<<10) + `","amount":100,"currency":"EUR"}`, "", 413, "body larger than"},
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":-5,"currency":"EUR"}`, "", 422, "amount: -5"},
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":0,"currency":"EUR"}`, "", 422, "amount: 0"},
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":99999999999999999999,"currency":"EUR"}`, "", 400, "malformed JSON"},
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":1000000000001,"currency":"EUR"}`, "", 422, "want 1 to 1000000000000"},
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":10.5,"currency":"EUR"}`, "", 400, "malformed JSON"},
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":100,"currency":"EURO"}`, "", 422, `currency: "EURO"`},
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":100,"currency":"QQQ"}`, "", 422, `currency: "QQQ"`},
		{`{"account_id":"` + a1 + `","merchant_id":"m","amount":100,"currency":"eur"}`, "", 422, `currency: "eur"`},
		{`{"account_id":"` + a1 + `","to_account_id":"` + a1 + `","amount":100,"currency":"EUR"}`, "", 422, "same account"},
		{`{"account_id":"` + a1 + `","amount":100,"currency":"EUR"}`, "", 422, "exactly one of merchant_id"},
		{`{"account_id":"` + a1 + `","to_account_id":"` + usd + `","amount":100,"currency":"EUR"}`, "", 422, "holds USD"},
		{`{"account_id":"` + usd + `","merchant_id":"m","amount":100,"currency":"USD"}`, "", 422, "insufficient funds"},
		{`{"account_id":"00000000-0000-0000-0000-000000000000","merchant_id":"m","amount":100,"currency":"EUR"}`, "", 404, "no such account"},
	} {
		req, _ := http.NewRequest("POST", s.url+"/v1/transactions", strings.NewReader(tt.body))
		ctype := tt.ctype
		if ctype == "" {
			ctype = "application/json"
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Idempotency-Key", fmt.Sprintf("bad-%d", i))
		req.Header.Set(identity.SubjectHeader, alice.Subject)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, tt.code, resp.StatusCode, "%.80s: %s", tt.body, b)
		var out struct{ Error string }
		require.NoError(t, json.Unmarshal(b, &out))
		require.Contains(t, out.Error, tt.want)
	}
	var rows int
	require.NoError(t, s.pg.Pool(t, s.pg.Superuser, "postgres").QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM transactions WHERE kind <> 'deposit') + (SELECT count(*) FROM idempotency_keys WHERE key LIKE 'bad-%')`).Scan(&rows))
	require.Zero(t, rows, "nothing stored, not even the keys")
	require.Equal(t, int64(100_00), s.balance(t, alice, a1))
	require.Equal(t, 401, s.do(t, nil, "GET", "/v1/accounts", "", "").code)
}

// TestFraudUnavailable: the documented fallback decides (hold above the
// line, approve below); with refuse, the client gets a 503, nothing is
// stored, and the same key goes through once fraud is back.
func TestFraudUnavailable(t *testing.T) {
	s := start(t, map[string]string{"FRAUD_FALLBACK_HOLD_ABOVE": "5000", "FRAUD_BREAKER_FAILURES": "2", "FRAUD_BREAKER_COOLDOWN": "100ms"})
	a1 := s.account(t, alice, "EUR", 1000_00)
	s.fraud.decision.Store("down")
	small := s.do(t, &alice, "POST", "/v1/transactions", "small", `{"account_id":"`+a1+`","merchant_id":"m","amount":4000,"currency":"EUR"}`)
	require.Equal(t, 201, small.code, small.body)
	require.Equal(t, "approved", small.body["status"])
	require.Equal(t, false, small.body["fraud"].(map[string]any)["checked"])
	large := s.do(t, &alice, "POST", "/v1/transactions", "large", `{"account_id":"`+a1+`","merchant_id":"m","amount":6000,"currency":"EUR"}`)
	require.Equal(t, "held", large.body["status"], large.body)
	require.Contains(t, large.body["reason"], "fraud scoring unavailable")
	calls := s.fraud.calls.Load()
	s.do(t, &alice, "POST", "/v1/transactions", "third", `{"account_id":"`+a1+`","merchant_id":"m","amount":100,"currency":"EUR"}`)
	require.Equal(t, calls, s.fraud.calls.Load(), "the breaker is open: fraud is not called")
	require.NoError(t, s.stop())

	r := start(t, map[string]string{"FRAUD_FALLBACK": "refuse"})
	a2 := r.account(t, alice, "EUR", 100_00)
	r.fraud.decision.Store("down")
	refused := r.do(t, &alice, "POST", "/v1/transactions", "retry-me", `{"account_id":"`+a2+`","merchant_id":"m","amount":100,"currency":"EUR"}`)
	require.Equal(t, 503, refused.code, refused.body)
	r.fraud.decision.Store("approve")
	retried := r.do(t, &alice, "POST", "/v1/transactions", "retry-me", `{"account_id":"`+a2+`","merchant_id":"m","amount":100,"currency":"EUR"}`)
	require.Equal(t, 201, retried.code, retried.body)
	require.Empty(t, retried.header.Get("Idempotent-Replayed"), "the refusal was not stored")
}

// published reads every event on the topic and counts them per transaction.
func published(t *testing.T, brokers []string, want int) map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("transactions.events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	per := map[string]int{}
	total := 0
	deadline := time.Now().Add(30 * time.Second)
	for total < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		fetches.EachRecord(func(r *kgo.Record) {
			var e events.Event
			require.NoError(t, json.Unmarshal(r.Value, &e))
			require.Equal(t, events.SchemaVersion, e.Version)
			if e.Type == events.Created {
				per[e.Transaction.ID]++
				total++
			}
		})
	}
	return per
}

// TestKafkaDownLosesNoEvent: with Kafka refusing every produce, payments
// are still booked and their events wait in the outbox; once Kafka is back
// every booked payment has exactly one event on the topic.
func TestKafkaDownLosesNoEvent(t *testing.T) {
	s := start(t, nil)
	a1 := s.account(t, alice, "EUR", 1_000_000_00)
	deposits := published(t, s.kafka.ListenAddrs(), 1)
	require.Len(t, deposits, 1, "the deposit's event went out")

	var down atomic.Bool
	down.Store(true)
	s.kafka.ControlKey(kmsg.Produce.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		s.kafka.KeepControl()
		if !down.Load() {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.(*kmsg.ProduceRequest).Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = 6 // NOT_LEADER_FOR_PARTITION: retriable, so the producer keeps trying
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})

	booked := make(chan string, 300)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				r := s.do(t, &alice, "POST", "/v1/transactions", fmt.Sprintf("kafka-down-%d-%d", w, i), `{"account_id":"`+a1+`","merchant_id":"m","amount":100,"currency":"EUR"}`)
				if r.code == 201 {
					booked <- r.body["id"].(string)
				}
			}
		}()
	}
	wg.Wait()
	close(booked)
	ids := map[string]bool{}
	for id := range booked {
		ids[id] = true
	}
	require.Len(t, ids, 240, "every payment was booked with Kafka down")
	pending := s.pending(t)
	require.Equal(t, 240, pending, "their events wait in the outbox")

	down.Store(false)
	require.Eventually(t, func() bool { return s.pending(t) == 0 }, 60*time.Second, 200*time.Millisecond)
	per := published(t, s.kafka.ListenAddrs(), 241)
	for id := range ids {
		require.Equal(t, 1, per[id], "transaction %s has exactly one event", id)
	}
	require.Len(t, per, 241, "and there is no other")
}

func (s service) pending(t *testing.T) int {
	var n int
	require.NoError(t, s.pg.Pool(t, s.pg.Superuser, "postgres").QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n))
	return n
}

// TestPostgresRestartLosesNothingAcknowledged: PostgreSQL restarts in the
// middle of a load; requests in flight fail, and every payment a client
// was told was booked (201) is in the database afterwards.
func TestPostgresRestartLosesNothingAcknowledged(t *testing.T) {
	s := start(t, nil)
	a1 := s.account(t, alice, "EUR", 1_000_000_00)
	var acked sync.Map
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := s.do(t, &alice, "POST", "/v1/transactions", fmt.Sprintf("pg-%d-%d", w, i), `{"account_id":"`+a1+`","merchant_id":"m","amount":100,"currency":"EUR"}`)
				if r.code == 201 {
					acked.Store(r.body["id"].(string), true)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	s.pg.Restart(t)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	pool := s.pg.Pool(t, s.pg.Superuser, "postgres")
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		var found bool
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT exists(SELECT 1 FROM transactions WHERE id::text = $1)`, k).Scan(&found))
		require.True(t, found, "acknowledged transaction %s is stored", k)
		return true
	})
	t.Logf("%d acknowledged before, during and after the restart; %d failed while PostgreSQL was down", n, failed.Load())
	require.Greater(t, n, 0)
	code := s.do(t, &alice, "POST", "/v1/transactions", "after-restart", `{"account_id":"`+a1+`","merchant_id":"m","amount":100,"currency":"EUR"}`).code
	require.Equal(t, 201, code, "the pool reconnects")
}

// TestMetricsMatchTheCatalog: the service exports every metric its catalog
// entry promises (the HPA's and the alerts' series among them).
func TestMetricsMatchTheCatalog(t *testing.T) {
	reg := prometheus.NewRegistry()
	api.NewMetrics(reg)
	outbox.New(nil, nil, nil, reg)
	fraudclient.New("http://fraud", fraudclient.Options{Timeout: time.Second, Failures: 1, Cooldown: time.Second}, reg)
	servicetest.RequireCatalogMetrics(t, reg, catalog.Transactions)
}

func TestConfigErrors(t *testing.T) {
	err := run(context.Background(), func(k string) string {
		return map[string]string{"FRAUD_URL": "fraud:8080", "FRAUD_FALLBACK": "maybe", "FRAUD_SCORE_TIMEOUT": "fast", "KAFKA_BROKERS": "kafka"}[k]
	}, io.Discard, nil)
	for _, want := range []string{"DATABASE_HOST: required", `FRAUD_URL: "fraud:8080" is not an http(s) URL`, `FRAUD_FALLBACK: "maybe"`,
		`FRAUD_SCORE_TIMEOUT: "fast"`, `KAFKA_BROKERS: "kafka" is not host:port`} {
		require.ErrorContains(t, err, want)
	}
}

// TestEnvContract pins what the service reads from its environment to
// testdata/env.golden (go test -update refreshes it); infra's tests hold
// every stack's wiring to it.
func TestEnvContract(t *testing.T) {
	cfg, _ := readConfig(func(string) string { return "" })
	golden.RequireJSON(t, "env.golden", cfg.env.Contract())
}
