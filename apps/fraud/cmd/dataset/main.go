// Command dataset writes the fraud model's training and test sets: a seeded
// synthetic transaction stream, each payment's features computed in time
// order from the card's history with the same code the server uses, split by
// time with a week's gap so the test set is truly in the future.
//
//	go run ./apps/fraud/cmd/dataset --out /tmp/fraud-data
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/internal/synth"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dataset:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg := synth.DefaultConfig()
	fs := flag.NewFlagSet("dataset", flag.ContinueOnError)
	out := fs.String("out", "", "output folder (required)")
	seed := fs.Uint64("seed", cfg.Seed, "generator seed")
	fs.IntVar(&cfg.Customers, "customers", cfg.Customers, "customers")
	fs.IntVar(&cfg.Terminals, "terminals", cfg.Terminals, "terminals")
	fs.IntVar(&cfg.Days, "days", cfg.Days, "days")
	testDays := fs.Int("test-days", 42, "days at the end kept for testing")
	gapDays := fs.Int("gap-days", 7, "days between training and test, left out (labels arrive late)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Seed = *seed
	switch {
	case *out == "":
		return errors.New("--out is required")
	case *testDays < 1 || *gapDays < 0 || *testDays+*gapDays >= cfg.Days:
		return fmt.Errorf("--test-days %d and --gap-days %d leave no training days out of %d", *testDays, *gapDays, cfg.Days)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	trainFile, err := newCSV(filepath.Join(*out, "train.csv"))
	if err != nil {
		return err
	}
	testFile, err := newCSV(filepath.Join(*out, "test.csv"))
	if err != nil {
		return err
	}
	trainEnd := cfg.Days - *testDays - *gapDays
	testStart := cfg.Days - *testDays
	histories := map[int]*features.History{}
	counts := map[string][2]int{}
	err = synth.Generate(cfg, func(tx synth.Transaction) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := histories[tx.CustomerID]
		if h == nil {
			h = &features.History{}
			histories[tx.CustomerID] = h
		}
		ftx := features.Transaction{
			Time: tx.Time, Amount: tx.Amount, MerchantID: strconv.Itoa(tx.TerminalID),
			X: tx.TerminalX, Y: tx.TerminalY, HasLocation: true,
		}
		x, _ := features.Vector(ftx, *h, features.All)
		h.Update(ftx)
		day := int(tx.Time.Sub(cfg.Start).Hours() / 24)
		var w *csvFile
		split := ""
		switch {
		case day < trainEnd:
			w, split = trainFile, "train"
		case day >= testStart:
			w, split = testFile, "test"
		default:
			return nil
		}
		c := counts[split]
		c[0]++
		if tx.Fraud {
			c[1]++
		}
		counts[split] = c
		return w.write(day, tx.Fraud, x[:])
	})
	for _, f := range []*csvFile{trainFile, testFile} {
		err = errors.Join(err, f.close())
	}
	if err != nil {
		return err
	}
	for _, split := range []string{"train", "test"} {
		c := counts[split]
		fmt.Fprintf(stdout, "%s: %d transactions, %d fraud (%.3f%%)\n", split, c[0], c[1], 100*float64(c[1])/float64(c[0]))
	}
	return nil
}

type csvFile struct {
	f *os.File
	w *bufio.Writer
}

func newCSV(path string) (*csvFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	c := &csvFile{f: f, w: bufio.NewWriterSize(f, 1<<20)}
	_, err = fmt.Fprintf(c.w, "day,label,%s\n", strings.Join(features.Names, ","))
	return c, err
}

func (c *csvFile) write(day int, fraud bool, x []float64) error {
	label := 0
	if fraud {
		label = 1
	}
	c.w.WriteString(strconv.Itoa(day))
	c.w.WriteString("," + strconv.Itoa(label))
	for _, v := range x {
		c.w.WriteByte(',')
		if !math.IsNaN(v) { // empty means missing
			c.w.WriteString(strconv.FormatFloat(v, 'g', 8, 64))
		}
	}
	return c.w.WriteByte('\n')
}

func (c *csvFile) close() error {
	return errors.Join(c.w.Flush(), c.f.Close())
}
