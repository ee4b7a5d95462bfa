// Command floor is what make bench-fraud sets beside the fraud server: the
// least any /v1/score server on the same stack must do. It decodes the
// request with encoding/json, sends the card's three feature reads to Redis
// in one go-redis pipeline, as the feature store does, and answers a fixed
// approve. No model, no reason codes, no history update, no deadline, no
// metrics. Its CPU per request is the part of the fraud server's that the
// transport (net/http, one Redis round trip, JSON) costs on the machine the
// bench runs on; the difference is what scoring adds.
//
// It is a benchmark's yardstick, not a server to deploy: it lives under
// testdata so no package pattern builds it.
package main

import (
	"encoding/json"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/internal/featurestore"
	"github.com/intelliflow/platform/apps/fraud/internal/server"
)

func main() {
	addr, port := os.Getenv("REDIS_ADDR"), os.Getenv("HTTP_PORT")
	if addr == "" || port == "" {
		log.Fatal("floor: REDIS_ADDR and HTTP_PORT are required")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	window := features.Windows[len(features.Windows)-1]
	answer := []byte(`{"score":0,"decision":"approve","degraded":false,"model":{"version":"floor"}}`)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/models/fraud", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"name":"fraud","versions":["floor"]}`))
	})
	mux.HandleFunc("POST /v1/score", func(w http.ResponseWriter, r *http.Request) {
		var q server.ScoreRequest
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil || q.CardID == "" {
			http.Error(w, "a JSON score request with a card_id", http.StatusBadRequest)
			return
		}
		txKey, profileKey, merchantsKey := featurestore.Keys(q.CardID)
		since := q.Timestamp.Add(-window).UnixMilli()
		pipe := rdb.Pipeline()
		pipe.ZRangeByScoreWithScores(r.Context(), txKey, &redis.ZRangeBy{Min: strconv.FormatInt(since, 10), Max: "+inf"})
		pipe.HGetAll(r.Context(), profileKey)
		pipe.SIsMember(r.Context(), merchantsKey, q.MerchantID)
		if _, err := pipe.Exec(r.Context()); err != nil && !errors.Is(err, redis.Nil) {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	})
	srv := &http.Server{Addr: net.JoinHostPort("127.0.0.1", port), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
