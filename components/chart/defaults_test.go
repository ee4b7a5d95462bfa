package chart

import (
	"context"
	"os/exec"
	"strings"
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

func TestWithoutToken(t *testing.T) {
	transform := WithoutToken("logstash")
	named := func(name string) pulumi.Map {
		d := deployment(nil, pulumi.Map{"name": pulumi.String("a")})
		d["metadata"] = pulumi.Map{"name": pulumi.String(name)}
		return d
	}
	automount := func(d pulumi.Map) any {
		return d["spec"].(pulumi.Map)["template"].(pulumi.Map)["spec"].(pulumi.Map)["automountServiceAccountToken"]
	}
	for _, typ := range []string{"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet"} {
		d := named("logstash")
		require.NotNil(t, transform(context.Background(), &pulumi.ResourceTransformArgs{Type: typ, Props: d}), typ)
		require.Equal(t, pulumi.Bool(false), automount(d), typ)
	}
	other := named("operator")
	require.Nil(t, transform(context.Background(), &pulumi.ResourceTransformArgs{Type: "kubernetes:apps/v1:Deployment", Props: other}), "an unnamed workload keeps its token")
	require.Nil(t, automount(other))
	require.Nil(t, transform(context.Background(), &pulumi.ResourceTransformArgs{Type: "kubernetes:core/v1:Service", Props: named("logstash")}))
}

func TestAPIRegistrationV1(t *testing.T) {
	// The post-renderer runs sed where Pulumi runs: check its expression
	// with this machine's sed on a rendered stream.
	in := "apiVersion: apiregistration.k8s.io/v1beta1\nkind: APIService\n---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\n---\napiVersion: v1\nkind: ConfigMap\ndata:\n  note: apiVersion: apiregistration.k8s.io/v1beta1\n"
	cmd := exec.Command("sed", "-e", apiRegistrationV1)
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.Output()
	require.NoError(t, err)
	require.Equal(t, "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\n---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\n---\napiVersion: v1\nkind: ConfigMap\ndata:\n  note: apiVersion: apiregistration.k8s.io/v1beta1\n", string(out),
		"only an object's own apiVersion line changes")
	require.Equal(t, pulumi.String("sed"), APIRegistrationV1().Command)
}
