package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFlags(t *testing.T) {
	require.ErrorContains(t, run([]string{"up", "--general", "0"}), "want at least one general node")
	require.ErrorContains(t, run([]string{"sideways"}), `unknown command "sideways"`)
}
