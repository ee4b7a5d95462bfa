package chart

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
)

// TestPinImages: containers and init containers of every kind that runs
// pods take the digest of their rendered reference; an image not listed,
// one already pinned and objects without pods are left alone.
func TestPinImages(t *testing.T) {
	const (
		falco = "registry.intelliflow.internal/falcosecurity/falco:0.41.3"
		init  = "registry.intelliflow.internal/falcosecurity/falcoctl:0.11.2"
		d1    = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		d2    = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	)
	pin := PinImages(map[string]string{falco: d1, init: d2})
	apply := func(typ string, props pulumi.Map) bool {
		return pin(context.Background(), &pulumi.ResourceTransformArgs{Type: typ, Props: props}) != nil
	}
	image := func(c pulumi.Map) string { return string(c["image"].(pulumi.String)) }
	pod := func() (pulumi.Map, pulumi.Map, pulumi.Map, pulumi.Map) {
		agent := pulumi.Map{"name": pulumi.String("falco"), "image": pulumi.String(falco)}
		other := pulumi.Map{"name": pulumi.String("sidekick"), "image": pulumi.String("registry.intelliflow.internal/x:1")}
		loader := pulumi.Map{"name": pulumi.String("loader"), "image": pulumi.String(init)}
		return pulumi.Map{"containers": pulumi.Array{agent, other}, "initContainers": pulumi.Array{loader}}, agent, other, loader
	}

	spec, agent, other, loader := pod()
	require.True(t, apply("kubernetes:apps/v1:DaemonSet", pulumi.Map{"spec": pulumi.Map{"template": pulumi.Map{"spec": spec}}}))
	require.Equal(t, falco+"@"+d1, image(agent))
	require.Equal(t, init+"@"+d2, image(loader))
	require.Equal(t, "registry.intelliflow.internal/x:1", image(other), "not listed: left for the pack to report")

	spec, agent, _, _ = pod()
	cron := pulumi.Map{"spec": pulumi.Map{"jobTemplate": pulumi.Map{"spec": pulumi.Map{"template": pulumi.Map{"spec": spec}}}}}
	require.True(t, apply("kubernetes:batch/v1:CronJob", cron))
	require.Equal(t, falco+"@"+d1, image(agent))
	require.False(t, apply("kubernetes:batch/v1:CronJob", cron), "pinned once: the reference is no longer a key")

	require.False(t, apply("kubernetes:core/v1:ConfigMap", pulumi.Map{"data": pulumi.Map{"image": pulumi.String(falco)}}))
	require.False(t, apply("kubernetes:apps/v1:Deployment", pulumi.Map{"spec": pulumi.Map{}}), "no pod template")
}
