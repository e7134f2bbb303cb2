package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// maxManifest bounds what is read into memory for a manifest or an index, and for
	// index.json and bundle.json (the distribution spec's suggested limit is 4 MiB).
	maxManifest = 4 << 20
	// maxConfig bounds an image config read into memory. Configs are blobs, with no limit in
	// the spec; they carry history and labels and stay far below this in practice.
	maxConfig = 16 << 20
	// maxDepth bounds how deeply indexes nest: a multi-arch image is one index, an index of
	// those two. Real images stay well within it; a deeper graph is a crafted bundle, and
	// refusing it keeps every recursion over a bundle bounded.
	maxDepth = 4
)

// node is one manifest of a bundle, read and verified by readNode.
type node struct {
	desc  v1.Descriptor
	raw   []byte
	index *v1.IndexManifest // when desc is an index
	image *v1.Manifest      // when desc is an image manifest
}

// readNode reads the manifest d of the layout at dir. It is the one place a manifest is read:
// its bytes are at most maxManifest, are d.Size long, hash to d.Digest, and parse as what
// d.MediaType says. A manifest of another media type (an artifact) is checked but not parsed.
func readNode(dir string, d v1.Descriptor) (*node, error) {
	kind := "manifest"
	if d.MediaType.IsIndex() {
		kind = "index"
	}
	raw, err := readVerified(dir, d, maxManifest)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", kind, d.Digest, err)
	}
	n := &node{desc: d, raw: raw}
	var declared types.MediaType
	switch {
	case d.MediaType.IsIndex():
		if n.index, err = v1.ParseIndexManifest(bytes.NewReader(raw)); err == nil {
			declared = n.index.MediaType
		}
	case d.MediaType.IsImage():
		if n.image, err = v1.ParseManifest(bytes.NewReader(raw)); err == nil {
			declared = n.image.MediaType
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s %s: %w", kind, d.Digest, err)
	}
	// What is pushed is sent as d.MediaType: content of another kind would be misread.
	if declared != "" && declared != d.MediaType {
		return nil, fmt.Errorf("%s %s: its content is a %s", kind, d.Digest, declared)
	}
	return n, nil
}

// readVerified reads the blob d of the layout at dir into memory: at most limit bytes, and
// refused unless it is exactly d.Size bytes with digest d.Digest.
func readVerified(dir string, d v1.Descriptor, limit int64) ([]byte, error) {
	name, err := blobName(d.Digest)
	if err != nil {
		return nil, err
	}
	if d.Size > limit {
		return nil, fmt.Errorf("larger than %d bytes (%d)", limit, d.Size)
	}
	raw, err := readFile(dir, name, limit)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != d.Digest.Hex {
		return nil, fmt.Errorf("corrupt: content has digest sha256:%x", sum)
	}
	if int64(len(raw)) != d.Size {
		return nil, fmt.Errorf("corrupt: %d bytes, its descriptor says %d", len(raw), d.Size)
	}
	return raw, nil
}

// below checks that the manifest d may be read under the indexes on path (outermost first):
// an index listing itself or one of the indexes it is listed in is a cycle, and indexes nest
// at most maxDepth deep. Every recursion through indexes (walker, Index, Writer) goes
// through it.
func below(path []v1.Hash, d v1.Descriptor) error {
	switch i := slices.Index(path, d.Digest); {
	case i < 0:
	case i == len(path)-1:
		return fmt.Errorf("index %s lists itself", d.Digest)
	default:
		return fmt.Errorf("index %s lists %s, which it is listed in: a cycle", path[len(path)-1], d.Digest)
	}
	if d.MediaType.IsIndex() && len(path) >= maxDepth {
		return tooDeep(path, d.Digest)
	}
	return nil
}

// tooDeep names the outermost index, the one to fix, and where the bound was crossed.
func tooDeep(path []v1.Hash, h v1.Hash) error {
	return fmt.Errorf("index %s: indexes nested more than %d deep (at %s)", path[0], maxDepth, h)
}

// walker reads and verifies manifests and, below an index, every manifest and index it lists,
// each digest once however many indexes list it.
type walker struct {
	dir   string
	visit func(*node) error // called once per manifest read, parents before children
	// height is, for each manifest walked to its end, the most indexes in a chain from it
	// down (0 for an image): what a second listing of it adds to the depth.
	height map[v1.Hash]int
}

func newWalker(dir string, visit func(*node) error) *walker {
	return &walker{dir: dir, visit: visit, height: map[v1.Hash]int{}}
}

// walk walks the manifest d and everything below it; the first error stops it.
func (w *walker) walk(d v1.Descriptor) error {
	_, err := w.descend(nil, d)
	return err
}

func (w *walker) descend(path []v1.Hash, d v1.Descriptor) (int, error) {
	if err := below(path, d); err != nil {
		return 0, err
	}
	if h, done := w.height[d.Digest]; done {
		if len(path)+h > maxDepth {
			return 0, tooDeep(path, d.Digest)
		}
		return h, nil
	}
	n, err := readNode(w.dir, d)
	if err != nil {
		return 0, err
	}
	if err := w.visit(n); err != nil {
		return 0, err
	}
	height := 0
	if n.index != nil {
		path = append(path[:len(path):len(path)], d.Digest)
		for _, c := range n.index.Manifests {
			// Other artifacts are listed (Manifests) but nothing below them is read.
			if !c.MediaType.IsIndex() && !c.MediaType.IsImage() {
				continue
			}
			h, err := w.descend(path, c)
			if err != nil {
				return 0, err
			}
			height = max(height, h)
		}
		height++
	}
	w.height[d.Digest] = height
	return height, nil
}

// manifestIndex is every manifest of a bundle, by digest.
type manifestIndex struct {
	descs map[v1.Hash]v1.Descriptor
	err   error // the first manifest graph that could not be read
}

// Manifests returns the media type of every manifest the bundle holds, by digest: the
// top-level entries of index.json and, recursively, the children of its indexes. Each is read
// and verified. It keeps going past an entry whose manifests cannot be read and returns, with
// what it found, the first such error.
func (b *Bundle) Manifests() (map[v1.Hash]types.MediaType, error) {
	m := b.manifests()
	out := make(map[v1.Hash]types.MediaType, len(m.descs))
	for h, d := range m.descs {
		out[h] = d.MediaType
	}
	return out, m.err
}

// manifests walks the bundle once: it reads every manifest.
func (b *Bundle) manifests() *manifestIndex {
	b.walkOnce.Do(func() {
		m := &manifestIndex{descs: map[v1.Hash]v1.Descriptor{}}
		list := func(d v1.Descriptor) {
			if _, seen := m.descs[d.Digest]; seen {
				return
			}
			if _, err := blobName(d.Digest); err != nil {
				return // never served, so never listed
			}
			m.descs[d.Digest] = d
		}
		w := newWalker(b.dir, func(n *node) error {
			if n.index != nil {
				for _, c := range n.index.Manifests {
					list(c)
				}
			}
			return nil
		})
		for _, d := range b.index.Manifests {
			list(d)
			if err := w.walk(d); err != nil && m.err == nil {
				m.err = fmt.Errorf("reading bundle %s: %w", b.dir, err)
			}
		}
		b.walked = m
	})
	return b.walked
}

// Manifest returns the manifest h of the bundle (one of Manifests) and its media type. It
// checks the content (readNode): a corrupt bundle should fail here, loudly, rather than in
// containerd on a node. A digest that is not a manifest of the bundle is ErrNotFound; a
// manifest that is listed but not stored is fs.ErrNotExist.
func (b *Bundle) Manifest(h v1.Hash) ([]byte, types.MediaType, error) {
	d, ok := b.manifests().descs[h]
	if !ok {
		return nil, "", fmt.Errorf("reading manifest %s of bundle %s: %w", h, b.dir, ErrNotFound)
	}
	n, err := readNode(b.dir, d)
	if err != nil {
		return nil, "", fmt.Errorf("bundle %s: %w", b.dir, err)
	}
	return n.raw, d.MediaType, nil
}

// Blob opens the blob h, for reading and seeking (a registry answers Range requests with
// it). A blob that is not stored is fs.ErrNotExist. Its content is not checked here: a copy
// checks it as it streams it (package imagesync), and containerd checks what it pulls.
func (b *Bundle) Blob(h v1.Hash) (io.ReadSeekCloser, error) {
	f, err := openBlob(b.dir, h)
	if err != nil {
		return nil, fmt.Errorf("opening blob %s of bundle %s: %w", h, b.dir, err)
	}
	return f, nil
}

func openBlob(dir string, h v1.Hash) (io.ReadSeekCloser, error) {
	name, err := blobName(h)
	if err != nil {
		return nil, err
	}
	return openFile(dir, name)
}
