package imagesync

import (
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The collection: what an image consists of (its blobs and manifests, children before
// parents), read from its source without moving a byte to the registry. The copy transfers
// what it collects; Contents is the same walk, as an inventory.

// blob is one blob to transfer.
type blob struct {
	layer v1.Layer
	hash  v1.Hash
	size  int64
}

type manifest struct {
	raw       []byte
	digest    v1.Hash
	mediaType types.MediaType
}

func (m manifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m manifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }
func (m manifest) Digest() (v1.Hash, error)            { return m.digest, nil }
func (m manifest) Size() (int64, error)                { return int64(len(m.raw)), nil }

func collect(src Source, blobs map[v1.Hash]blob, manifests *[]manifest, res *Result) error {
	switch {
	case src.Index != nil:
		return collectIndex(src.Index, blobs, manifests, res, true)
	case src.Image != nil:
		if err := collectImage(src.Image, blobs, manifests); err != nil {
			return err
		}
		last := (*manifests)[len(*manifests)-1]
		res.Digest, res.MediaType = last.digest, last.mediaType
		if cf, err := src.Image.ConfigFile(); err == nil && cf.OS != "" {
			res.Platforms = []string{platformString(cf.OS, cf.Architecture, cf.Variant)}
		}
		return nil
	}
	return errors.New("empty source")
}

func collectIndex(idx v1.ImageIndex, blobs map[v1.Hash]blob, manifests *[]manifest, res *Result, top bool) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("reading index: %w", err)
	}
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return fmt.Errorf("reading child index %s: %w", d.Digest, err)
			}
			if err := collectIndex(child, blobs, manifests, res, false); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			child, err := idx.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("reading child image %s: %w", d.Digest, err)
			}
			if err := collectImage(child, blobs, manifests); err != nil {
				return err
			}
			if top && d.Platform != nil {
				res.Platforms = append(res.Platforms, platformString(d.Platform.OS, d.Platform.Architecture, d.Platform.Variant))
			}
		default:
			// Attestations and other artifacts: copied as plain manifests are not needed by
			// containerd; skip what we cannot interpret rather than fail the image.
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	mt, err := idx.MediaType()
	if err != nil {
		return err
	}
	*manifests = append(*manifests, manifest{raw: raw, digest: digest, mediaType: mt})
	if top {
		res.Digest, res.MediaType = digest, mt
	}
	return nil
}

func collectImage(img v1.Image, blobs map[v1.Hash]blob, manifests *[]manifest) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("reading layers: %w", err)
	}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		mt, _ := l.MediaType()
		if mt.IsDistributable() || mt == "" {
			blobs[h] = blob{layer: l, hash: h, size: size}
		}
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	blobs[m.Config.Digest] = blob{layer: static.NewLayer(rawConfig, m.Config.MediaType), hash: m.Config.Digest, size: int64(len(rawConfig))}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	*manifests = append(*manifests, manifest{raw: raw, digest: digest, mediaType: mt})
	return nil
}

func platformString(os, arch, variant string) string {
	s := os + "/" + arch
	if variant != "" {
		s += "/" + variant
	}
	return s
}

// Contents are the digests and sizes of every blob and manifest of src: what the image holds
// in a registry once copied (its inventory).
func Contents(src Source) (Sizes, error) {
	blobs := map[v1.Hash]blob{}
	var manifests []manifest
	if err := collect(src, blobs, &manifests, &Result{}); err != nil {
		return nil, err
	}
	return contentsOf(blobs, manifests), nil
}

func contentsOf(blobs map[v1.Hash]blob, manifests []manifest) Sizes {
	out := Sizes{}
	for h, b := range blobs {
		out[h] = b.size
	}
	for _, m := range manifests {
		out[m.digest] = int64(len(m.raw))
	}
	return out
}
