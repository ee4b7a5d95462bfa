package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelliflow/platform/internal/redistest"
)

// BenchmarkLoad drives the whole server (HTTP, Redis features, model) on
// loopback and reports latency percentiles, measured from when each request
// was due, not when it got sent, so a stall shows:
//
//	go test ./apps/fraud -run XXX -bench Load -benchtime 1x
//
// The load generator shares the machine's two cores with the server and
// Redis; the numbers are for this machine as it is.
func BenchmarkLoad(b *testing.B) {
	redisAddr, _ := redistest.Start(b)
	srv := start(b, map[string]string{"MODEL_DIR": modelDir(b, "v1", ""), "REDIS_ADDR": redisAddr, "LOG_LEVEL": "error"})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 5 * time.Second}
	body := func(r *rand.Rand) string {
		return fmt.Sprintf(`{"card_id":"c%d","amount":%.2f,"merchant_id":"m%d","location":{"x":%.1f,"y":%.1f}}`,
			r.IntN(20000), 5+r.Float64()*200, r.IntN(5000), r.Float64()*100, r.Float64()*100)
	}
	send := func(payload string) error {
		resp, err := client.Post(srv.api+"/v1/score", "application/json", strings.NewReader(payload))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Warm up connections and card histories.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		_ = send(body(r))
	}

	report := func(name string, lat []time.Duration, errs int64, elapsed time.Duration) {
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		rps := float64(len(lat)) / elapsed.Seconds()
		b.ReportMetric(float64(pct(0.50).Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(pct(0.99).Microseconds()), name+"-p99-µs")
		b.ReportMetric(float64(pct(0.999).Microseconds()), name+"-p999-µs")
		b.ReportMetric(rps, name+"-req/s")
		b.Logf("%s: %d requests in %s (%.0f/s), %d errors; p50 %s p99 %s p999 %s max %s",
			name, len(lat), elapsed.Round(time.Millisecond), rps, errs, pct(0.5), pct(0.99), pct(0.999), lat[len(lat)-1])
	}

	for b.Loop() {
		// Open loop: 1,500 requests a second for 10 seconds.
		const rate, duration = 1500, 10 * time.Second
		n := int(rate * duration.Seconds())
		lat := make([]time.Duration, n)
		var errs atomic.Int64
		var wg sync.WaitGroup
		begin := time.Now()
		for i := 0; i < n; i++ {
			due := begin.Add(time.Duration(i) * time.Second / rate)
			time.Sleep(time.Until(due))
			payload := body(r)
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if err := send(payload); err != nil {
					errs.Add(1)
				}
				lat[i] = time.Since(due)
			}(i)
		}
		wg.Wait()
		report("open-1500", lat, errs.Load(), time.Since(begin))

		// Closed loop: as fast as 32 clients can go, for the saturation point.
		var mu sync.Mutex
		var sat []time.Duration
		errs.Store(0)
		stopAt := time.Now().Add(5 * time.Second)
		begin = time.Now()
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				rr := rand.New(rand.NewPCG(seed, 9))
				var mine []time.Duration
				for time.Now().Before(stopAt) {
					t := time.Now()
					if err := send(body(rr)); err != nil {
						errs.Add(1)
					}
					mine = append(mine, time.Since(t))
				}
				mu.Lock()
				sat = append(sat, mine...)
				mu.Unlock()
			}(uint64(w))
		}
		wg.Wait()
		report("saturation-32", sat, errs.Load(), time.Since(begin))
	}
}
