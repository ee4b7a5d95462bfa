package network

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlanSubnets(t *testing.T) {
	plans, err := PlanSubnets(netip.MustParsePrefix("10.20.0.0/16"), []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"})
	require.NoError(t, err)
	want := []SubnetPlan{
		{"eu-west-1a", netip.MustParsePrefix("10.20.192.0/22"), netip.MustParsePrefix("10.20.0.0/18")},
		{"eu-west-1b", netip.MustParsePrefix("10.20.196.0/22"), netip.MustParsePrefix("10.20.64.0/18")},
		{"eu-west-1c", netip.MustParsePrefix("10.20.200.0/22"), netip.MustParsePrefix("10.20.128.0/18")},
	}
	require.Equal(t, want, plans)

	// No two subnets overlap, and all sit inside the VPC.
	vpc := netip.MustParsePrefix("10.20.0.0/16")
	var all []netip.Prefix
	for _, p := range plans {
		all = append(all, p.Public, p.Private)
	}
	for i, a := range all {
		require.True(t, vpc.Contains(a.Addr()), a)
		for _, b := range all[i+1:] {
			require.False(t, a.Overlaps(b), "%v overlaps %v", a, b)
		}
	}

	small, err := PlanSubnets(netip.MustParsePrefix("172.16.0.0/20"), []string{"a", "b"})
	require.NoError(t, err)
	require.Equal(t, "172.16.0.0/22", small[0].Private.String())
	require.Equal(t, "172.16.12.64/26", small[1].Public.String())
}

func TestPlanSubnetsRejects(t *testing.T) {
	zones := []string{"a", "b", "c"}
	for _, tt := range []struct {
		cidr  string
		zones []string
		want  string
	}{
		{"10.0.0.0/24", zones, "want a /16 to /20"},
		{"10.0.0.0/8", zones, "want a /16 to /20"},
		{"10.0.1.0/16", zones, "host bits set; use 10.0.0.0/16"},
		{"10.0.0.0/16", []string{"a"}, "1 zones"},
		{"10.0.0.0/16", []string{"a", "b", "c", "d"}, "4 zones"},
		{"10.0.0.0/16", []string{"a", "a"}, "distinct"},
	} {
		_, err := PlanSubnets(netip.MustParsePrefix(tt.cidr), tt.zones)
		require.ErrorContains(t, err, tt.want, tt.cidr)
	}
	_, err := PlanSubnets(netip.Prefix{}, zones)
	require.ErrorContains(t, err, "not an IPv4 prefix")
}

func TestNATGateways(t *testing.T) {
	require.Equal(t, 3, NATGateways(3, true), "prod: one per zone")
	require.Equal(t, 1, NATGateways(3, false), "staging: one shared")
}
