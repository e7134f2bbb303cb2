package siteconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"airgap-site/bundle"
	"airgap-site/signing"
)

// Trust reads images.trustedKeys, each the PEM text of a public key or the path of a .pub file
// (relative to projectDir), and returns them as PEM text, for the provider, and as the trust
// bundles are verified by (with images.allowUnsigned). An error names the key's field.
func (im Images) Trust(projectDir string) ([]string, bundle.Trust, error) {
	trust := bundle.Trust{AllowUnsigned: im.AllowUnsigned}
	var pems []string
	for i, k := range im.TrustedKeys {
		field := fmt.Sprintf("images.trustedKeys[%d]", i)
		text := k
		if !strings.HasPrefix(strings.TrimSpace(k), "-----BEGIN") {
			path := k
			if !filepath.IsAbs(path) && projectDir != "" {
				path = filepath.Join(projectDir, path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, bundle.Trust{}, fmt.Errorf("%s: reading the public key: %w", field, err)
			}
			text = string(b)
		}
		key, err := signing.ParseKey([]byte(text))
		if err != nil {
			return nil, bundle.Trust{}, fmt.Errorf("%s: %w", field, err)
		}
		pems = append(pems, text)
		trust.Keys = append(trust.Keys, key)
	}
	return pems, trust, nil
}
