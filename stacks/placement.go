package stacks

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"
)

// NodePlacement pins the services' pods to some nodes: a dedicated node
// pool, or the local cluster's real node (a kubelet with containerd on the
// machine itself, tainted so that nothing else lands there).
type NodePlacement struct {
	// NodeSelector is every label a node must have.
	NodeSelector map[string]string `json:"nodeSelector"`
	// Tolerations admit the pods onto those nodes' taints.
	Tolerations []Toleration `json:"tolerations"`
}

// Toleration tolerates one taint: Exists when Value is empty.
type Toleration struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect,omitempty"`
}

func (p *NodePlacement) validate() []error {
	if p == nil {
		return nil
	}
	var errs []error
	key := fmt.Sprintf("config %s:nodePlacement", Namespace)
	if len(p.NodeSelector) == 0 {
		errs = append(errs, fmt.Errorf("%s.nodeSelector: name at least one node label", key))
	}
	for _, k := range slices.Sorted(maps.Keys(p.NodeSelector)) {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Errorf("%s.nodeSelector: %q: %s", key, k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(p.NodeSelector[k]) {
			errs = append(errs, fmt.Errorf("%s.nodeSelector.%s: %q: %s", key, k, p.NodeSelector[k], msg))
		}
	}
	for i, t := range p.Tolerations {
		for _, msg := range validation.IsQualifiedName(t.Key) {
			errs = append(errs, fmt.Errorf("%s.tolerations[%d].key: %q: %s", key, i, t.Key, msg))
		}
		for _, msg := range validation.IsValidLabelValue(t.Value) {
			errs = append(errs, fmt.Errorf("%s.tolerations[%d].value: %q: %s", key, i, t.Value, msg))
		}
		switch t.Effect {
		case "", "NoSchedule", "PreferNoSchedule", "NoExecute":
		default:
			errs = append(errs, fmt.Errorf("%s.tolerations[%d].effect: %q is not NoSchedule, PreferNoSchedule or NoExecute", key, i, t.Effect))
		}
	}
	return errs
}

// LoadTrustedCA reads the trustedCAFile (relative paths from root) into
// TrustedCA: the certificates the services trust besides their images'
// own, for stores whose certificates a private CA signed.
func (c *Config) LoadTrustedCA(root string) error {
	if c.TrustedCAFile == "" {
		return nil
	}
	file := c.TrustedCAPath(root)
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("config %s:trustedCAFile: %w", Namespace, err)
	}
	if err := validCertificates(b); err != nil {
		return fmt.Errorf("config %s:trustedCAFile: %s: %w", Namespace, file, err)
	}
	c.TrustedCA = string(b)
	return nil
}

// TrustedCAPath is the trustedCAFile, a relative path taken from root.
func (c Config) TrustedCAPath(root string) string {
	if filepath.IsAbs(c.TrustedCAFile) {
		return c.TrustedCAFile
	}
	return filepath.Join(root, c.TrustedCAFile)
}

// validCertificates checks that b is PEM holding certificates only, at
// least one, each of which parses.
func validCertificates(b []byte) error {
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a %s block; only certificates belong here", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate in it")
	}
	return nil
}
