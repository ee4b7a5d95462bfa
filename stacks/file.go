package stacks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"sigs.k8s.io/yaml"
)

// File is a Pulumi.<stack>.yaml as read before the engine runs: the driver
// validates config and picks the secrets setup from it, and tests feed its
// config to mocked runs, so both see exactly what the stack declares.
type File struct {
	// SecretsProvider is the stack's secrets provider; empty means passphrase.
	SecretsProvider string `json:"secretsprovider"`
	// EncryptionSalt is the passphrase provider's salt and check value.
	EncryptionSalt string `json:"encryptionsalt"`
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

// DevPassphrase encrypts the dev stack's secrets. It is public, so the dev
// stack holds only dev-only values; other stacks never use it.
const DevPassphrase = "intelliflow-dev-only-not-a-secret"

// UsesPassphrase reports whether the stack's secrets use a passphrase.
func (f File) UsesPassphrase() bool {
	return f.SecretsProvider == "" || f.SecretsProvider == "passphrase"
}

// Decrypt returns the file with its secure values decrypted with the stack's
// passphrase, so config can be validated before the engine runs. A wrong
// passphrase is an error; a file without secure values needs none.
func (f File) Decrypt(passphrase string) (File, error) {
	secure := map[string]string{}
	for k, v := range f.Config {
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			if ct, ok := m["secure"].(string); ok {
				secure[k] = ct
			}
		}
	}
	if len(secure) == 0 {
		return f, nil
	}
	if !f.UsesPassphrase() {
		return f, fmt.Errorf("secure values need the %s secrets provider to decrypt; only passphrase stacks are validated before the engine runs", f.SecretsProvider)
	}
	parts := strings.SplitN(f.EncryptionSalt, ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return f, errors.New("secure values but no valid encryptionsalt")
	}
	salt, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil {
		return f, fmt.Errorf("encryptionsalt: %w", err)
	}
	crypter := config.NewSymmetricCrypterFromPassphrase(passphrase, salt)
	if check, err := crypter.DecryptValue(context.Background(), parts[2]); err != nil || check != "pulumi" {
		return f, errors.New("incorrect passphrase for this stack's secrets")
	}
	out := File{SecretsProvider: f.SecretsProvider, EncryptionSalt: f.EncryptionSalt, Config: map[string]any{}}
	for k, v := range f.Config {
		out.Config[k] = v
	}
	for k, ct := range secure {
		pt, err := crypter.DecryptValue(context.Background(), ct)
		if err != nil {
			return f, fmt.Errorf("config %s: cannot decrypt: %w", fullKey(k), err)
		}
		out.Config[k] = pt
	}
	return out, nil
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
