// Package priority provides the PriorityClasses component: the scheduling
// priorities that let the services on the payment path (gateway,
// transactions) preempt batch and analytics work when a cluster is full.
package priority

import (
	"errors"
	"fmt"
	"regexp"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	schedulingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/scheduling/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Class is one PriorityClass.
type Class struct {
	Name        string
	Value       int
	Description string
}

// The platform's classes. Values stay far below the system classes
// (2000000000 and up) so cluster components always win.
var (
	Critical = Class{Name: "intelliflow-critical", Value: 100000, Description: "IntelliFlow payment path: API gateway and transactions."}
	Standard = Class{Name: "intelliflow-standard", Value: 10000, Description: "IntelliFlow services off the payment path."}
)

// Args configures the classes.
type Args struct {
	Classes []Class
}

// Classes is the created PriorityClasses.
type Classes struct {
	pulumi.ResourceState

	// Names are the class names, for pod specs.
	Names pulumi.StringArrayOutput `pulumi:"names"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate checks names and values.
func (a *Args) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, c := range a.Classes {
		if !nameRE.MatchString(c.Name) || seen[c.Name] {
			errs = append(errs, fmt.Errorf("classes[%d].name %q is not a unique DNS name", i, c.Name))
		}
		seen[c.Name] = true
		if c.Value < 0 || c.Value >= 1000000000 {
			errs = append(errs, fmt.Errorf("classes[%d].value %d must be from 0 to 999999999 (above is reserved for the system)", i, c.Value))
		}
	}
	if len(a.Classes) == 0 {
		errs = append(errs, errors.New("classes: at least one"))
	}
	return errors.Join(errs...)
}

// New creates the PriorityClasses.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Classes, error) {
	if args == nil {
		return nil, fmt.Errorf("priority classes %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("priority classes %q: %w", name, err)
	}
	c := &Classes{}
	if err := ctx.RegisterComponentResource("intelliflow:platform:PriorityClasses", name, c, opts...); err != nil {
		return nil, fmt.Errorf("priority classes %q: %w", name, err)
	}
	var names pulumi.StringArray
	for _, class := range args.Classes {
		pc, err := schedulingv1.NewPriorityClass(ctx, name+"-"+class.Name, &schedulingv1.PriorityClassArgs{
			Metadata:         &metav1.ObjectMetaArgs{Name: pulumi.String(class.Name), Labels: pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}},
			Value:            pulumi.Int(class.Value),
			GlobalDefault:    pulumi.Bool(false),
			PreemptionPolicy: pulumi.String("PreemptLowerPriority"),
			Description:      pulumi.String(class.Description),
		}, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("priority classes %q: %s: %w", name, class.Name, err)
		}
		names = append(names, pc.Metadata.Name().Elem())
	}
	c.Names = names.ToStringArrayOutput()
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"names": c.Names}); err != nil {
		return nil, fmt.Errorf("priority classes %q: outputs: %w", name, err)
	}
	return c, nil
}
