// Command pulumi-resource-kubernetes serves the Pulumi kubernetes provider.
//
// The provider module's own main embeds a schema file that its release build
// generates and the module does not ship, so it cannot be built from the module
// proxy as it is. This main serves the same provider with the schema and the
// terraform mapping that the module does ship; tools/install.sh copies
// them next to this file before it builds (they are git-ignored).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
