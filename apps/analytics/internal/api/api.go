// Package api serves analytics' reports to admins through the gateway:
// volumes per hour, fraud rates, and the top merchants, for a time range.
// Ranges are whole hours (the aggregates' grain), half-open [from, to).
package api

import (
	"cmp"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/currency"

	"github.com/intelliflow/platform/apps/analytics/internal/store"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/jsonapi"
	"github.com/intelliflow/platform/internal/telemetry"
)

// Config is the API's dependencies and policy.
type Config struct {
	Store *store.Store
	// MaxRange is the longest range a report covers (the retention).
	MaxRange time.Duration
	// Now is the clock (tests set it).
	Now  func() time.Time
	HTTP *telemetry.HTTP
	Log  *slog.Logger
}

// API serves the routes.
type API struct{ c Config }

// New builds the API.
func New(c Config) *API {
	if c.Now == nil {
		c.Now = time.Now
	}
	return &API{c: c}
}

// Handler is every route; each needs an admin.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request, store.Filter)) {
		a.c.HTTP.Handle(mux, pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := identity.FromRequest(r)
			switch {
			case !ok:
				jsonapi.Fail(w, jsonapi.Errorf(http.StatusUnauthorized, "authentication required"))
				return
			case !c.Admin():
				jsonapi.Fail(w, jsonapi.Errorf(http.StatusForbidden, "reports are for admins"))
				return
			}
			f, err := a.filter(r)
			if err != nil {
				jsonapi.Fail(w, err)
				return
			}
			h(w, r, f)
		}))
	}
	handle("GET /v1/volumes", a.volumes)
	handle("GET /v1/fraud-rates", a.fraudRates)
	handle("GET /v1/top-merchants", a.topMerchants)
	return mux
}

// filter reads from and to (RFC 3339, default the last 24 hours, rounded
// out to whole hours), merchant and currency.
func (a *API) filter(r *http.Request) (store.Filter, error) {
	q := r.URL.Query()
	bad := func(format string, args ...any) (store.Filter, error) {
		return store.Filter{}, jsonapi.Errorf(http.StatusBadRequest, format, args...)
	}
	now := a.c.Now().UTC()
	f := store.Filter{To: now.Truncate(time.Hour).Add(time.Hour), Merchant: q.Get("merchant"), Currency: q.Get("currency")}
	f.From = f.To.Add(-24 * time.Hour)
	for key, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return bad("%s: %q is not an RFC 3339 time (2026-12-01T00:00:00Z)", key, v)
			}
			*dst = t.UTC()
		}
	}
	f.From = f.From.Truncate(time.Hour)
	if t := f.To.Truncate(time.Hour); t.Before(f.To) {
		f.To = t.Add(time.Hour)
	}
	switch {
	case !f.From.Before(f.To):
		return bad("from must be before to")
	case f.To.Sub(f.From) > a.c.MaxRange:
		return bad("the range is at most %s (the retention)", a.c.MaxRange)
	case len(f.Merchant) > 128:
		return bad("merchant: at most 128 characters")
	}
	if f.Currency != "" {
		if _, err := currency.ParseISO(f.Currency); err != nil || len(f.Currency) != 3 || f.Currency != strings.ToUpper(f.Currency) {
			return bad("currency: %q is not an ISO 4217 code", f.Currency)
		}
	}
	return f, nil
}

func (a *API) rows(w http.ResponseWriter, r *http.Request, f store.Filter) ([]store.Row, bool) {
	rows, err := a.c.Store.Rows(r.Context(), f)
	if err != nil {
		jsonapi.FailLogged(a.c.Log, w, r, err)
		return nil, false
	}
	return rows, true
}

// Volume is one hour's transactions in one currency.
type Volume struct {
	Hour     time.Time `json:"hour"`
	Currency string    `json:"currency"`
	store.Counts
	// ByDecision counts the transactions per fraud decision.
	ByDecision map[string]int64 `json:"by_decision"`
}

func (a *API) volumes(w http.ResponseWriter, r *http.Request, f store.Filter) {
	rows, ok := a.rows(w, r, f)
	if !ok {
		return
	}
	type key struct {
		hour     time.Time
		currency string
	}
	var order []key
	by := map[key]*Volume{}
	for _, row := range rows {
		k := key{row.Hour, row.Currency}
		v := by[k]
		if v == nil {
			v = &Volume{Hour: row.Hour, Currency: row.Currency, ByDecision: map[string]int64{}}
			by[k], order = v, append(order, k)
		}
		v.Add(row.Counts)
		if row.Transactions > 0 {
			v.ByDecision[row.Decision] += row.Transactions
		}
	}
	out := make([]Volume, 0, len(order))
	for _, k := range order {
		out = append(out, *by[k])
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"from": f.From, "to": f.To, "volumes": out})
}

// Rates are the share of transactions per fraud decision, and the alerts.
type Rates struct {
	From         time.Time        `json:"from"`
	To           time.Time        `json:"to"`
	Transactions int64            `json:"transactions"`
	ByDecision   map[string]int64 `json:"by_decision"`
	// ReviewRate and DeclineRate are shares of Transactions.
	ReviewRate  float64 `json:"review_rate"`
	DeclineRate float64 `json:"decline_rate"`
	Alerts      int64   `json:"alerts"`
	// MeanAlertScore is the alerts' mean fraud score.
	MeanAlertScore  float64 `json:"mean_alert_score"`
	ReviewsApproved int64   `json:"reviews_approved"`
	ReviewsDeclined int64   `json:"reviews_declined"`
}

func (a *API) fraudRates(w http.ResponseWriter, r *http.Request, f store.Filter) {
	rows, ok := a.rows(w, r, f)
	if !ok {
		return
	}
	out := Rates{From: f.From, To: f.To, ByDecision: map[string]int64{}}
	var sum store.Counts
	for _, row := range rows {
		sum.Add(row.Counts)
		if row.Transactions > 0 {
			out.ByDecision[row.Decision] += row.Transactions
		}
	}
	out.Transactions, out.Alerts = sum.Transactions, sum.Alerts
	out.ReviewsApproved, out.ReviewsDeclined = sum.ReviewsApproved, sum.ReviewsDeclined
	if sum.Transactions > 0 {
		out.ReviewRate = float64(out.ByDecision["review"]) / float64(sum.Transactions)
		out.DeclineRate = float64(out.ByDecision["decline"]) / float64(sum.Transactions)
	}
	if sum.Alerts > 0 {
		out.MeanAlertScore = sum.AlertScoreSum / float64(sum.Alerts)
	}
	jsonapi.Write(w, http.StatusOK, out)
}

// Merchant is one merchant's payments in the range.
type Merchant struct {
	Merchant     string `json:"merchant"`
	Currency     string `json:"currency"`
	Transactions int64  `json:"transactions"`
	Amount       int64  `json:"amount"`
	Declines     int64  `json:"declines"`
	Alerts       int64  `json:"alerts"`
}

// topMerchants ranks merchants by amount (one currency: amounts in two
// cannot be added) or by declines, at most limit (default 10, up to 100).
func (a *API) topMerchants(w http.ResponseWriter, r *http.Request, f store.Filter) {
	by := cmp.Or(r.URL.Query().Get("by"), "amount")
	limit := 10
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			jsonapi.Fail(w, jsonapi.Errorf(http.StatusBadRequest, "limit: %q is not a number from 1 to 100", v))
			return
		}
		limit = n
	}
	switch {
	case by != "amount" && by != "declines":
		jsonapi.Fail(w, jsonapi.Errorf(http.StatusBadRequest, "by: %q; rank by amount or declines", by))
		return
	case by == "amount" && f.Currency == "":
		jsonapi.Fail(w, jsonapi.Errorf(http.StatusBadRequest, "currency is required to rank by amount"))
		return
	}
	rows, ok := a.rows(w, r, f)
	if !ok {
		return
	}
	type key struct{ merchant, currency string }
	per := map[key]*Merchant{}
	for _, row := range rows {
		if row.Merchant == "" { // transfers between accounts
			continue
		}
		k := key{row.Merchant, row.Currency}
		m := per[k]
		if m == nil {
			m = &Merchant{Merchant: row.Merchant, Currency: row.Currency}
			per[k] = m
		}
		m.Transactions += row.Transactions
		m.Amount += row.Amount
		m.Alerts += row.Alerts
		if row.Decision == "decline" {
			m.Declines += row.Transactions
		}
	}
	out := make([]Merchant, 0, len(per))
	for _, m := range per {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(x, y Merchant) int {
		if by == "amount" {
			return cmp.Or(cmp.Compare(y.Amount, x.Amount), cmp.Compare(x.Merchant, y.Merchant), cmp.Compare(x.Currency, y.Currency))
		}
		return cmp.Or(cmp.Compare(y.Declines, x.Declines), cmp.Compare(x.Merchant, y.Merchant), cmp.Compare(x.Currency, y.Currency))
	})
	jsonapi.Write(w, http.StatusOK, map[string]any{"from": f.From, "to": f.To, "by": by, "merchants": out[:min(limit, len(out))]})
}
