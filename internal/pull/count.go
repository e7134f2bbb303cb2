package pull

import (
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// counted wraps idx so that its layers report the bytes read to progress (nil: idx as is).
func counted(idx v1.ImageIndex, progress func(int64)) v1.ImageIndex {
	if progress == nil {
		return idx
	}
	return countingIndex{idx, progress}
}

// countedImage wraps img so that its layers report the bytes read to progress (nil: img as is).
func countedImage(img v1.Image, progress func(int64)) v1.Image {
	if progress == nil {
		return img
	}
	return countingImage{img, progress}
}

// countingImage counts the compressed layer bytes read through it. Manifests and configs
// pass through untouched, so digests are those of the original.
type countingImage struct {
	v1.Image
	add func(int64)
}

func (c countingImage) Layers() ([]v1.Layer, error) {
	ls, err := c.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = countingLayer{l, c.add}
	}
	return out, nil
}

func (c countingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := c.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return countingLayer{l, c.add}, nil
}

// countingIndex hands out counting children. (It cannot embed v1.ImageIndex: the field
// would clash with the ImageIndex method.)
type countingIndex struct {
	idx v1.ImageIndex
	add func(int64)
}

func (c countingIndex) MediaType() (types.MediaType, error)       { return c.idx.MediaType() }
func (c countingIndex) Digest() (v1.Hash, error)                  { return c.idx.Digest() }
func (c countingIndex) Size() (int64, error)                      { return c.idx.Size() }
func (c countingIndex) IndexManifest() (*v1.IndexManifest, error) { return c.idx.IndexManifest() }
func (c countingIndex) RawManifest() ([]byte, error)              { return c.idx.RawManifest() }

func (c countingIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := c.idx.Image(h)
	if err != nil {
		return nil, err
	}
	return countingImage{img, c.add}, nil
}

func (c countingIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := c.idx.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return countingIndex{idx, c.add}, nil
}

type countingLayer struct {
	v1.Layer
	add func(int64)
}

func (c countingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &countingReader{rc, c.add}, nil
}

type countingReader struct {
	io.ReadCloser
	add func(int64)
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.add(int64(n))
	return n, err
}
