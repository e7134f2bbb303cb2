package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// AssumedBlob is a layer a delta bundle does not carry because the site registry holds it
// already: bundle.json lists it (Manifest.Assumes), so the signature covers the assumption.
type AssumedBlob struct {
	Digest v1.Hash `json:"digest"`
	Size   int64   `json:"size"`
	// Repository is one repository of the site registry that holds it, by its name there
	// (docker.io/library/nginx): where a copy mounts it from when the image's own repository
	// lacks it.
	Repository string `json:"repository"`
}

// AssumePresent makes the writer a delta writer: a layer of an image added after it that
// present lists (with the same size) is not fetched nor stored but recorded in bundle.json's
// assumes, unless the layout already holds it. Configs and manifests are always stored: a
// site reads them to describe and copy an image, and they are small. Call it before adding.
func (w *Writer) AssumePresent(present map[v1.Hash]AssumedBlob) {
	w.blobs.mu.Lock()
	defer w.blobs.mu.Unlock()
	w.blobs.present = maps.Clone(present)
}

// Assumes lists the blobs this writer left out so far as assumed present at the site (what
// Close records under assumes, besides those of a bundle added to), sorted by digest.
func (w *Writer) Assumes() []AssumedBlob {
	w.blobs.mu.Lock()
	defer w.blobs.mu.Unlock()
	return sortAssumed(w.blobs.assumed)
}

// assume reports whether the layer h of the given size is assumed present at the site and not
// stored, and records it as assumed.
func (s *blobStore) assume(h v1.Hash, size int64) bool {
	s.mu.Lock()
	a, ok := s.present[h]
	s.mu.Unlock()
	if !ok || a.Size != size || a.Repository == "" {
		return false
	}
	if final, err := blobPath(s.layout, h); err != nil || present(final, size) {
		return false // stored (and then checked) like any blob
	}
	a.Digest = h
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.assumed == nil {
		s.assumed = map[v1.Hash]AssumedBlob{}
	}
	s.assumed[h] = a
	return true
}

// assumedList is what the writer assumed, sorted by digest, with earlier ones (a bundle
// added to) kept unless the layout now holds them.
func (s *blobStore) assumedList(earlier []AssumedBlob) []AssumedBlob {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := maps.Clone(s.assumed)
	if all == nil {
		all = map[v1.Hash]AssumedBlob{}
	}
	for _, a := range earlier {
		if _, ok := all[a.Digest]; ok {
			continue
		}
		if final, err := blobPath(s.layout, a.Digest); err == nil && !present(final, a.Size) {
			all[a.Digest] = a
		}
	}
	return sortAssumed(all)
}

// wasAssumed reports whether this store left the blob h out as assumed present at the site.
func (s *blobStore) wasAssumed(h v1.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.assumed[h]
	return ok
}

func sortAssumed(m map[v1.Hash]AssumedBlob) []AssumedBlob {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b AssumedBlob) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	return out
}

// assumedIndex is bundle.json's assumes by digest. A digest listed twice with different sizes
// or repositories keeps the first: the signature covers both, and either is checked at the
// site.
func assumedIndex(list []AssumedBlob) map[v1.Hash]AssumedBlob {
	m := make(map[v1.Hash]AssumedBlob, len(list))
	for _, a := range list {
		if _, ok := m[a.Digest]; !ok {
			m[a.Digest] = a
		}
	}
	return m
}

// IsDelta reports whether bundle.json assumes blobs present at the site.
func (b *Bundle) IsDelta() bool { return len(b.assumed) > 0 }

// Assumes lists every blob bundle.json assumes present at the site, sorted by digest. Trust it
// only from a verified bundle (OpenVerified): the signature covers it.
func (b *Bundle) Assumes() []AssumedBlob { return sortAssumed(b.assumed) }

// Assumed lists the blobs of ref's image (below every index) that the bundle does not carry
// because bundle.json assumes the site registry holds them, by digest: a copy must find each in
// the target registry (or mount it from AssumedBlob.Repository) and never read it from the
// bundle. A full bundle has none. Blobs listed as assumed but carried are not listed: they are
// checked and copied like any other. The manifests are checked as Lookup checks them.
func (b *Bundle) Assumed(ref string) (map[v1.Hash]AssumedBlob, error) {
	norm, d, err := b.top(ref)
	if err != nil {
		return nil, err
	}
	out := map[v1.Hash]AssumedBlob{}
	if len(b.assumed) == 0 {
		return out, nil
	}
	err = newWalker(b.dir, func(n *node) error {
		if n.image == nil {
			return nil
		}
		for _, l := range n.image.Layers {
			a, ok := b.assumed[l.Digest]
			if !ok {
				continue
			}
			if carried, err := b.carries(l.Digest); err != nil {
				return err
			} else if !carried {
				out[l.Digest] = a
			}
		}
		return nil
	}).walk(d)
	if err != nil {
		return nil, fmt.Errorf("listing the assumed blobs of %s in bundle %s: %w", norm, b.dir, err)
	}
	return out, nil
}

// carries reports whether the layout holds the blob h (a file of any content: CheckBlobs
// checks it).
func (b *Bundle) carries(h v1.Hash) (bool, error) {
	f, err := openBlob(b.dir, h)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f.Close()
	return true, nil
}

// missingAssumed is nil when the layer d, absent from the layout, is one bundle.json assumes
// present at the site with d's size, else why its absence is an error.
func (b *Bundle) missingAssumed(d v1.Descriptor, config bool, missing error) error {
	a, ok := b.assumed[d.Digest]
	switch {
	case !ok:
		return fmt.Errorf("missing from the bundle: %w", missing)
	case config:
		return fmt.Errorf("missing from the bundle: a config is always carried, %s cannot assume it present at the site", ManifestFile)
	case a.Size != d.Size:
		return fmt.Errorf("missing from the bundle, and %s assumes it present at the site with %d bytes, the manifest says %d", ManifestFile, a.Size, d.Size)
	}
	return nil
}
