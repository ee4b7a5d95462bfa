package edge

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientIP(t *testing.T) {
	proxies, err := ParseProxies([]string{"10.0.0.0/8", "192.168.1.0/24"})
	require.NoError(t, err)
	for _, tt := range []struct {
		remote, xff, want string
	}{
		{"203.0.113.9:5000", "", "203.0.113.9"},
		{"203.0.113.9:5000", "1.2.3.4", "203.0.113.9"},                 // an untrusted peer's header is ignored
		{"10.1.2.3:5000", "198.51.100.7", "198.51.100.7"},              // the ingress saw the client
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.7", "198.51.100.7"},     // the client's own claim at the left is ignored
		{"10.1.2.3:5000", "198.51.100.7, 192.168.1.5", "198.51.100.7"}, // two trusted hops
		{"10.1.2.3:5000", "garbage, 198.51.100.7", "198.51.100.7"},
		{"10.1.2.3:5000", "198.51.100.7, garbage", "10.1.2.3"}, // an unreadable last hop: the peer
		{"10.1.2.3:5000", "10.9.9.9", "10.9.9.9"},              // only proxies: the left-most
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		require.Equal(t, tt.want, proxies.ClientIP(r), "%s via %s", tt.xff, tt.remote)
	}
	_, err = ParseProxies([]string{"10.0.0.0/33"})
	require.ErrorContains(t, err, "is not a CIDR")
}
