package proctest

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var profiles = flag.String("proctest.profiles", "", "benchmarks: write CPU and allocation profiles of each measured service (taken while the generator runs) into this folder, and print the top of each")

// Profiling says whether -proctest.profiles asks for profiles: a
// benchmark then starts its services with DEBUG_PPROF=true.
func Profiling() bool { return *profiles != "" }

// Profile runs load and, when -proctest.profiles is set, takes a CPU
// profile and an allocation profile of the service whose metrics listener
// is metricsURL over the first d of it (the service serves them with
// DEBUG_PPROF=true, internal/httpserver). Each is written to the folder as
// NAME.cpu.pprof and NAME.allocs.pprof, and its top lines are logged. An
// empty metricsURL (a process that is not ours, such as nginx) only runs
// load.
func Profile(t testing.TB, metricsURL, name string, d time.Duration, load func()) {
	t.Helper()
	if !Profiling() || metricsURL == "" {
		load()
		return
	}
	if err := os.MkdirAll(*profiles, 0o755); err != nil {
		t.Fatal(err)
	}
	seconds := max(1, int(d.Seconds()))
	files := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, kind := range []string{"profile", "allocs"} {
		file := filepath.Join(*profiles, strings.NewReplacer(" ", "-", "/", "-", "+", "").Replace(name)+"."+map[string]string{"profile": "cpu", "allocs": "allocs"}[kind]+".pprof")
		files[kind] = file
		wg.Go(func() { errs <- fetch(fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", metricsURL, kind, seconds), file, d) })
	}
	load()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("profile %s: %v", name, err)
		}
	}
	for _, kind := range []string{"profile", "allocs"} {
		args := []string{"tool", "pprof", "-top", "-nodecount=25"}
		if kind == "allocs" {
			args = append(args, "-sample_index=alloc_space")
		}
		out, err := exec.Command("go", append(args, files[kind])...).CombinedOutput()
		if err != nil {
			t.Fatalf("go tool pprof %s: %v: %s", files[kind], err, out)
		}
		t.Logf("%s, %s (%s):\n%s", name, kind, files[kind], out)
	}
}

func fetch(url, file string, d time.Duration) error {
	c := http.Client{Timeout: d + 30*time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %.200s", url, resp.Status, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
