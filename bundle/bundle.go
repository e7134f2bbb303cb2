package bundle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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
	// Assumed is the part of Size a delta bundle does not carry: the layers it assumes the
	// site registry holds (Manifest.Assumes). Size - Assumed is what the bundle carries.
	Assumed int64 `json:"assumed,omitempty"`
}

// Manifest is bundle.json.
type Manifest struct {
	Images []Entry `json:"images"`
	Stamp
	// Index is the digest of index.json: signing bundle.json covers the whole layout.
	Index string `json:"index,omitempty"`
	// Assumes are the layers a delta bundle (airgap bundle --against) does not carry because
	// the site registry holds them; the signature covers them like everything else.
	Assumes []AssumedBlob `json:"assumes,omitempty"`
}

// Bundle is an opened bundle.
type Bundle struct {
	dir   string
	index *v1.IndexManifest
	stamp Stamp
	// manifestDigest is the digest of the bundle.json OpenVerified verified; "" from Open.
	manifestDigest string
	// assumed are bundle.json's assumes, by digest: layers a delta bundle does not carry.
	assumed map[v1.Hash]AssumedBlob

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
	b := &Bundle{dir: dir, index: index}
	m, err := readManifest(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("opening bundle %s: %w", dir, err)
	default:
		b.entries, b.hasManifest, b.stamp = m.Images, true, m.Stamp
		b.assumed = assumedIndex(m.Assumes)
	}
	return b, nil
}

// ManifestDigest is the digest of the signed bundle.json a bundle was opened from by
// OpenVerified: it names the bundle's whole content. "" for a bundle opened by Open, or an
// unsigned one.
func (b *Bundle) ManifestDigest() string { return b.manifestDigest }

// Stamp is what bundle.json says about when the bundle was made and for whom; zero without
// bundle.json. Trust it only from a verified bundle (OpenVerified).
func (b *Bundle) Stamp() Stamp {
	st := b.stamp
	st.Sites = slices.Clone(st.Sites)
	return st
}

// Dir is the bundle's directory.
func (b *Bundle) Dir() string { return b.dir }

// Lookup finds the top-level descriptor whose RefAnnotation equals mirror.Normalize(ref), and
// checks what it names before anything is read from it: a digest reference must be listed
// with that digest, and its manifest and every manifest below it must be intact (readNode),
// without cycles and at most maxDepth indexes deep. A reference that is not in the bundle is
// ErrNotFound.
func (b *Bundle) Lookup(ref string) (v1.Descriptor, error) {
	n, err := b.lookup(ref)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return n.desc, nil
}

// top is ref's normalized form and its top-level descriptor, checked to match a digest
// reference.
func (b *Bundle) top(ref string) (string, v1.Descriptor, error) {
	norm, err := mirror.Normalize(ref)
	if err != nil {
		return "", v1.Descriptor{}, err
	}
	d, ok := b.entry(norm)
	if !ok {
		return "", v1.Descriptor{}, fmt.Errorf("looking up %s in bundle %s: %w", norm, b.dir, ErrNotFound)
	}
	if err := pinned(norm, d.Digest); err != nil {
		return "", v1.Descriptor{}, fmt.Errorf("looking up %s in bundle %s: %w", norm, b.dir, err)
	}
	return norm, d, nil
}

// lookup is Lookup, returning the verified top-level manifest.
func (b *Bundle) lookup(ref string) (*node, error) {
	norm, d, err := b.top(ref)
	if err != nil {
		return nil, err
	}
	var top *node
	err = newWalker(b.dir, func(n *node) error {
		if top == nil {
			top = n
		}
		return nil
	}).walk(d)
	if err != nil {
		return nil, fmt.Errorf("checking %s in bundle %s: %w", norm, b.dir, err)
	}
	return top, nil
}

// entry is the top-level descriptor of the normalized reference norm. The last one wins, as in
// a layout appended to by other tools.
func (b *Bundle) entry(norm string) (v1.Descriptor, bool) {
	for i := len(b.index.Manifests) - 1; i >= 0; i-- {
		if d := b.index.Manifests[i]; d.Annotations[RefAnnotation] == norm {
			return d, true
		}
	}
	return v1.Descriptor{}, false
}

// pinned checks that the normalized reference ref, when it is a digest reference, names the
// digest h it is stored with: a pull by that digest would fail otherwise, and a copy would
// put other content under the reference's digest tag.
func pinned(ref string, h v1.Hash) error {
	if i := strings.LastIndex(ref, "@"); i >= 0 && ref[i+1:] != h.String() {
		return fmt.Errorf("%s is stored with another digest, %s", ref, h)
	}
	return nil
}

// Image returns the image for ref when its top-level entry is a manifest (see Lookup).
func (b *Bundle) Image(ref string) (v1.Image, error) {
	n, err := b.lookup(ref)
	if err != nil {
		return nil, err
	}
	if n.image == nil {
		return nil, fmt.Errorf("reading %s from bundle %s: %s is not an image manifest", ref, b.dir, n.desc.MediaType)
	}
	return newImage(b.dir, n, b.assumed)
}

// Index returns the index for ref when its top-level entry is an index (see Lookup).
func (b *Bundle) Index(ref string) (v1.ImageIndex, error) {
	n, err := b.lookup(ref)
	if err != nil {
		return nil, err
	}
	if n.index == nil {
		return nil, fmt.Errorf("reading %s from bundle %s: %s is not an index", ref, b.dir, n.desc.MediaType)
	}
	return &index{dir: b.dir, n: n, assumed: b.assumed}, nil
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
		e, err := describeStored(dir, ref, d, nil)
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
