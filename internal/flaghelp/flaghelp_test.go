package flaghelp

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func flags() *flag.FlagSet {
	fs := flag.NewFlagSet("tool", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Int("rate", 500, "requests per second")
	return fs
}

func TestHelpIsTheFlagList(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		err := Parse(flags(), []string{arg})
		require.ErrorIs(t, err, flag.ErrHelp, arg)
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, report("tool", fmt.Errorf("parse: %w", err), 2, &stdout, &stderr), arg)
		require.Contains(t, stdout.String(), "Usage of tool:")
		require.Contains(t, stdout.String(), "-rate int\n    \trequests per second (default 500)")
		require.Empty(t, stderr.String())
	}
}

func TestOtherErrorsKeepTheirStatus(t *testing.T) {
	fs := flags()
	require.NoError(t, Parse(fs, []string{"-rate", "7"}))
	require.Equal(t, "7", fs.Lookup("rate").Value.String())

	err := Parse(flags(), []string{"-rat", "7"})
	require.EqualError(t, err, "flag provided but not defined: -rat")
	require.NotErrorIs(t, err, flag.ErrHelp)
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, report("tool", errors.Join(err, errors.New("-target is required")), 2, &stdout, &stderr))
	require.Equal(t, "tool: flag provided but not defined: -rat\n-target is required\n", stderr.String())
	require.Empty(t, stdout.String())
}
