package stacks

import (
	"fmt"
	"net"
	"regexp"
	"slices"

	"github.com/intelliflow/platform/apps/catalog"
)

// Endpoint is where a data store or external dependency is reached, and the
// networks its traffic goes to (for egress NetworkPolicies).
type Endpoint struct {
	Host  string   `json:"host"`
	Port  int      `json:"port"`
	CIDRs []string `json:"cidrs"`
}

// defaultPorts are the stores' standard ports.
var defaultPorts = map[catalog.Store]int{
	catalog.Postgres: 5432, catalog.Redis: 6379, catalog.Kafka: 9092, catalog.MongoDB: 27017,
	catalog.S3: 443, catalog.SMTP: 587, catalog.MLflow: 443,
}

// privateNetworks are the RFC 1918 ranges managed stores live in; staging and
// prod narrow them to the VPC once the AWS foundation provides it.
var privateNetworks = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

// DefaultEndpoints returns the data-store endpoints of an environment. Hosts
// follow <store>.<env>.intelliflow.internal, the private DNS zone the
// foundation creates; S3 and MLflow are reached over HTTPS on public
// addresses, so their egress is port 443 to any address.
func DefaultEndpoints(env Environment) map[catalog.Store]Endpoint {
	out := map[catalog.Store]Endpoint{}
	for _, st := range catalog.Stores {
		e := Endpoint{Host: fmt.Sprintf("%s.%s.intelliflow.internal", st, env), Port: defaultPorts[st], CIDRs: privateNetworks}
		switch st {
		case catalog.S3:
			e.Host = "s3.amazonaws.com"
			e.CIDRs = []string{"0.0.0.0/0"}
		case catalog.MLflow, catalog.SMTP:
			e.CIDRs = []string{"0.0.0.0/0"}
		}
		out[st] = e
	}
	return out
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

func (c Config) validateEndpoints() []error {
	var errs []error
	for _, st := range catalog.Stores {
		e, ok := c.DataStores[st]
		key := fmt.Sprintf("config %s:dataStores.%s", Namespace, st)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: missing", key))
			continue
		}
		managed := c.AWS != nil && slices.Contains(ManagedStores, st)
		if !managed && !hostRE.MatchString(e.Host) {
			errs = append(errs, fmt.Errorf("%s.host: %q is not a host name", key, e.Host))
		}
		if e.Port < 1 || e.Port > 65535 {
			errs = append(errs, fmt.Errorf("%s.port: %d is not a port", key, e.Port))
		}
		if len(e.CIDRs) == 0 {
			errs = append(errs, fmt.Errorf("%s.cidrs: name at least one network egress may reach", key))
		}
		for _, cidr := range e.CIDRs {
			if _, _, err := net.ParseCIDR(cidr); err != nil {
				errs = append(errs, fmt.Errorf("%s.cidrs: %q is not a CIDR", key, cidr))
			}
		}
	}
	return errs
}
