package bundle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"airgap-site/mirror"
)

// RefAnnotation holds an image's normalized original reference on its index.json entry.
const RefAnnotation = "org.opencontainers.image.ref.name"

// ManifestFile is the bundle manifest beside the layout's index.json.
const ManifestFile = "bundle.json"

// ErrNotFound is returned (wrapped) when a reference is not in the bundle.
var ErrNotFound = errors.New("image not in bundle")

// Entry describes one image in bundle.json.
type Entry struct {
	// Reference is the normalized original reference.
	Reference string `json:"reference"`
	// Digest is the sha256:... of the top-level manifest or index.
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	// Size is the sum of the unique blob sizes of this image: config, layers and child
	// manifests (the top-level manifest itself is not counted).
	Size int64 `json:"size"`
	// Platforms are e.g. ["linux/amd64","linux/arm64"]; a single image has its config's.
	Platforms []string `json:"platforms,omitempty"`
}

// Manifest is bundle.json.
type Manifest struct {
	Images    []Entry   `json:"images"`
	CreatedAt time.Time `json:"createdAt"`
}

// Bundle is an opened bundle.
type Bundle struct {
	dir   string
	path  layout.Path
	index *v1.IndexManifest

	// entries come from bundle.json; without it they are derived from index.json on first
	// use, as that reads every manifest.
	entries     []Entry
	deriveOnce  sync.Once
	hasManifest bool

	// walked lists every manifest, children of indexes included; read on first use.
	walkOnce sync.Once
	walked   *manifestIndex
}

// Open opens the bundle at dir: an OCI layout (oci-layout and index.json must exist) with an
// optional bundle.json.
func Open(dir string) (*Bundle, error) {
	if _, err := os.Stat(filepath.Join(dir, layoutFile)); err != nil {
		return nil, fmt.Errorf("opening bundle %s: not an OCI layout: %w", dir, err)
	}
	index, err := readIndex(dir)
	if err != nil {
		return nil, fmt.Errorf("opening bundle %s: %w", dir, err)
	}
	b := &Bundle{dir: dir, path: layout.Path(dir), index: index}
	m, err := readManifest(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("opening bundle %s: %w", dir, err)
	default:
		b.entries, b.hasManifest = m.Images, true
	}
	return b, nil
}

// Dir is the bundle's directory.
func (b *Bundle) Dir() string { return b.dir }

// Lookup finds the top-level descriptor whose RefAnnotation equals mirror.Normalize(ref).
func (b *Bundle) Lookup(ref string) (v1.Descriptor, error) {
	norm, err := mirror.Normalize(ref)
	if err != nil {
		return v1.Descriptor{}, err
	}
	// The last entry wins, as in a layout appended to by other tools.
	for i := len(b.index.Manifests) - 1; i >= 0; i-- {
		if d := b.index.Manifests[i]; d.Annotations[RefAnnotation] == norm {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("looking up %s in bundle %s: %w", norm, b.dir, ErrNotFound)
}

// Image returns the image for ref when its top-level entry is a manifest.
func (b *Bundle) Image(ref string) (v1.Image, error) {
	d, err := b.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if !d.MediaType.IsImage() {
		return nil, fmt.Errorf("reading %s from bundle %s: %s is not an image manifest", ref, b.dir, d.MediaType)
	}
	img, err := b.path.Image(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading %s from bundle %s: %w", ref, b.dir, err)
	}
	return img, nil
}

// Index returns the index for ref when its top-level entry is an index.
func (b *Bundle) Index(ref string) (v1.ImageIndex, error) {
	d, err := b.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if !d.MediaType.IsIndex() {
		return nil, fmt.Errorf("reading %s from bundle %s: %s is not an index", ref, b.dir, d.MediaType)
	}
	root, err := b.path.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading %s from bundle %s: %w", ref, b.dir, err)
	}
	idx, err := root.ImageIndex(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading %s from bundle %s: %w", ref, b.dir, err)
	}
	return idx, nil
}

// Entries lists the bundle.json entries or, when bundle.json is absent, entries derived from
// index.json (an entry whose manifests cannot be read lacks size and platforms).
func (b *Bundle) Entries() []Entry {
	if !b.hasManifest {
		b.deriveOnce.Do(func() { b.entries = deriveEntries(b.dir, b.index.Manifests) })
	}
	return append([]Entry(nil), b.entries...)
}

// deriveEntries computes entries for the annotated top-level descriptors of a layout.
func deriveEntries(dir string, descs []v1.Descriptor) []Entry {
	byRef := map[string]Entry{}
	for _, d := range descs {
		ref := d.Annotations[RefAnnotation]
		if ref == "" {
			continue
		}
		e, err := describeStored(dir, ref, d)
		if err != nil {
			e = Entry{Reference: ref, Digest: d.Digest.String(), MediaType: string(d.MediaType)}
		}
		byRef[ref] = e
	}
	return sortEntries(byRef)
}

func sortEntries(byRef map[string]Entry) []Entry {
	out := make([]Entry, 0, len(byRef))
	for _, e := range byRef {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Reference, b.Reference) })
	return out
}
