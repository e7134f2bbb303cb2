package serve

import (
	"fmt"

	"airgap-site/bundle"
	"airgap-site/signing"
)

// Verify checks the bundle at dir exactly as the provider checks it before it copies an image,
// for every image it holds: the signature of a trusted key over bundle.json, which records
// index.json's digest, the bundle opened from the bytes verified (bundle.OpenVerified), then
// every manifest and every blob of every entry
// (bundle.CheckBlobs; signatures and attestations are entries of their own). It returns the
// opened bundle, to be served, and the key that signed (zero for an unsigned bundle, accepted
// only with trust.AllowUnsigned).
func Verify(dir string, trust bundle.Trust) (*bundle.Bundle, signing.Key, error) {
	b, key, err := bundle.OpenVerified(dir, trust)
	if err != nil {
		return nil, signing.Key{}, err
	}
	var checked bundle.Checked
	for _, e := range b.Entries() {
		if err := b.CheckBlobs(e.Reference, &checked); err != nil {
			return nil, signing.Key{}, fmt.Errorf("verifying bundle %s: %w", dir, err)
		}
	}
	// What an index lists below its entries, read once more as the handler will serve it.
	if _, err := b.Manifests(); err != nil {
		return nil, signing.Key{}, fmt.Errorf("verifying bundle %s: %w", dir, err)
	}
	return b, key, nil
}
