package site

import (
	"airgap-site/bundle"
	"airgap-site/siteconfig"
)

// TrustedKeys reads images.trustedKeys (siteconfig.Images.Trust): the keys as PEM text, for
// the provider, and as the trust bundles are verified by here.
func TrustedKeys(c *siteconfig.Config, projectDir string) ([]string, bundle.Trust, error) {
	return c.Images.Trust(projectDir)
}
