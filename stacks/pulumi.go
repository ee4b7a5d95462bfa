package stacks

import (
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/chart"
)

// Load reads and validates the current stack's configuration from ctx. A
// chart folder (file://) relative to the project is made absolute: the
// kubernetes provider, which reads the charts, runs in another folder.
func Load(ctx *pulumi.Context) (Config, error) {
	c, err := Parse(ctx.Stack(), func(key string) (string, bool) {
		return ctx.GetConfig(Namespace + ":" + key)
	})
	if err != nil {
		return c, err
	}
	root, err := Root(ctx)
	if err != nil {
		return c, err
	}
	c.ChartRepository = chart.ResolveLocal(c.ChartRepository, root)
	return c, nil
}

// Root is the project's folder: the program's root directory, or where it
// runs inline.
func Root(ctx *pulumi.Context) (string, error) {
	if root := ctx.RootDirectory(); root != "" {
		return root, nil
	}
	return os.Getwd()
}
