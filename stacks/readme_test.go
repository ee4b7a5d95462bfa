package stacks

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADMEListsEveryKey keeps the README's config table honest: every key
// the code reads is documented there.
func TestREADMEListsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	for k := range Keys() {
		require.True(t, strings.Contains(string(readme), "`"+Namespace+":"+k+"`"), "README.md does not document %s:%s", Namespace, k)
	}
}
