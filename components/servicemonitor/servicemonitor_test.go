package servicemonitor

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	err := (&Args{Endpoints: []Endpoint{{}, {Port: "m", PortNumber: 9}, {Port: "https", HTTPS: true}}}).Validate()
	for _, want := range []string{"Name and Namespace", "Selector", "Endpoints[0]: set exactly one", "Endpoints[1]: set exactly one", "Endpoints[2]: HTTPS needs"} {
		require.ErrorContains(t, err, want)
	}
	require.ErrorContains(t, (&Args{Name: "x", Namespace: pulumi.String("n"), Selector: map[string]string{"a": "b"}}).Validate(), "at least one port")
}

// TestSpec: HTTPS endpoints verify the target against a named CA, never
// skip verification; a port can be chosen by number; other namespaces are
// named.
func TestSpec(t *testing.T) {
	a := &Args{
		Name: "vault", Namespace: pulumi.String("intelliflow-monitoring"), Selector: map[string]string{"app": "vault"},
		TargetNamespace: "intelliflow-security",
		Endpoints: []Endpoint{
			{Port: "https", Path: "/v1/sys/metrics", Params: map[string][]string{"format": {"prometheus"}}, HTTPS: true, TLSCASecret: "vault-ca", TLSServerName: "vault.intelliflow-security.svc"},
			{PortNumber: 9402},
		},
	}
	require.NoError(t, a.Validate())
	s := a.Spec()
	eps := s["endpoints"].([]any)
	https := eps[0].(map[string]any)
	require.Equal(t, "https", https["scheme"])
	require.Equal(t, "/v1/sys/metrics", https["path"])
	require.Equal(t, map[string]any{"format": []any{"prometheus"}}, https["params"])
	tls := https["tlsConfig"].(map[string]any)
	require.NotContains(t, tls, "insecureSkipVerify")
	require.Equal(t, "vault.intelliflow-security.svc", tls["serverName"])
	byNumber := eps[1].(map[string]any)
	require.Equal(t, 9402, byNumber["targetPort"])
	require.Equal(t, "/metrics", byNumber["path"])
	require.NotContains(t, byNumber, "port")
	require.Equal(t, map[string]any{"matchNames": []any{"intelliflow-security"}}, s["namespaceSelector"])
}
