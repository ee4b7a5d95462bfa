package edge

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Proxies are the networks whose X-Forwarded-For the gateway believes: the
// ingress controller's (and a cloud load balancer's, when it forwards).
type Proxies []*net.IPNet

// ParseProxies reads CIDRs, comma-separated.
func ParseProxies(list []string) (Proxies, error) {
	var out Proxies
	for _, s := range list {
		_, n, err := net.ParseCIDR(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func (p Proxies) trusted(ip net.IP) bool {
	for _, n := range p {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientIP is the address of the client a request came from. The peer's
// address, unless the peer is a trusted proxy: then the right-most address
// in X-Forwarded-For that is not one of the trusted proxies (the first
// hop a trusted proxy saw). A client can put anything at the left of the
// header; only what trusted proxies appended counts.
func (p Proxies) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer := net.ParseIP(host)
	if peer == nil || !p.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := host
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(strings.TrimSpace(hops[i]))
		if ip == nil {
			break
		}
		client = ip.String()
		if !p.trusted(ip) {
			break
		}
	}
	return client
}
