// Package chart installs an official Helm chart the one way the platform
// does: pinned by version, from the platform's chart mirror (a repository
// URL, or a static repository folder on this machine), as a Pulumi helm v4
// Chart whose objects are resources of their own (so the policy pack sees
// them).
package chart

import (
	"errors"
	"fmt"
	"regexp"

	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/policy/rules"
)

var repositoryRE = regexp.MustCompile(`^(https|oci)://[a-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._/-]*)?$`)

// ValidRepository reports whether url can be a chart mirror: https:// or
// oci://, a host, an optional port and path; or file://<folder> holding a
// static repository.
func ValidRepository(url string) error {
	if _, ok := LocalDir(url); ok || repositoryRE.MatchString(url) {
		return nil
	}
	return fmt.Errorf("chart repository %q is not an https:// or oci:// repository or a file://<folder>", url)
}

// Args is one chart install.
type Args struct {
	// Chart is the chart's name in the repository; Version pins it.
	Chart, Version string
	// Release names the release where the objects' names derive from it
	// (empty: the Pulumi resource name).
	Release string
	// Namespace is an input so the install waits for the namespace.
	Namespace  pulumi.StringInput
	Repository string
	Values     pulumi.MapInput
	// Tokenless names the chart's workloads (metadata.name) whose pods
	// never call the Kubernetes API and whose chart has no value to say
	// so: their pods mount no service account token (SEC-13).
	Tokenless []string
	// PostRenderer rewrites the rendered manifests before the engine reads
	// them; see APIRegistrationV1.
	PostRenderer *helmv4.PostRendererArgs
}

// New installs the chart.
func New(ctx *pulumi.Context, name string, a Args, opts ...pulumi.ResourceOption) (*helmv4.Chart, error) {
	var errs []error
	if a.Chart == "" || a.Version == "" {
		errs = append(errs, fmt.Errorf("chart %q: Chart and Version are required (charts are pinned)", a.Chart))
	}
	if err := ValidRepository(a.Repository); err != nil {
		errs = append(errs, err)
	}
	if a.Namespace == nil {
		errs = append(errs, errors.New("Namespace is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	args := &helmv4.ChartArgs{
		Chart:          pulumi.String(a.Chart),
		Version:        pulumi.String(a.Version),
		Namespace:      a.Namespace,
		RepositoryOpts: &helmv4.RepositoryOptsArgs{Repo: pulumi.String(a.Repository)},
		Values:         a.Values,
	}
	if dir, ok := LocalDir(a.Repository); ok {
		// Helm renders an archive path as it is (it would not check the
		// version), so the pin is checked here against the folder's index.
		archive, err := Locate(dir, a.Chart, a.Version)
		if err != nil {
			return nil, err
		}
		args.Chart, args.RepositoryOpts = pulumi.String(archive), nil
	}
	if a.Release != "" {
		args.Name = pulumi.String(a.Release)
	}
	args.PostRenderer = a.PostRenderer
	transforms := []pulumi.ResourceTransform{PlatformDefaults}
	if len(a.Tokenless) > 0 {
		transforms = append(transforms, WithoutToken(a.Tokenless...))
	}
	return helmv4.NewChart(ctx, name, args, append(opts, pulumi.Transforms(transforms))...)
}

// APIRegistrationV1 is a post-renderer for a chart that picks an
// APIService's version from the cluster's capabilities: rendering with no
// cluster to ask (a preview to a folder, the charts stack), Helm's default
// capabilities lack apiregistration.k8s.io/v1 and such a chart falls back
// to v1beta1, which API servers since 1.22 refuse. Both versions have the
// same schema, so the apiVersion line is all that changes; sed is on every
// machine that runs Pulumi. Against a live cluster the chart renders v1
// already and the rewrite matches nothing.
func APIRegistrationV1() *helmv4.PostRendererArgs {
	return &helmv4.PostRendererArgs{
		Command: pulumi.String("sed"),
		Args:    pulumi.ToStringArray([]string{"-e", apiRegistrationV1}),
	}
}

const apiRegistrationV1 = `s#^apiVersion: apiregistration\.k8s\.io/v1beta1$#apiVersion: apiregistration.k8s.io/v1#`

// KubernetesAPIAnnotation marks a pod that calls the Kubernetes API, and
// so mounts its service account token (policy SEC-13): every controller,
// operator and webhook a chart installs does.
const KubernetesAPIAnnotation = rules.KubernetesAPIAnnotation

// CallsAPI is the pod annotations of a chart workload that calls the
// Kubernetes API.
func CallsAPI() pulumi.Map {
	return pulumi.Map{KubernetesAPIAnnotation: pulumi.String("true")}
}
