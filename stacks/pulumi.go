package stacks

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Load reads and validates the current stack's configuration from ctx.
func Load(ctx *pulumi.Context) (Config, error) {
	return Parse(ctx.Stack(), func(key string) (string, bool) {
		return ctx.GetConfig(Namespace + ":" + key)
	})
}
