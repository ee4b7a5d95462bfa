package rules

// Settings are the stack facts rules depend on; the pack reads them from the
// same typed stack config the program uses.
type Settings struct {
	// PodSecurityVersion is the pinned Pod Security Standards version.
	PodSecurityVersion string
	// ImageRegistries is the allow-list of image registries.
	ImageRegistries []string
	// RequireImageDigests asks for @sha256 pins (prod).
	RequireImageDigests bool
}

// All returns every rule for a stack's settings.
func All(s Settings) []Rule {
	return []Rule{
		SEC01PodSecurityRestricted(s.PodSecurityVersion),
		SEC16NamespacePodSecurity(s.PodSecurityVersion),
		SEC17ImageTag(),
		SEC17ImageDigest(s.RequireImageDigests),
		SEC18ImageRegistry(s.ImageRegistries),
	}
}
