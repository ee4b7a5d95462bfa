package stacks

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/intelliflow/platform/apps/catalog"
)

// Endpoint is where a data store or external dependency is reached, and the
// networks its traffic goes to (for egress NetworkPolicies).
type Endpoint struct {
	Host  string   `json:"host"`
	Port  int      `json:"port"`
	CIDRs []string `json:"cidrs"`
	// AuthMechanism is MongoDB's (the driver negotiates SCRAM when
	// empty; PLAIN for a server that checks passwords elsewhere, as
	// FerretDB does against PostgreSQL).
	AuthMechanism string `json:"authMechanism,omitempty"`
}

// mongoMechanisms are the authentication mechanisms the services' MongoDB
// driver speaks with a password.
var mongoMechanisms = []string{"", "SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"}

// AWSS3Host is S3's default host; any other names an S3-compatible server.
const AWSS3Host = "s3.amazonaws.com"

// S3Endpoint is the URL of an S3-compatible server the stack names instead
// of AWS's S3, or "" for AWS (whose SDK finds its own endpoint).
func (c Config) S3Endpoint() string {
	e := c.DataStores[catalog.S3]
	if e.Host == AWSS3Host || e.Host == "" {
		return ""
	}
	return "https://" + net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
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
		// A copy each: a stack's override decodes into the slice.
		e := Endpoint{Host: fmt.Sprintf("%s.%s.intelliflow.internal", st, env), Port: defaultPorts[st], CIDRs: slices.Clone(privateNetworks)}
		switch st {
		case catalog.S3:
			e.Host = AWSS3Host
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
		if e.AuthMechanism != "" && st != catalog.MongoDB {
			errs = append(errs, fmt.Errorf("%s.authMechanism: only mongodb's is configurable", key))
		} else if !slices.Contains(mongoMechanisms, e.AuthMechanism) {
			errs = append(errs, fmt.Errorf("%s.authMechanism: %q is not one of %s", key, e.AuthMechanism, strings.Join(mongoMechanisms[1:], ", ")))
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
