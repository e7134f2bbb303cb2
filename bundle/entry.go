package bundle

import (
	"bytes"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// describeStored computes the entry of the image d whose blobs are already stored in the
// layout at dir. It reads only local blobs, so describing a freshly pulled image never goes
// back to the registry, and reads its manifests like every reader of a bundle (walker).
// assumed, when not nil, says which blobs a delta writer left out (Entry.Assumed).
func describeStored(dir, ref string, d v1.Descriptor, assumed func(v1.Hash) bool) (Entry, error) {
	if !d.MediaType.IsIndex() && !d.MediaType.IsImage() {
		return Entry{}, fmt.Errorf("describing %s: unsupported media type %s", ref, d.MediaType)
	}
	s := &sizer{seen: map[v1.Hash]bool{}, plSeen: map[string]bool{}, assumed: assumed}
	var top *node
	err := newWalker(dir, func(n *node) error {
		if top == nil {
			top = n
		}
		s.node(n)
		return nil
	}).walk(d)
	if err != nil {
		return Entry{}, fmt.Errorf("describing %s: %w", ref, err)
	}
	if top.image != nil {
		// A single image's platform is its config's.
		cfg := top.image.Config
		raw, err := readVerified(dir, cfg, maxConfig)
		if err != nil {
			return Entry{}, fmt.Errorf("describing %s: reading config %s: %w", ref, cfg.Digest, err)
		}
		cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
		if err != nil {
			return Entry{}, fmt.Errorf("describing %s: parsing config %s: %w", ref, cfg.Digest, err)
		}
		s.platform(cf.Platform())
	}
	return Entry{Reference: ref, Digest: d.Digest.String(), MediaType: string(d.MediaType), Size: s.total, Platforms: s.platforms, Assumed: s.assumedTotal}, nil
}

// sizer adds up the blobs of one image, each digest once, and collects its platforms.
type sizer struct {
	seen      map[v1.Hash]bool
	total     int64
	platforms []string
	plSeen    map[string]bool
	// assumed says which blobs are not carried; assumedTotal adds up their sizes.
	assumed      func(v1.Hash) bool
	assumedTotal int64
}

func (s *sizer) add(d v1.Descriptor) {
	if !s.seen[d.Digest] {
		s.seen[d.Digest] = true
		s.total += d.Size
		if s.assumed != nil && s.assumed(d.Digest) {
			s.assumedTotal += d.Size
		}
	}
}

// node counts what the manifest n lists: an index's children (the platforms of its images),
// an image's config and layers.
func (s *sizer) node(n *node) {
	switch {
	case n.index != nil:
		for _, c := range n.index.Manifests {
			s.add(c)
			if c.MediaType.IsImage() {
				s.platform(c.Platform)
			}
		}
	case n.image != nil:
		s.add(n.image.Config)
		for _, l := range n.image.Layers {
			s.add(l)
		}
	}
}

// platform records a platform once; attestation manifests (unknown/unknown) have none.
func (s *sizer) platform(p *v1.Platform) {
	if p == nil || p.OS == "" || p.OS == "unknown" {
		return
	}
	ps := p.String()
	if !s.plSeen[ps] {
		s.plSeen[ps] = true
		s.platforms = append(s.platforms, ps)
	}
}
