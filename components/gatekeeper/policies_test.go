package gatekeeper_test

import (
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/intelliflow/platform/components/gatekeeper"
	"github.com/intelliflow/platform/components/gatekeeper/gatekeepertest"
)

// expectKey is the annotation a disallowed case uses to say which message
// it must produce.
const expectKey = "test.intelliflow.io/expect"

var testRegistries = []string{"registry.intelliflow.internal"}

// TestTemplateCases runs every template on its allowed and disallowed
// cases with OPA: allowed ones produce no violation, disallowed ones
// produce the expected message. Every template has both kinds.
func TestTemplateCases(t *testing.T) {
	files, err := gatekeeper.Files()
	require.NoError(t, err)
	require.Len(t, files, len(gatekeeper.Templates), "every Rego file is a template, every template has a file")
	for _, tmpl := range gatekeeper.Templates {
		t.Run(tmpl.Kind, func(t *testing.T) {
			dir := path.Join("policies", "cases", tmpl.Name())
			entries, err := fs.ReadDir(gatekeeper.Policies, dir)
			require.NoError(t, err, "%s has no test cases", tmpl.Kind)
			var allowed, disallowed int
			for _, e := range entries {
				b, err := fs.ReadFile(gatekeeper.Policies, path.Join(dir, e.Name()))
				require.NoError(t, err)
				var obj map[string]any
				require.NoError(t, yaml.Unmarshal(b, &obj), e.Name())
				msgs, err := gatekeepertest.Evaluate(tmpl, obj, tmpl.Parameters(testRegistries))
				require.NoError(t, err, e.Name())
				switch {
				case strings.HasPrefix(e.Name(), "allowed-"):
					allowed++
					require.Empty(t, msgs, e.Name())
				case strings.HasPrefix(e.Name(), "disallowed-"):
					disallowed++
					want := obj["metadata"].(map[string]any)["annotations"].(map[string]any)[expectKey].(string)
					require.NotEmpty(t, msgs, e.Name())
					require.Contains(t, strings.Join(msgs, "\n"), want, e.Name())
				default:
					t.Fatalf("%s: case files are allowed-*.yaml or disallowed-*.yaml", e.Name())
				}
			}
			require.Positive(t, allowed, "allowed cases")
			require.Positive(t, disallowed, "disallowed cases")
			t.Logf("%s: %d allowed, %d disallowed cases", tmpl.Kind, allowed, disallowed)
		})
	}
}

// TestTemplatesAreCompatibleWithRegoV1: the templates declare Rego v1 (their
// code block's source version), and no source imports rego.v1, which
// Gatekeeper's rewriter refuses (it allows only data.lib and
// future.keywords imports); TestEngineChartsStack has gator load them.
func TestTemplatesAreCompatibleWithRegoV1(t *testing.T) {
	lib, err := gatekeeper.Lib()
	require.NoError(t, err)
	require.NotContains(t, lib, "import rego.v1")
	for _, tmpl := range gatekeeper.Templates {
		src, err := tmpl.Rego()
		require.NoError(t, err)
		require.NotContains(t, src, "import rego.v1", tmpl.Kind)
		require.Contains(t, src, "package "+tmpl.Name()+"\n", "the package is the template's name")
	}
}
