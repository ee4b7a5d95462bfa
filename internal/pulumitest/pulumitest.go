// Package pulumitest runs Pulumi programs and components under the SDK's mock
// monitor and records every registered resource with its inputs, so tests can
// assert on exactly what a stack would ask the engine to create.
package pulumitest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Resource is one registered resource as the mock saw it.
type Resource struct {
	// Type is the type token, e.g. kubernetes:core/v1:Namespace.
	Type string
	// Name is the Pulumi resource name (not the Kubernetes metadata.name).
	Name string
	// Custom is false for component resources.
	Custom bool
	// Parent is the parent's URN, empty for stack children.
	Parent string
	// Provider is the provider reference the resource was registered with.
	Provider string
	// Dependencies are the URNs it waits for (dependsOn and inputs).
	Dependencies []string
	// Inputs are the raw inputs, secrets and unknowns kept.
	Inputs resource.PropertyMap
	// Plain are the inputs as plain Go values (maps, slices, strings, float64,
	// bool): secrets unwrapped, unknown values nil.
	Plain map[string]any
}

// Get returns the plain input at a dotted path, for example
// "metadata.labels"; numeric segments index into lists. It returns nil when
// any segment is missing.
func (r Resource) Get(path string) any {
	var cur any = r.Plain
	for _, seg := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[seg]
		case []any:
			var i int
			if _, err := fmt.Sscanf(seg, "%d", &i); err != nil || i < 0 || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

// Invoke answers a provider function call (an invoke) in a mocked run.
type Invoke func(args resource.PropertyMap) (resource.PropertyMap, error)

// Mocks is a pulumi.MockResourceMonitor that records resources. Resource
// outputs echo their inputs; invokes are answered by Invokes, by token.
type Mocks struct {
	// Invokes answers invokes by token; an unknown token is an error, so a
	// test never passes on an invoke nobody thought about.
	Invokes map[string]Invoke
	// Outputs, when set, adds outputs for a resource beyond its inputs (for
	// example an ARN or endpoint the provider would compute).
	Outputs func(typ, name string, inputs resource.PropertyMap) resource.PropertyMap

	mu        sync.Mutex
	resources []Resource
}

// NewResource implements pulumi.MockResourceMonitor.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{
		Type:     args.TypeToken,
		Name:     args.Name,
		Custom:   args.Custom,
		Provider: args.Provider,
		Inputs:   args.Inputs,
		Plain:    Plain(args.Inputs),
	}
	if args.RegisterRPC != nil {
		r.Parent = args.RegisterRPC.GetParent()
		r.Dependencies = args.RegisterRPC.GetDependencies()
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()

	outputs := args.Inputs.Copy()
	if m.Outputs != nil {
		for k, v := range m.Outputs(args.TypeToken, args.Name, args.Inputs) {
			outputs[k] = v
		}
	}
	id := args.ID
	if id == "" && args.Custom {
		id = args.Name + "-id"
	}
	return id, outputs, nil
}

// Call implements pulumi.MockResourceMonitor.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	if f, ok := m.Invokes[args.Token]; ok {
		return f(args.Args)
	}
	return nil, fmt.Errorf("pulumitest: no mock for invoke %q", args.Token)
}

// Resources returns every recorded resource in registration order.
func (m *Mocks) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Resource(nil), m.resources...)
}

// OfType returns the recorded resources of a type token, sorted by name.
func (m *Mocks) OfType(typ string) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Analyzed returns the recorded custom resources as the policy pack's
// analyzer receives them (inputs as properties, the name as URN), so tests
// run the rules on exactly what was registered.
func (m *Mocks) Analyzed() []policyx.AnalyzerResource {
	var out []policyx.AnalyzerResource
	for _, r := range m.Resources() {
		if r.Custom {
			out = append(out, policyx.AnalyzerResource{
				Type: r.Type, Name: r.Name, URN: r.Name, Properties: resource.FromResourcePropertyMap(r.Inputs),
			})
		}
	}
	return out
}

// Find returns the resource with a type token and Pulumi name.
func (m *Mocks) Find(typ, name string) (Resource, bool) {
	for _, r := range m.Resources() {
		if r.Type == typ && r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// Options configures a mocked run.
type Options struct {
	// Project defaults to "intelliflow".
	Project string
	// Stack defaults to "dev".
	Stack string
	// Config is the stack's config, full keys ("intelliflow:environment")
	// to the string value a Pulumi.<stack>.yaml would give.
	Config map[string]string
	// DryRun runs as a preview: unknown values stay unknown.
	DryRun bool
	// Mocks records the run; a fresh one is used when nil.
	Mocks *Mocks
	// RootDirectory is the project root the program sees
	// (ctx.RootDirectory); relative paths in config resolve against it.
	RootDirectory string
}

// Run runs fn under mocks and returns the recorder and fn's error. It sets
// the process environment the SDK reads config from, so tests using it must
// not run in parallel.
func Run(t testing.TB, opts Options, fn pulumi.RunFunc) (*Mocks, error) {
	t.Helper()
	if opts.Project == "" {
		opts.Project = "intelliflow"
	}
	if opts.Stack == "" {
		opts.Stack = "dev"
	}
	if opts.Mocks == nil {
		opts.Mocks = &Mocks{}
	}
	cfg, err := json.Marshal(opts.Config)
	if err != nil {
		t.Fatalf("pulumitest: config: %v", err)
	}
	t.Setenv(pulumi.EnvConfig, string(cfg))
	dry := "false"
	if opts.DryRun {
		dry = "true"
	}
	t.Setenv(pulumi.EnvDryRun, dry)
	t.Setenv(pulumi.EnvPulumiRootDirectory, opts.RootDirectory)
	err = pulumi.RunErr(fn, pulumi.WithMocks(opts.Project, opts.Stack, opts.Mocks))
	return opts.Mocks, err
}

// Plain converts a property map to plain Go values: secrets unwrapped,
// unknown (computed) values nil.
func Plain(m resource.PropertyMap) map[string]any {
	return plain(m, false)
}

// Redacted is Plain with every secret value replaced by "[secret]", for
// golden files: they are reviewed and committed, so they never hold one.
func Redacted(m resource.PropertyMap) map[string]any {
	return plain(m, true)
}

// SecretPlaceholder stands for a secret value in Redacted's output.
const SecretPlaceholder = "[secret]"

// hidden keeps a secret's shape (an object's keys, an array's length), so a
// reviewer sees which keys a Secret holds, and hides every value.
func hidden(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return hidden(v.SecretValue().Element)
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			out[string(k)] = hidden(e)
		}
		return out
	case v.IsArray():
		out := make([]any, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			out[i] = hidden(e)
		}
		return out
	}
	return SecretPlaceholder
}

func plain(m resource.PropertyMap, redact bool) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[string(k)] = plainValue(v, redact)
	}
	return out
}

func plainValue(v resource.PropertyValue, redact bool) any {
	switch {
	case v.IsSecret() && redact:
		return hidden(v.SecretValue().Element)
	case v.IsSecret():
		return plainValue(v.SecretValue().Element, redact)
	case v.IsComputed():
		return nil
	case v.IsOutput():
		if !v.OutputValue().Known {
			return nil
		}
		if v.OutputValue().Secret && redact {
			return hidden(v.OutputValue().Element)
		}
		return plainValue(v.OutputValue().Element, redact)
	case v.IsObject():
		return plain(v.ObjectValue(), redact)
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = plainValue(e, redact)
		}
		return out
	case v.IsNull():
		return nil
	case v.IsString():
		return v.StringValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsBool():
		return v.BoolValue()
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	default:
		return v.V
	}
}
