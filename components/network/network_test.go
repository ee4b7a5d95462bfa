package network

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func prodArgs() *Args {
	return &Args{
		Name: "intelliflow-prod", CIDR: "10.20.0.0/16", Zones: []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"},
		NATPerZone: true, ClusterName: "intelliflow-prod", Region: "eu-west-1", FlowLogRetentionDays: 365,
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"bad cidr", func(a *Args) { a.CIDR = "10.0.0/16" }, "CIDR"},
		{"tiny vpc", func(a *Args) { a.CIDR = "10.0.0.0/24" }, "want a /16 to /20"},
		{"one zone", func(a *Args) { a.Zones = a.Zones[:1] }, "1 zones"},
		{"bad region", func(a *Args) { a.Region = "europe" }, `Region "europe"`},
		{"bad retention", func(a *Args) { a.FlowLogRetentionDays = 10 }, "FlowLogRetentionDays 10"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := prodArgs()
			tt.mutate(a)
			_, _, err := a.Validate()
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func run(t *testing.T, a *Args) *pulumitest.Mocks {
	t.Helper()
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "net", a)
		return err
	})
	require.NoError(t, err)
	return mocks
}

func TestProdNetwork(t *testing.T) {
	mocks := run(t, prodArgs())
	require.Len(t, mocks.OfType("aws:ec2/natGateway:NatGateway"), 3, "prod: a NAT gateway per zone")
	subnets := mocks.OfType("aws:ec2/subnet:Subnet")
	require.Len(t, subnets, 6)
	for _, s := range subnets {
		require.Equal(t, false, s.Get("mapPublicIpOnLaunch"), s.Name)
		tags := s.Get("tags").(map[string]any)
		require.Equal(t, "shared", tags["kubernetes.io/cluster/intelliflow-prod"], s.Name)
		_, internal := tags["kubernetes.io/role/internal-elb"]
		_, public := tags["kubernetes.io/role/elb"]
		require.True(t, internal != public, "%s is either private or public", s.Name)
	}
	priv, _ := mocks.Find("aws:ec2/subnet:Subnet", "net-private-eu-west-1b")
	require.Equal(t, "10.20.64.0/18", priv.Get("cidrBlock"))

	endpoints := map[string]string{}
	for _, e := range mocks.OfType("aws:ec2/vpcEndpoint:VpcEndpoint") {
		endpoints[e.Get("serviceName").(string)] = e.Get("vpcEndpointType").(string)
	}
	require.Equal(t, map[string]string{
		"com.amazonaws.eu-west-1.s3": "Gateway", "com.amazonaws.eu-west-1.ecr.api": "Interface",
		"com.amazonaws.eu-west-1.ecr.dkr": "Interface", "com.amazonaws.eu-west-1.sts": "Interface",
	}, endpoints)

	fl, ok := mocks.Find("aws:ec2/flowLog:FlowLog", "net-flow-logs")
	require.True(t, ok)
	require.Equal(t, "ALL", fl.Get("trafficType"))
	lg, _ := mocks.Find("aws:cloudwatch/logGroup:LogGroup", "net-flow-logs")
	require.Equal(t, 365.0, lg.Get("retentionInDays"))

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, Production: true})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), a.Name)
	}
	t.Logf("prod network: %d resources", len(mocks.Resources()))
}

func TestStagingSharesOneNAT(t *testing.T) {
	a := prodArgs()
	a.NATPerZone = false
	mocks := run(t, a)
	require.Len(t, mocks.OfType("aws:ec2/natGateway:NatGateway"), 1)
	for _, rt := range mocks.OfType("aws:ec2/routeTable:RouteTable") {
		if rt.Name != "net-public" {
			require.Equal(t, "net-nat-eu-west-1a-id", rt.Get("routes.0.natGatewayId"), rt.Name)
		}
	}
}
