package bundle

import (
	"bytes"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// describeStored computes the entry of the image d whose blobs are already stored in the
// layout at dir. It reads only local blobs, so describing a freshly pulled image never goes
// back to the registry.
func describeStored(dir, ref string, d v1.Descriptor) (Entry, error) {
	s := &sizer{dir: dir, seen: map[v1.Hash]bool{}, plSeen: map[string]bool{}}
	e := Entry{Reference: ref, Digest: d.Digest.String(), MediaType: string(d.MediaType)}
	switch {
	case d.MediaType.IsIndex():
		if err := s.index(d.Digest); err != nil {
			return Entry{}, fmt.Errorf("describing %s: %w", ref, err)
		}
	case d.MediaType.IsImage():
		m, err := s.image(d.Digest)
		if err != nil {
			return Entry{}, fmt.Errorf("describing %s: %w", ref, err)
		}
		raw, err := s.read(m.Config.Digest)
		if err != nil {
			return Entry{}, fmt.Errorf("describing %s: config: %w", ref, err)
		}
		cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
		if err != nil {
			return Entry{}, fmt.Errorf("describing %s: parsing config %s: %w", ref, m.Config.Digest, err)
		}
		s.platform(cfg.Platform())
	default:
		return Entry{}, fmt.Errorf("describing %s: unsupported media type %s", ref, d.MediaType)
	}
	e.Size, e.Platforms = s.total, s.platforms
	return e, nil
}

// sizer adds up the blobs of one image, each digest once, and collects its platforms.
type sizer struct {
	dir       string // the layout's directory
	seen      map[v1.Hash]bool
	total     int64
	platforms []string
	plSeen    map[string]bool
}

func (s *sizer) read(h v1.Hash) ([]byte, error) {
	p, err := blobPath(s.dir, h)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func (s *sizer) add(d v1.Descriptor) {
	if !s.seen[d.Digest] {
		s.seen[d.Digest] = true
		s.total += d.Size
	}
}

func (s *sizer) image(h v1.Hash) (*v1.Manifest, error) {
	raw, err := s.read(h)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", h, err)
	}
	s.add(m.Config)
	for _, l := range m.Layers {
		s.add(l)
	}
	return m, nil
}

func (s *sizer) index(h v1.Hash) error {
	raw, err := s.read(h)
	if err != nil {
		return err
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("parsing index %s: %w", h, err)
	}
	for _, child := range im.Manifests {
		s.add(child)
		switch {
		case child.MediaType.IsIndex():
			if err := s.index(child.Digest); err != nil {
				return err
			}
		case child.MediaType.IsImage():
			if _, err := s.image(child.Digest); err != nil {
				return err
			}
			s.platform(child.Platform)
		}
	}
	return nil
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
