package stacks

// Ingress is how the API is exposed.
type Ingress struct {
	Host               string   `json:"host"`
	ClusterIssuer      string   `json:"clusterIssuer"`
	RateLimitPerMinute int      `json:"rateLimitPerMinute"`
	CORSOrigins        []string `json:"corsOrigins"`
	Paths              []string `json:"paths"`
	// LoadBalancer, when set, also exposes the gateway through an AWS NLB.
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty"`
}

// LoadBalancer is the optional NLB in front of the gateway.
type LoadBalancer struct {
	CertificateARN string   `json:"certificateArn"`
	SourceRanges   []string `json:"sourceRanges"`
}

// DefaultIngress is an environment's public entry: the seed's 1000 requests
// a minute per client, TLS from the environment's issuer.
func DefaultIngress(env Environment) Ingress {
	in := Ingress{
		Host:               "api." + string(env) + ".intelliflow.example",
		RateLimitPerMinute: 1000,
		CORSOrigins:        []string{"https://app." + string(env) + ".intelliflow.example"},
		Paths:              []string{"/api", "/auth"},
	}
	switch env {
	case Prod:
		in.Host = "api.intelliflow.example"
		in.CORSOrigins = []string{"https://app.intelliflow.example"}
		in.ClusterIssuer = "letsencrypt-prod"
	case Staging:
		in.ClusterIssuer = "letsencrypt-staging"
	default:
		// A self-signed CA the dev cluster's cert-manager holds.
		in.ClusterIssuer = "intelliflow-dev-ca"
	}
	return in
}
