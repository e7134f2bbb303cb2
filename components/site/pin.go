package site

import (
	"errors"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"

	"airgap-site/bundle"
	"airgap-site/siteconfig"
)

// PinnedImage is ref deployed by digest: as written when it names one, else with the digest
// the bundle records for it, read offline from a bundle trust accepts. A workload image by tag
// alone is refused: a tag can be moved in the site registry, a digest cannot.
func PinnedImage(field, ref, bundleDir string, trust bundle.Trust) (string, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("%s: parsing reference %q: %w", field, ref, err)
	}
	if _, ok := r.(name.Digest); ok {
		return ref, nil
	}
	if bundleDir == "" {
		return "", fmt.Errorf("%s: %q has no digest: write it as %s@sha256:<digest>, or list it in images with a bundle so the bundle's digest pins it", field, ref, ref)
	}
	if err := checkBundleDir(bundleDir, fmt.Sprintf(" (%s %q is pinned by the bundle's digest)", field, ref)); err != nil {
		return "", err
	}
	// Verified and read from the same bytes (a medium that changes cannot swap index.json).
	b, _, err := bundle.OpenVerified(bundleDir, trust)
	if err != nil {
		return "", fmt.Errorf("%s: pinning %q by the bundle's digest: %w", field, ref, err)
	}
	desc, err := b.Lookup(ref)
	if errors.Is(err, bundle.ErrNotFound) {
		return "", fmt.Errorf("%s: %q has no digest and is not in the bundle %s: add it to images.list (and the bundle), or write %s@sha256:<digest>", field, ref, bundleDir, ref)
	}
	if err != nil {
		return "", fmt.Errorf("%s: pinning %q by the bundle's digest: %w", field, ref, err)
	}
	return ref + "@" + desc.Digest.String(), nil
}

// checkBundleDir is the problem of an images.bundle that is not a directory: the bundle's
// fault (images.bundle), not an image's, and not a signature problem. why ends the message.
func checkBundleDir(bundleDir, why string) error {
	if fi, err := os.Stat(bundleDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("images.bundle: %q is not a directory: write the bundle there with `airgap bundle --out %s` "+
			"at the office%s", bundleDir, bundleDir, why)
	}
	return nil
}

// PinProblems are the problems of pinning the site's workload images (registry.image, and the
// MinIO image of a tenant), all of them, for the program to report with the config's own
// (prior) in one run. A pin whose field, or the images key it depends on, already has a
// problem in prior is not tried: its value is a default, or the bundle cannot be trusted.
func PinProblems(c *siteconfig.Config, projectDir string, prior error) []error {
	verr, _ := prior.(*siteconfig.ValidationError)
	named := func(path string) bool { return verr != nil && verr.Names(path) }
	if named(siteconfig.KeyImages) {
		return nil
	}
	// A missing bundle is reported here, before any resource, whether or not a pin needs it
	// (the images copied from it would fail only in the provider, naming no config key).
	var problems []error
	bundleDir := c.BundleDir(projectDir)
	if bundleDir != "" {
		if err := checkBundleDir(bundleDir, ""); err != nil {
			problems = append(problems, err)
		}
	}
	_, trust, err := TrustedKeys(c, projectDir)
	if err != nil {
		return append(problems, err)
	}
	if len(problems) > 0 {
		// The pins that need the bundle would only repeat its problem.
		return problems
	}
	if !named("registry.image") {
		if _, err := PinnedImage("registry.image", c.Registry.Image, bundleDir, trust); err != nil {
			problems = append(problems, err)
		}
	}
	if t := c.ObjectStore.Tenant; t != nil && c.ObjectStore.Kind == siteconfig.ObjectStoreMinioTenant && !named("objectStore.tenant.image") {
		if _, err := PinnedImage("objectStore.tenant.image", t.Image, bundleDir, trust); err != nil {
			problems = append(problems, err)
		}
	}
	return problems
}
