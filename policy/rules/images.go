package rules

import (
	"strings"

	"github.com/distribution/reference"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// imageRefs calls fn with every container image of a workload, parsed. It
// returns findings for images that are unknown or unparseable.
func imageRefs(r policyx.AnalyzerResource, fn func(c container, image string, ref reference.Named) []Finding) []Finding {
	cs, unknown, ok := containers(r.Type, r.Properties)
	if !ok {
		return nil
	}
	var out []Finding
	if unknown {
		out = append(out, unchecked("the container list is not known yet"))
	}
	for _, c := range cs {
		v, present := at(c.props, "image")
		switch {
		case !present:
			out = append(out, violation("%s.image: container %q has no image; set a pinned image", c.field, c.name))
			continue
		case v.IsComputed():
			out = append(out, unchecked("%s.image of container %q is not known yet", c.field, c.name))
			continue
		case !v.IsString():
			out = append(out, violation("%s.image: container %q image is not a string", c.field, c.name))
			continue
		}
		image := v.AsString()
		ref, err := reference.ParseNormalizedNamed(image)
		if err != nil {
			out = append(out, violation("%s.image: container %q image %q is not a valid image reference (%v)", c.field, c.name, image, err))
			continue
		}
		out = append(out, fn(c, image, ref)...)
	}
	return out
}

// SEC17ImageTag forbids `:latest` and untagged images: a mutable tag makes a
// rollout unreproducible and a rollback meaningless.
func SEC17ImageTag() Rule {
	return Rule{
		Name:        "SEC-17-image-tag",
		Description: "SEC-17: no :latest or untagged container images.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       workloadTypes,
		Check: func(r policyx.AnalyzerResource) []Finding {
			return imageRefs(r, func(c container, image string, ref reference.Named) []Finding {
				_, digested := ref.(reference.Digested)
				tagged, isTagged := ref.(reference.Tagged)
				switch {
				case isTagged && tagged.Tag() == "latest" && !digested:
					return []Finding{violation("%s.image: container %q uses %q; :latest is mutable: pin a version tag (and a @sha256 digest in prod)", c.field, c.name, image)}
				case !isTagged && !digested:
					return []Finding{violation("%s.image: container %q image %q has no tag, which means :latest; pin a version tag or a @sha256 digest", c.field, c.name, image)}
				}
				return nil
			})
		},
	}
}

// SEC17ImageDigest asks for images pinned by digest, where the stack requires
// it (prod): a tag can be re-pushed, a digest cannot.
func SEC17ImageDigest(required bool) Rule {
	return Rule{
		Name:        "SEC-17-image-digest",
		Description: "SEC-17: images pinned by @sha256 digest where the stack requires it (prod).",
		Level:       policyx.EnforcementLevelAdvisory,
		Types:       workloadTypes,
		Check: func(r policyx.AnalyzerResource) []Finding {
			if !required {
				return nil
			}
			return imageRefs(r, func(c container, image string, ref reference.Named) []Finding {
				if _, ok := ref.(reference.Digested); ok {
					return nil
				}
				return []Finding{violation("%s.image: container %q image %q is not pinned by digest; use image@sha256:<digest>", c.field, c.name, image)}
			})
		},
	}
}

// SEC18ImageRegistry allows images only from the stack's registries. An entry
// may carry a path ("registry.example.com/team") to allow only that part.
func SEC18ImageRegistry(allowed []string) Rule {
	return Rule{
		Name:        "SEC-18-image-registry",
		Description: "SEC-18: container images come only from the stack's allowed registries.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       workloadTypes,
		Check: func(r policyx.AnalyzerResource) []Finding {
			return imageRefs(r, func(c container, image string, ref reference.Named) []Finding {
				if registryAllowed(ref.Name(), allowed) {
					return nil
				}
				return []Finding{violation("%s.image: container %q image %q comes from %q, which is not on the allow-list %v; push it to an allowed registry or add the registry to intelliflow:imageRegistries",
					c.field, c.name, image, reference.Domain(ref), allowed)}
			})
		},
	}
}

// registryAllowed reports whether a fully qualified repository name falls
// under one of the allowed registry prefixes, on a path boundary.
func registryAllowed(name string, allowed []string) bool {
	for _, a := range allowed {
		a = strings.TrimSuffix(a, "/")
		if name == a || strings.HasPrefix(name, a+"/") {
			return true
		}
	}
	return false
}
