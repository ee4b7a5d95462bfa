// Package flaghelp gives the commands that parse their flags quietly (a
// flag.FlagSet with ContinueOnError and its output discarded, so that every
// bad flag is reported at once, in one error) a -h that answers: the flag
// list, on standard output, and a zero exit. Without it the flag package's
// ErrHelp reached main as "flag: help requested" and an error status.
package flaghelp

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Help is what Parse returns for -h or -help: the usage text, as an error
// that is flag.ErrHelp.
type Help struct{ Usage string }

func (h Help) Error() string { return h.Usage }

// Is makes errors.Is(err, flag.ErrHelp) true.
func (Help) Is(target error) bool { return target == flag.ErrHelp }

// Parse is fs.Parse, with -h and -help turned into Help carrying the flag
// list.
func Parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if !errors.Is(err, flag.ErrHelp) {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Usage of %s:\n", fs.Name())
	out := fs.Output()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(out)
	return Help{Usage: b.String()}
}

// Exit ends a command whose run returned err: for Help the usage on stdout
// and status 0, for anything else "name: err" on stderr and status code.
func Exit(name string, err error, code int) {
	os.Exit(report(name, err, code, os.Stdout, os.Stderr))
}

func report(name string, err error, code int, stdout, stderr io.Writer) int {
	if h, ok := errors.AsType[Help](err); ok {
		fmt.Fprint(stdout, h.Usage)
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return code
}
