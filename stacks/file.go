package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// File is a Pulumi.<stack>.yaml as read before the engine runs: the driver
// validates config and picks the secrets setup from it, and tests feed its
// config to mocked runs, so both see exactly what the stack declares.
type File struct {
	// SecretsProvider is the stack's secrets provider; empty means passphrase.
	SecretsProvider string `json:"secretsprovider"`
	// Config is the stack's config as written, keys with or without namespace.
	Config map[string]any `json:"config"`
}

// ReadFile reads a stack file.
func ReadFile(path string) (File, error) {
	var f File
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, fmt.Errorf("no stack file %s; each stack's config lives in Pulumi.<stack>.yaml", path)
	}
	if err != nil {
		return f, err
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// fullKey puts a config key in its namespace; the project's own namespace is
// implied for bare keys, as Pulumi does.
func fullKey(k string) string {
	if strings.Contains(k, ":") {
		return k
	}
	return Namespace + ":" + k
}

// Keys returns every config key of the file with its namespace.
func (f File) Keys() []string {
	out := make([]string, 0, len(f.Config))
	for k := range f.Config {
		out = append(out, fullKey(k))
	}
	return out
}

// Values returns the config as the program receives it: full keys to
// strings, structured values as JSON. Secure values cannot be read before the
// engine decrypts them; they appear as "[secret]".
func (f File) Values() map[string]string {
	out := make(map[string]string, len(f.Config))
	for k, v := range f.Config {
		out[fullKey(k)] = rawValue(v)
	}
	return out
}

// Lookup is a Lookup over the file's values in this project's namespace.
func (f File) Lookup(key string) (string, bool) {
	v, ok := f.Values()[Namespace+":"+key]
	return v, ok
}

func rawValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case map[string]any:
		if _, secure := v["secure"]; secure && len(v) == 1 {
			return "[secret]"
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
