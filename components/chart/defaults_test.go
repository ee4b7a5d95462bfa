package chart

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
)

func deployment(strategy pulumi.Map, containers ...pulumi.Map) pulumi.Map {
	cs := pulumi.Array{}
	for _, c := range containers {
		cs = append(cs, c)
	}
	spec := pulumi.Map{"template": pulumi.Map{"spec": pulumi.Map{"containers": cs}}}
	if strategy != nil {
		spec["strategy"] = strategy
	}
	return pulumi.Map{"spec": spec}
}

func TestPlatformDefaults(t *testing.T) {
	apply := func(typ string, props pulumi.Map) *pulumi.ResourceTransformResult {
		return PlatformDefaults(context.Background(), &pulumi.ResourceTransformArgs{Type: typ, Props: props})
	}
	pdb := pulumi.Map{"spec": pulumi.Map{"maxUnavailable": pulumi.Int(1)}}
	require.NotNil(t, apply("kubernetes:policy/v1:PodDisruptionBudget", pdb))
	require.Equal(t, pulumi.String("AlwaysAllow"), pdb["spec"].(pulumi.Map)["unhealthyPodEvictionPolicy"])

	own := pulumi.Map{"preStop": pulumi.Map{"exec": pulumi.Map{"command": pulumi.ToStringArray([]string{"drain"})}}}
	d := deployment(nil, pulumi.Map{"name": pulumi.String("a")}, pulumi.Map{"name": pulumi.String("b"), "lifecycle": own})
	require.NotNil(t, apply("kubernetes:apps/v1:Deployment", d))
	spec := d["spec"].(pulumi.Map)
	rolling := spec["strategy"].(pulumi.Map)["rollingUpdate"].(pulumi.Map)
	require.Equal(t, pulumi.Int(0), rolling["maxUnavailable"])
	require.Equal(t, pulumi.Int(1), rolling["maxSurge"])
	cs := spec["template"].(pulumi.Map)["spec"].(pulumi.Map)["containers"].(pulumi.Array)
	require.Equal(t, pulumi.Map{"sleep": pulumi.Map{"seconds": pulumi.Int(DrainSeconds)}}, cs[0].(pulumi.Map)["lifecycle"].(pulumi.Map)["preStop"])
	require.Equal(t, own["preStop"], cs[1].(pulumi.Map)["lifecycle"].(pulumi.Map)["preStop"], "a chart's own preStop is kept")

	// A singleton that must never run twice keeps Recreate.
	recreate := deployment(pulumi.Map{"type": pulumi.String("Recreate")}, pulumi.Map{"name": pulumi.String("a")})
	apply("kubernetes:apps/v1:Deployment", recreate)
	_, has := recreate["spec"].(pulumi.Map)["strategy"].(pulumi.Map)["rollingUpdate"]
	require.False(t, has)

	require.Nil(t, apply("kubernetes:core/v1:Service", pulumi.Map{"spec": pulumi.Map{}}), "other kinds are left alone")
	require.Nil(t, apply("kubernetes:apps/v1:Deployment", pulumi.Map{}), "no spec, nothing to do")
}
