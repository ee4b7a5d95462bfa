// Package network provides the Network component of the AWS foundation: the
// VPC over two or three zones with public and private subnets, NAT, VPC
// endpoints and flow logs. Its decisions are pure functions in this file:
// how the address space is cut into subnets per zone, and how many NAT
// gateways a stack runs.
package network

import (
	"errors"
	"fmt"
	"net/netip"
)

// SubnetPlan is the CIDRs of one availability zone.
type SubnetPlan struct {
	Zone    string
	Public  netip.Prefix // load balancers and NAT gateways
	Private netip.Prefix // nodes, pods and data stores
}

// PlanSubnets cuts the VPC into one public and one private subnet per zone.
// Private subnets get most of the space, because with the VPC CNI every pod
// takes a VPC address: the VPC is divided into four equal blocks, the first
// three are the private subnets of up to three zones, and the fourth is cut
// into sixteen small public subnets (load balancers, NAT gateways). A /16
// gives /18 private subnets (16,382 addresses each) and /22 public ones.
func PlanSubnets(vpc netip.Prefix, zones []string) ([]SubnetPlan, error) {
	switch {
	case !vpc.IsValid() || !vpc.Addr().Is4():
		return nil, fmt.Errorf("VPC CIDR %v is not an IPv4 prefix", vpc)
	case vpc.Masked() != vpc:
		return nil, fmt.Errorf("VPC CIDR %v has host bits set; use %v", vpc, vpc.Masked())
	case vpc.Bits() < 16 || vpc.Bits() > 20:
		return nil, fmt.Errorf("VPC CIDR %v: want a /16 to /20 (EKS pods need the room)", vpc)
	case len(zones) < 2 || len(zones) > 3:
		return nil, fmt.Errorf("%d zones; want 2 or 3 for a highly available cluster", len(zones))
	}
	seen := map[string]bool{}
	for _, z := range zones {
		if z == "" || seen[z] {
			return nil, errors.New("zones must be distinct and named")
		}
		seen[z] = true
	}
	quarter := vpc.Bits() + 2
	publicBits := quarter + 4 // 16 public slots in the last quarter
	plans := make([]SubnetPlan, len(zones))
	for i, z := range zones {
		private, err := nth(vpc, quarter, i)
		if err != nil {
			return nil, err
		}
		last, err := nth(vpc, quarter, 3)
		if err != nil {
			return nil, err
		}
		public, err := nth(last, publicBits, i)
		if err != nil {
			return nil, err
		}
		plans[i] = SubnetPlan{Zone: z, Public: public, Private: private}
	}
	return plans, nil
}

// nth is the i-th sub-prefix of length bits inside p.
func nth(p netip.Prefix, bits, i int) (netip.Prefix, error) {
	if bits < p.Bits() || bits > 32 {
		return netip.Prefix{}, fmt.Errorf("cannot cut %v into /%d", p, bits)
	}
	count := 1 << (bits - p.Bits())
	if i < 0 || i >= count {
		return netip.Prefix{}, fmt.Errorf("%v has %d /%d blocks, not %d", p, count, bits, i+1)
	}
	a := p.Addr().As4()
	base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	base += uint32(i) << (32 - bits)
	addr := netip.AddrFrom4([4]byte{byte(base >> 24), byte(base >> 16), byte(base >> 8), byte(base)})
	return netip.PrefixFrom(addr, bits), nil
}

// NATGateways is how many NAT gateways a stack runs: one per zone where a
// zone outage must not cut every node off the internet (prod), one shared
// otherwise (staging), trading that for cost.
func NATGateways(zones int, perZone bool) int {
	if perZone {
		return zones
	}
	return 1
}
