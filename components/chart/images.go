package chart

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/policy/rules"
)

// PinImages runs the images charts render by digest: a container or init
// container whose image is a key of digests (the reference as the chart
// renders it, registry/repository:tag) runs image@digest, which no tag
// moved in the registry can change (SEC-17, required in prod). Charts
// name their images each in their own values, and a few not at all (a
// hook's, a sidecar's); the rendered reference is the one name they all
// share. Registered for the whole stack, it reaches every chart's
// children; an image already pinned, or not in digests, is left as it is,
// and the pack reports what prod still runs by tag.
func PinImages(digests map[string]string) pulumi.ResourceTransform {
	return func(_ context.Context, a *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
		path, ok := rules.PodSpecPath(a.Type)
		if !ok {
			return nil
		}
		pod := a.Props
		for _, key := range path {
			next, ok := pod[key].(pulumi.Map)
			if !ok {
				return nil
			}
			pod = next
		}
		pinned := false
		for _, list := range []string{"initContainers", "containers"} {
			containers, _ := pod[list].(pulumi.Array)
			for _, c := range containers {
				container, ok := c.(pulumi.Map)
				if !ok {
					continue
				}
				image, _ := container["image"].(pulumi.String)
				if d, ok := digests[string(image)]; ok {
					container["image"] = pulumi.String(string(image) + "@" + d)
					pinned = true
				}
			}
		}
		if !pinned {
			return nil
		}
		return &pulumi.ResourceTransformResult{Props: a.Props, Opts: a.Opts}
	}
}
