// Package servicemonitor writes the Prometheus operator's ServiceMonitor
// once, for everything Prometheus scrapes: the services, the store
// exporters, Vault and cert-manager.
package servicemonitor

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Endpoint is one port of the selected Services to scrape.
type Endpoint struct {
	// Port is the Service port's name, or, with PortNumber, unset.
	Port string
	// PortNumber selects the target port by number where the port's name is
	// not stable across versions of a chart.
	PortNumber int
	// Path defaults to /metrics.
	Path string
	// Params are query parameters (Vault's format=prometheus).
	Params map[string][]string
	// HTTPS scrapes over TLS, verifying the target's certificate against
	// the CA in TLSCASecret (key ca.crt) for the name TLSServerName.
	HTTPS         bool
	TLSCASecret   string
	TLSServerName string
}

// Args is one ServiceMonitor.
type Args struct {
	// Name and Namespace of the ServiceMonitor; Namespace is an input so it
	// waits for the namespace.
	Name      string
	Namespace pulumi.StringInput
	Labels    map[string]string
	// Selector matches the Services' labels.
	Selector map[string]string
	// TargetNamespace is where the Services are, when not Namespace.
	TargetNamespace string
	Endpoints       []Endpoint
}

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	if a.Name == "" || a.Namespace == nil {
		errs = append(errs, errors.New("Name and Namespace are required"))
	}
	if len(a.Selector) == 0 {
		errs = append(errs, errors.New("Selector: an empty selector scrapes every Service"))
	}
	if len(a.Endpoints) == 0 {
		errs = append(errs, errors.New("Endpoints: name at least one port"))
	}
	for i, e := range a.Endpoints {
		if (e.Port == "") == (e.PortNumber == 0) {
			errs = append(errs, fmt.Errorf("Endpoints[%d]: set exactly one of Port and PortNumber", i))
		}
		if e.HTTPS && (e.TLSCASecret == "" || e.TLSServerName == "") {
			errs = append(errs, fmt.Errorf("Endpoints[%d]: HTTPS needs TLSCASecret and TLSServerName (never skip verification)", i))
		}
	}
	return errors.Join(errs...)
}

// Spec is the ServiceMonitor's spec.
func (a *Args) Spec() map[string]any {
	var endpoints []any
	for _, e := range a.Endpoints {
		ep := map[string]any{"path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
		if e.Path != "" {
			ep["path"] = e.Path
		}
		if e.Port != "" {
			ep["port"] = e.Port
		} else {
			ep["targetPort"] = e.PortNumber
		}
		if len(e.Params) > 0 {
			params := map[string]any{}
			for k, vs := range e.Params {
				l := make([]any, len(vs))
				for i, v := range vs {
					l[i] = v
				}
				params[k] = l
			}
			ep["params"] = params
		}
		if e.HTTPS {
			ep["scheme"] = "https"
			ep["tlsConfig"] = map[string]any{
				"ca":         map[string]any{"secret": map[string]any{"name": e.TLSCASecret, "key": "ca.crt"}},
				"serverName": e.TLSServerName,
			}
		}
		endpoints = append(endpoints, ep)
	}
	match := map[string]any{}
	for k, v := range a.Selector {
		match[k] = v
	}
	spec := map[string]any{"selector": map[string]any{"matchLabels": match}, "endpoints": endpoints}
	if a.TargetNamespace != "" {
		spec["namespaceSelector"] = map[string]any{"matchNames": []any{a.TargetNamespace}}
	}
	return spec
}

// New creates the ServiceMonitor (the Prometheus operator's CRD must exist).
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*apiextensions.CustomResource, error) {
	if args == nil {
		return nil, fmt.Errorf("service monitor %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("service monitor %q: %w", name, err)
	}
	return apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String("monitoring.coreos.com/v1"),
		Kind:        pulumi.String("ServiceMonitor"),
		Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(args.Name), Namespace: args.Namespace, Labels: pulumi.ToStringMap(args.Labels)},
		OtherFields: kubernetes.UntypedArgs{"spec": args.Spec()},
	}, opts...)
}
