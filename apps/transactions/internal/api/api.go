// Package api is the transactions service's HTTP API: accounts, payments
// and transfers (each asked of fraud scoring first, recorded with its event
// in one database transaction, exactly once per Idempotency-Key), deposits
// and reviews by admins, and history. Callers are authenticated by the
// gateway (internal/identity).
package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/text/currency"

	"github.com/intelliflow/platform/apps/transactions/internal/fraudclient"
	"github.com/intelliflow/platform/apps/transactions/internal/txdb"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/jsonapi"
	"github.com/intelliflow/platform/internal/telemetry"
)

const (
	maxBody = 16 << 10
	// MaxAmount bounds one transaction: 10^12 minor units, far above any
	// payment and far below int64's range, so sums cannot overflow.
	MaxAmount = 1_000_000_000_000
)

// Scorer scores payments (fraudclient.Client).
type Scorer interface {
	Score(ctx context.Context, p fraudclient.Payment) (fraudclient.Score, error)
}

// Fallback is what a payment becomes when fraud cannot score it.
type Fallback struct {
	// Mode is hold-above (hold above HoldAbove minor units, approve the
	// rest), hold-all, approve-all, or refuse (503; nothing recorded, the
	// client retries).
	Mode      string
	HoldAbove int64
}

// FallbackModes are the modes Fallback knows.
var FallbackModes = []string{"hold-above", "hold-all", "approve-all", "refuse"}

// decide is the status of an unscored payment of amount; refuse means the
// payment is turned away.
func (f Fallback) decide(amount int64) (status string, refuse bool) {
	switch f.Mode {
	case "hold-all":
		return txdb.Held, false
	case "approve-all":
		return txdb.Approved, false
	case "refuse":
		return "", true
	}
	if amount > f.HoldAbove {
		return txdb.Held, false
	}
	return txdb.Approved, false
}

// Metrics are the service's own (apps/catalog lists them).
type Metrics struct {
	// Processed counts recorded transactions by kind and status; its rate
	// per pod is the HPA's transaction_processing_rate.
	Processed *prometheus.CounterVec
}

// NewMetrics registers them.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{Processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transactions_processed_total",
		Help: "Transactions recorded, by kind and status."}, []string{"kind", "status"})}
	reg.MustRegister(m.Processed)
	for _, k := range []string{txdb.Payment, txdb.Transfer, txdb.Deposit} {
		for _, s := range []string{txdb.Approved, txdb.Held, txdb.Declined} {
			m.Processed.WithLabelValues(k, s)
		}
	}
	return m
}

// Config is the API's dependencies and policy.
type Config struct {
	Store    *txdb.Store
	Fraud    Scorer
	Fallback Fallback
	Metrics  *Metrics
	HTTP     *telemetry.HTTP
	Log      *slog.Logger
}

// API serves the routes.
type API struct{ c Config }

// New builds the API.
func New(c Config) *API { return &API{c: c} }

// Handler is every route.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request, identity.Caller)) {
		a.c.HTTP.Handle(mux, pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := identity.FromRequest(r)
			if !ok {
				jsonapi.Fail(w, jsonapi.Errorf(http.StatusUnauthorized, "authentication required"))
				return
			}
			h(w, r, c)
		}))
	}
	handle("POST /v1/accounts", a.createAccount)
	handle("GET /v1/accounts", a.accounts)
	handle("GET /v1/accounts/{id}", a.account)
	handle("GET /v1/accounts/{id}/transactions", a.history)
	handle("POST /v1/accounts/{id}/deposits", a.deposit)
	handle("POST /v1/transactions", a.create)
	handle("GET /v1/transactions/{id}", a.transaction)
	handle("POST /v1/transactions/{id}/review", a.review)
	return mux
}

// fail answers err; what is not found, or not the caller's, is a 404.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, txdb.ErrNotFound) {
		err = jsonapi.Errorf(http.StatusNotFound, "not found")
	}
	jsonapi.FailLogged(a.c.Log, w, r, err)
}

// checkCurrency accepts an ISO 4217 code in upper case.
func checkCurrency(code string) (currency.Unit, error) {
	u, err := currency.ParseISO(code)
	if err != nil || code != strings.ToUpper(code) || len(code) != 3 || code == "XXX" {
		return currency.Unit{}, jsonapi.Errorf(http.StatusUnprocessableEntity, "currency: %q is not an ISO 4217 code", code)
	}
	return u, nil
}

// owner is whose accounts a caller sees: their own, or anyone's ("") for
// an admin.
func owner(c identity.Caller) string {
	if c.Admin() {
		return ""
	}
	return c.Subject
}

func (a *API) createAccount(w http.ResponseWriter, r *http.Request, c identity.Caller) {
	var q struct{ Currency string }
	if err := jsonapi.Decode(w, r, maxBody, &q); err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := checkCurrency(q.Currency); err != nil {
		a.fail(w, r, err)
		return
	}
	acct, err := a.c.Store.CreateAccount(r.Context(), c.Subject, q.Currency)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	jsonapi.Write(w, http.StatusCreated, acct)
}

func (a *API) accounts(w http.ResponseWriter, r *http.Request, c identity.Caller) {
	accts, err := a.c.Store.Accounts(r.Context(), c.Subject)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"accounts": accts})
}

func (a *API) account(w http.ResponseWriter, r *http.Request, c identity.Caller) {
	acct, err := a.c.Store.Account(r.Context(), r.PathValue("id"), owner(c))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, acct)
}

func (a *API) history(w http.ResponseWriter, r *http.Request, c identity.Caller) {
	id := r.PathValue("id")
	if _, err := a.c.Store.Account(r.Context(), id, owner(c)); err != nil {
		a.fail(w, r, err)
		return
	}
	limit, err := jsonapi.Limit(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	after, err := txdb.DecodeCursor(r.URL.Query().Get("cursor"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, next, err := a.c.Store.History(r.Context(), id, after, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := map[string]any{"transactions": page, "next": ""}
	if next != nil {
		out["next"] = next.Encode()
	}
	jsonapi.Write(w, http.StatusOK, out)
}

func (a *API) transaction(w http.ResponseWriter, r *http.Request, c identity.Caller) {
	t, err := a.c.Store.Transaction(r.Context(), r.PathValue("id"), owner(c))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, t)
}

// idempotencyKey is the request's Idempotency-Key: required, 1 to 255
// visible ASCII characters.
func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", jsonapi.Errorf(http.StatusBadRequest, "Idempotency-Key header: required (a unique value per request, reused on retries)")
	}
	if len(k) > 255 || strings.ContainsFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return "", jsonapi.Errorf(http.StatusBadRequest, "Idempotency-Key header: 1 to 255 visible ASCII characters")
	}
	return k, nil
}

// answer writes an idempotent outcome.
func answer(w http.ResponseWriter, status int, body []byte, replayed bool) {
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	var t struct{ ID string }
	if json.Unmarshal(body, &t) == nil && t.ID != "" {
		w.Header().Set("Location", "/v1/transactions/"+t.ID)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// paymentRequest is POST /v1/transactions.
type paymentRequest struct {
	AccountID   string `json:"account_id"`
	ToAccountID string `json:"to_account_id,omitempty"`
	MerchantID  string `json:"merchant_id,omitempty"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
}

func (q paymentRequest) validate() error {
	var errs []string
	if q.AccountID == "" {
		errs = append(errs, "account_id: required")
	}
	if (q.ToAccountID == "") == (q.MerchantID == "") {
		errs = append(errs, "exactly one of merchant_id (a payment) or to_account_id (a transfer)")
	}
	if q.ToAccountID != "" && q.ToAccountID == q.AccountID {
		errs = append(errs, "to_account_id: a transfer to the same account moves nothing")
	}
	if len(q.MerchantID) > 128 {
		errs = append(errs, "merchant_id: at most 128 characters")
	}
	if q.Amount <= 0 || q.Amount > MaxAmount {
		errs = append(errs, fmt.Sprintf("amount: %d minor units; want 1 to %d", q.Amount, int64(MaxAmount)))
	}
	if _, err := checkCurrency(q.Currency); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return jsonapi.Errorf(http.StatusUnprocessableEntity, "%s", strings.Join(errs, "; "))
	}
	return nil
}

// hash identifies a request for its idempotency key: the decoded request,
// so spacing and field order do not matter.
func hash(kind string, v any) []byte {
	b, _ := json.Marshal(v)
	h := sha256.Sum256(append([]byte(kind+"\x00"), b...))
	return h[:]
}

// majorUnits is amount in the currency's major unit, for fraud's model.
func majorUnits(amount int64, code string) float64 {
	u, _ := currency.ParseISO(code)
	scale, _ := currency.Standard.Rounding(u)
	return float64(amount) / math.Pow10(scale)
}

func (a *API) create(w http.ResponseWriter, r *http.Request, c identity.Caller) {
	key, err := idempotencyKey(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var q paymentRequest
	if err := jsonapi.Decode(w, r, maxBody, &q); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := q.validate(); err != nil {
		a.fail(w, r, err)
		return
	}
	kind := txdb.Payment
	if q.ToAccountID != "" {
		kind = txdb.Transfer
	}
	status, body, replayed, err := a.c.Store.Idempotent(r.Context(), c.Subject, key, hash(kind, q), func(tx pgx.Tx) (int, any, error) {
		t, err := a.record(r.Context(), tx, c, kind, q)
		return http.StatusCreated, t, err
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	answer(w, status, body, replayed)
}

// record books a payment or transfer inside the idempotency transaction.
func (a *API) record(ctx context.Context, tx pgx.Tx, c identity.Caller, kind string, q paymentRequest) (txdb.Transaction, error) {
	ids := []string{q.AccountID}
	if q.ToAccountID != "" {
		ids = append(ids, q.ToAccountID)
	}
	accts, err := txdb.Lock(ctx, tx, ids...)
	if err != nil {
		return txdb.Transaction{}, err
	}
	src, ok := accts[q.AccountID]
	if !ok || src.OwnerID != c.Subject {
		return txdb.Transaction{}, jsonapi.Errorf(http.StatusNotFound, "account_id: no such account of yours")
	}
	if dst, ok := accts[q.ToAccountID]; q.ToAccountID != "" && !ok {
		return txdb.Transaction{}, jsonapi.Errorf(http.StatusNotFound, "to_account_id: no such account")
	} else if ok && dst.Currency != q.Currency {
		return txdb.Transaction{}, jsonapi.Errorf(http.StatusUnprocessableEntity, "to_account_id: the account holds %s, not %s", dst.Currency, q.Currency)
	}
	if src.Currency != q.Currency {
		return txdb.Transaction{}, jsonapi.Errorf(http.StatusUnprocessableEntity, "currency: the account holds %s, not %s", src.Currency, q.Currency)
	}
	if src.Balance < q.Amount {
		return txdb.Transaction{}, jsonapi.Errorf(http.StatusUnprocessableEntity, "insufficient funds: the account holds %d, the %s is %d", src.Balance, kind, q.Amount)
	}

	// The id is chosen here so that fraud's decision, and the alert it
	// publishes, name the transaction.
	t := txdb.Transaction{ID: uuid.NewString(), OwnerID: c.Subject, Kind: kind, AccountID: q.AccountID, ToAccountID: q.ToAccountID, MerchantID: q.MerchantID, Amount: q.Amount, Currency: q.Currency}
	score, err := a.c.Fraud.Score(ctx, fraudclient.Payment{
		TransactionID: t.ID, CardID: q.AccountID, Amount: majorUnits(q.Amount, q.Currency), Currency: q.Currency, MerchantID: q.MerchantID, Timestamp: time.Now().UTC(),
	})
	switch {
	case err == nil:
		s := score.Score
		t.Fraud = txdb.Fraud{Checked: true, Score: &s, Decision: score.Decision, Model: score.Model.Name + "/" + score.Model.Version}
		t.Status = map[string]string{"approve": txdb.Approved, "review": txdb.Held, "decline": txdb.Declined}[score.Decision]
		t.Reason = "fraud decision " + score.Decision
	case errors.Is(err, fraudclient.ErrUnavailable):
		status, refuse := a.c.Fallback.decide(q.Amount)
		if refuse {
			return txdb.Transaction{}, jsonapi.Errorf(http.StatusServiceUnavailable, "fraud scoring is unavailable; retry with the same Idempotency-Key")
		}
		t.Status, t.Reason = status, "fraud scoring unavailable: "+a.c.Fallback.Mode
		a.c.Log.Warn("payment not scored", "error", err.Error(), "status", status, "amount", q.Amount)
	default:
		return txdb.Transaction{}, err
	}

	switch t.Status {
	case txdb.Approved:
		err = txdb.Move(ctx, tx, q.Amount, q.AccountID, q.ToAccountID)
	case txdb.Held:
		// The funds are taken now and reach their destination on approval.
		err = txdb.Move(ctx, tx, q.Amount, q.AccountID, "")
	}
	if err != nil {
		return txdb.Transaction{}, err
	}
	stored, err := a.c.Store.Insert(ctx, tx, t)
	if err == nil {
		a.c.Metrics.Processed.WithLabelValues(kind, stored.Status).Inc()
	}
	return stored, err
}

func (a *API) deposit(w http.ResponseWriter, r *http.Request, c identity.Caller) {
	if !c.Admin() {
		a.fail(w, r, jsonapi.Errorf(http.StatusForbidden, "deposits are made by admins"))
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var q struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}
	if err := jsonapi.Decode(w, r, maxBody, &q); err != nil {
		a.fail(w, r, err)
		return
	}
	if q.Amount <= 0 || q.Amount > MaxAmount {
		a.fail(w, r, jsonapi.Errorf(http.StatusUnprocessableEntity, "amount: %d minor units; want 1 to %d", q.Amount, int64(MaxAmount)))
		return
	}
	id := r.PathValue("id")
	status, body, replayed, err := a.c.Store.Idempotent(r.Context(), c.Subject, key, hash(txdb.Deposit+id, q), func(tx pgx.Tx) (int, any, error) {
		accts, err := txdb.Lock(r.Context(), tx, id)
		if err != nil {
			return 0, nil, err
		}
		acct, ok := accts[id]
		if !ok {
			return 0, nil, jsonapi.Errorf(http.StatusNotFound, "no such account")
		}
		if acct.Currency != q.Currency {
			return 0, nil, jsonapi.Errorf(http.StatusUnprocessableEntity, "currency: the account holds %s, not %q", acct.Currency, q.Currency)
		}
		if err := txdb.Move(r.Context(), tx, q.Amount, "", id); err != nil {
			return 0, nil, err
		}
		t, err := a.c.Store.Insert(r.Context(), tx, txdb.Transaction{OwnerID: acct.OwnerID, Kind: txdb.Deposit, AccountID: id, Amount: q.Amount,
			Currency: q.Currency, Status: txdb.Approved, Reason: "deposit by " + c.Subject})
		if err == nil {
			a.c.Metrics.Processed.WithLabelValues(txdb.Deposit, txdb.Approved).Inc()
		}
		return http.StatusCreated, t, err
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	answer(w, status, body, replayed)
}

func (a *API) review(w http.ResponseWriter, r *http.Request, c identity.Caller) {
	if !c.Admin() {
		a.fail(w, r, jsonapi.Errorf(http.StatusForbidden, "reviews are made by admins"))
		return
	}
	var q struct{ Decision string }
	if err := jsonapi.Decode(w, r, maxBody, &q); err != nil {
		a.fail(w, r, err)
		return
	}
	if q.Decision != "approve" && q.Decision != "decline" {
		a.fail(w, r, jsonapi.Errorf(http.StatusUnprocessableEntity, "decision: approve or decline"))
		return
	}
	t, err := a.c.Store.Review(r.Context(), r.PathValue("id"), q.Decision == "approve", c.Subject)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.c.Log.Info("audit", "action", "transaction.review", "actor", c.Subject, "outcome", t.Status, "transaction_id", t.ID)
	jsonapi.Write(w, http.StatusOK, t)
}
