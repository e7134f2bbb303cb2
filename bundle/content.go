package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxManifest bounds what is read into memory for a manifest or an index (the distribution
// spec's suggested limit is 4 MiB).
const maxManifest = 4 << 20

// manifestIndex is the media type of every manifest in a bundle, by digest.
type manifestIndex struct {
	types map[v1.Hash]types.MediaType
	err   error // the first index that could not be read
}

// Manifests returns the media type of every manifest the bundle holds, by digest: the
// top-level entries of index.json and, recursively, the children of its indexes. It keeps
// going past an index it cannot read and returns, with what it found, the first such error.
func (b *Bundle) Manifests() (map[v1.Hash]types.MediaType, error) {
	m := b.manifests()
	return maps.Clone(m.types), m.err
}

// manifests walks the indexes once: it reads every index blob.
func (b *Bundle) manifests() *manifestIndex {
	b.walkOnce.Do(func() {
		m := &manifestIndex{types: map[v1.Hash]types.MediaType{}}
		var walk func(descs []v1.Descriptor)
		walk = func(descs []v1.Descriptor) {
			for _, d := range descs {
				if _, seen := m.types[d.Digest]; seen {
					continue
				}
				if _, err := blobPath(b.dir, d.Digest); err != nil {
					continue // never served, so never listed
				}
				m.types[d.Digest] = d.MediaType
				if !d.MediaType.IsIndex() {
					continue
				}
				raw, err := readVerified(b.dir, d.Digest)
				if err == nil {
					var im *v1.IndexManifest
					if im, err = v1.ParseIndexManifest(bytes.NewReader(raw)); err == nil {
						walk(im.Manifests)
						continue
					}
				}
				if m.err == nil {
					m.err = fmt.Errorf("reading index %s of bundle %s: %w", d.Digest, b.dir, err)
				}
			}
		}
		walk(b.index.Manifests)
		b.walked = m
	})
	return b.walked
}

// Manifest returns the manifest h of the bundle (one of Manifests) and its media type. It
// checks the digest: a corrupt bundle should fail here, loudly, rather than in containerd on
// a node. A digest that is not a manifest of the bundle is ErrNotFound; a manifest that is
// listed but not stored is fs.ErrNotExist.
func (b *Bundle) Manifest(h v1.Hash) ([]byte, types.MediaType, error) {
	mt, ok := b.manifests().types[h]
	if !ok {
		return nil, "", fmt.Errorf("reading manifest %s of bundle %s: %w", h, b.dir, ErrNotFound)
	}
	raw, err := readVerified(b.dir, h)
	if err != nil {
		return nil, "", fmt.Errorf("reading manifest %s of bundle %s: %w", h, b.dir, err)
	}
	return raw, mt, nil
}

// Blob opens the blob h, for reading and seeking (a registry answers Range requests with
// it). A blob that is not stored is fs.ErrNotExist.
func (b *Bundle) Blob(h v1.Hash) (io.ReadSeekCloser, error) {
	p, err := blobPath(b.dir, h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening blob %s of bundle %s: %w", h, b.dir, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("opening blob %s of bundle %s: not a file: %w", h, b.dir, fs.ErrNotExist)
	}
	return f, nil
}

// readVerified reads the manifest blob h of the layout at dir, at most maxManifest bytes,
// and checks that it has that digest.
func readVerified(dir string, h v1.Hash) ([]byte, error) {
	p, err := blobPath(dir, h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxManifest {
		return nil, fmt.Errorf("larger than %d bytes", maxManifest)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != h.Hex {
		return nil, fmt.Errorf("corrupt: content has digest sha256:%x", sum)
	}
	return raw, nil
}
