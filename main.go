// Command intelliflow-platform is the Pulumi program for the IntelliFlow
// platform, for teams that run `pulumi up` with a standard Pulumi install.
// cmd/intelliflow runs the same infra.Run through the Automation API.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/infra"
)

func main() {
	pulumi.Run(infra.Run)
}
