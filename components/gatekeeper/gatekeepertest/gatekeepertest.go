// Package gatekeepertest evaluates the platform's Gatekeeper templates with
// OPA, the engine Gatekeeper embeds, as Gatekeeper would at admission. Only
// tests import it, so OPA never reaches the Pulumi program's binary.
package gatekeepertest

import (
	"context"
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/intelliflow/platform/components/gatekeeper"
)

// Evaluate runs one template on an admitted object and returns the
// violation messages, sorted. The modules are parsed as Gatekeeper parses a
// template whose code block declares Rego v1, as ours do.
func Evaluate(t gatekeeper.Template, object map[string]any, parameters map[string]any) ([]string, error) {
	src, err := t.Rego()
	if err != nil {
		return nil, err
	}
	lib, err := gatekeeper.Lib()
	if err != nil {
		return nil, err
	}
	if parameters == nil {
		parameters = map[string]any{}
	}
	input := map[string]any{
		"review":     map[string]any{"object": object, "kind": map[string]any{"kind": object["kind"]}, "operation": "CREATE"},
		"parameters": parameters,
	}
	r := rego.New(
		rego.Query("data."+t.Name()+".violation"),
		rego.Module(t.File, src),
		rego.Module(gatekeeper.LibFile, lib),
		rego.SetRegoVersion(ast.RegoV1),
		rego.Input(input),
		rego.StrictBuiltinErrors(true),
	)
	rs, err := r.Eval(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Kind, err)
	}
	var msgs []string
	for _, res := range rs {
		for _, expr := range res.Expressions {
			set, ok := expr.Value.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: violation is %T, not a set", t.Kind, expr.Value)
			}
			for _, v := range set {
				m, _ := v.(map[string]any)
				msg, ok := m["msg"].(string)
				if !ok {
					return nil, fmt.Errorf("%s: a violation without msg: %v", t.Kind, v)
				}
				msgs = append(msgs, msg)
			}
		}
	}
	sort.Strings(msgs)
	return msgs, nil
}
