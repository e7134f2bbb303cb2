package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The images and indexes Image and Index return are built from manifests read by readNode, so
// what they report (digest, raw manifest, children) is what was verified, never bytes read
// again from disk. Layers stream from their files as they are: whoever consumes them checks
// them as they stream (imagesync verifies each against its digest).

// newImage is the image manifest n of the layout at dir; assumed are the layers the bundle
// may not carry (Manifest.Assumes).
func newImage(dir string, n *node, assumed map[v1.Hash]AssumedBlob) (v1.Image, error) {
	return partial.CompressedToImage(&imageCore{dir: dir, n: n, assumed: assumed})
}

type imageCore struct {
	dir     string
	n       *node
	assumed map[v1.Hash]AssumedBlob
}

var _ partial.CompressedImageCore = (*imageCore)(nil)

func (c *imageCore) MediaType() (types.MediaType, error) { return c.n.desc.MediaType, nil }
func (c *imageCore) RawManifest() ([]byte, error)        { return c.n.raw, nil }

// RawConfigFile reads the config, checked against its descriptor like a manifest.
func (c *imageCore) RawConfigFile() ([]byte, error) {
	cfg := c.n.image.Config
	raw, err := readVerified(c.dir, cfg, maxConfig)
	if err != nil {
		return nil, fmt.Errorf("reading config %s of image %s: %w", cfg.Digest, c.n.desc.Digest, err)
	}
	return raw, nil
}

func (c *imageCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m := c.n.image
	if h == m.Config.Digest {
		raw, err := c.RawConfigFile()
		if err != nil {
			return nil, err
		}
		return static.NewLayer(raw, m.Config.MediaType), nil
	}
	for _, l := range m.Layers {
		if l.Digest == h {
			_, assumed := c.assumed[l.Digest]
			return &layer{dir: c.dir, desc: l, assumed: assumed}, nil
		}
	}
	return nil, fmt.Errorf("image %s has no layer %s", c.n.desc.Digest, h)
}

// layer is a layer blob of the layout at dir; assumed when bundle.json assumes the site holds
// it (then the layout may lack it).
type layer struct {
	dir     string
	desc    v1.Descriptor
	assumed bool
}

func (l *layer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *layer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *layer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *layer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }
func (l *layer) Compressed() (io.ReadCloser, error) {
	f, err := openBlob(l.dir, l.desc.Digest)
	if l.assumed && errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("opening layer %s: a delta bundle does not carry it, it assumes the site registry holds it: check it there before copying (imagesync.CheckAssumed): %w", l.desc.Digest, err)
	}
	if err != nil {
		return nil, fmt.Errorf("opening layer %s: %w", l.desc.Digest, err)
	}
	return f, nil
}

// index is the index n of the layout at dir, listed under the indexes on path (outermost
// first): its children are read when asked for, checked like every manifest (readNode) and
// against cycles and depth (below).
type index struct {
	dir     string
	n       *node
	path    []v1.Hash
	assumed map[v1.Hash]AssumedBlob
}

var _ v1.ImageIndex = (*index)(nil)

func (i *index) MediaType() (types.MediaType, error) { return i.n.desc.MediaType, nil }
func (i *index) Digest() (v1.Hash, error)            { return i.n.desc.Digest, nil }
func (i *index) Size() (int64, error)                { return int64(len(i.n.raw)), nil }
func (i *index) RawManifest() ([]byte, error)        { return i.n.raw, nil }
func (i *index) IndexManifest() (*v1.IndexManifest, error) {
	im := *i.n.index
	im.Manifests = append([]v1.Descriptor(nil), im.Manifests...)
	return &im, nil
}

func (i *index) Image(h v1.Hash) (v1.Image, error) {
	n, err := i.child(h)
	if err != nil {
		return nil, err
	}
	if n.image == nil {
		return nil, fmt.Errorf("index %s: child %s is a %s, not an image", i.n.desc.Digest, h, n.desc.MediaType)
	}
	return newImage(i.dir, n, i.assumed)
}

func (i *index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	n, err := i.child(h)
	if err != nil {
		return nil, err
	}
	if n.index == nil {
		return nil, fmt.Errorf("index %s: child %s is a %s, not an index", i.n.desc.Digest, h, n.desc.MediaType)
	}
	return &index{dir: i.dir, n: n, path: i.below(), assumed: i.assumed}, nil
}

// below is the path of i's children.
func (i *index) below() []v1.Hash {
	return append(i.path[:len(i.path):len(i.path)], i.n.desc.Digest)
}

// child reads the child h as i lists it.
func (i *index) child(h v1.Hash) (*node, error) {
	for _, d := range i.n.index.Manifests {
		if d.Digest != h {
			continue
		}
		if err := below(i.below(), d); err != nil {
			return nil, err
		}
		return readNode(i.dir, d)
	}
	return nil, fmt.Errorf("index %s does not list %s", i.n.desc.Digest, h)
}
