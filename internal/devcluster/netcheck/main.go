// Command netcheck is the local cluster's network check, run in pods on
// the real node (the image intelliflow.local/netcheck:1):
//
//	netcheck serve :8080         answers GET / with "netcheck <hostname>" and GET /healthz
//	netcheck get URL [WITHIN]    fetches URL, each try within 3 s, trying again for WITHIN
//	                             (a Go duration; default: one try) until a 200: exits 0
//	                             with a 200, 1 otherwise
//
// so a test (or a person) can see whether one pod reaches another by its
// Service's name, and whether a NetworkPolicy lets it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "netcheck:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "serve":
		return serve(args[1])
	case len(args) == 2 && args[0] == "get":
		return get(args[1], 0)
	case len(args) == 3 && args[0] == "get":
		within, err := time.ParseDuration(args[2])
		if err != nil || within < 0 {
			return fmt.Errorf("WITHIN %q: want a duration such as 20s", args[2])
		}
		return get(args[1], within)
	}
	return errors.New("usage: netcheck serve ADDR | netcheck get URL [WITHIN]")
}

func serve(addr string) error {
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "netcheck %s\n", host) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// get tries url until it answers 200 or within has passed; rules that
// let a pod through (kube-proxy's, a policy's for a new pod) come a moment
// after the objects that make them.
func get(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := getOnce(url)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		fmt.Fprintln(os.Stderr, "netcheck: trying again:", err)
		time.Sleep(500 * time.Millisecond)
	}
}

func getOnce(url string) error {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Printf("%s %s", resp.Status, body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
