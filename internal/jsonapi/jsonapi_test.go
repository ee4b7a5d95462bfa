package jsonapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeRefusals(t *testing.T) {
	type payment struct {
		Amount int64 `json:"amount"`
	}
	for _, tt := range []struct {
		ctype, body string
		status      int
		want        string
	}{
		{"application/json", `{"amount": 5}`, 0, ""},
		{"application/json; charset=utf-8", `{"amount": 5}`, 0, ""},
		{"text/plain", `{"amount": 5}`, 415, "Content-Type must be application/json"},
		{"", `{"amount": 5}`, 415, "Content-Type"},
		{"application/json", `{"amount": 5, "extra": 1}`, 400, `unknown field "extra"`},
		{"application/json", `{"amount": 5}{"amount": 6}`, 400, "more than one value"},
		{"application/json", `{"amount": "5"}`, 400, "malformed JSON"},
		{"application/json", `{"amount": 99999999999999999999}`, 400, "malformed JSON"},
		{"application/json", `{"amount": 5, "pad": "` + strings.Repeat("x", 200) + `"}`, 413, "body larger than 64 bytes"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
		r.Header.Set("Content-Type", tt.ctype)
		var p payment
		err := Decode(httptest.NewRecorder(), r, 64, &p)
		if tt.status == 0 {
			require.NoError(t, err)
			require.Equal(t, int64(5), p.Amount)
			continue
		}
		var e *Error
		require.ErrorAs(t, err, &e, tt.body)
		require.Equal(t, tt.status, e.Status, tt.body)
		require.Contains(t, e.Msg, tt.want)
	}
}

func TestFailHidesInternalErrors(t *testing.T) {
	rec := httptest.NewRecorder()
	Fail(rec, errors.New("pq: password authentication failed for user vault-xyz"))
	require.Equal(t, 500, rec.Code)
	require.JSONEq(t, `{"error":"internal error"}`, rec.Body.String())
	rec = httptest.NewRecorder()
	Fail(rec, Errorf(http.StatusConflict, "email already registered"))
	require.Equal(t, 409, rec.Code)
	require.JSONEq(t, `{"error":"email already registered"}`, rec.Body.String())
}

func TestLimit(t *testing.T) {
	for q, want := range map[string]int{"": DefaultLimit, "?limit=1": 1, "?limit=200": MaxLimit} {
		n, err := Limit(httptest.NewRequest(http.MethodGet, "/x"+q, nil))
		require.NoError(t, err, q)
		require.Equal(t, want, n, q)
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?limit=-1", "?limit=ten", "?limit=1e2"} {
		_, err := Limit(httptest.NewRequest(http.MethodGet, "/x"+q, nil))
		var e *Error
		require.ErrorAs(t, err, &e, q)
		require.Equal(t, http.StatusBadRequest, e.Status, q)
	}
}
