package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/mirror"
	"airgap-site/signing"
)

// layoutVersion is the oci-layout file, as go-containerregistry writes it.
const layoutVersion = `{
    "imageLayoutVersion": "1.0.0"
}`

// Writer builds a bundle. AddImage and AddIndex may be called concurrently; index.json is
// rewritten (atomically) after each, so an interrupted run leaves a valid layout holding the
// images added so far.
type Writer struct {
	dir   string
	blobs *blobStore

	mu      sync.Mutex
	index   *v1.IndexManifest
	entries map[string]Entry
	closed  bool
	// prev is the sequence of the bundle added to (0: none); stamp is what Close writes.
	prev  int64
	stamp Stamp
	// ours are the references this writer stored: the entries of this run (Sign).
	ours map[string]bool
	// assumes are the assumes of the bundle added to, kept while the layout lacks them.
	assumes []AssumedBlob
}

// Create starts writing the bundle at dir: a new directory, an empty one, or an existing
// layout, whose images are kept (adding a reference that is already there replaces it).
func Create(dir string) (*Writer, error) {
	index, err := readIndex(dir)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrNotExist):
		// Refuse to scatter a layout over a directory that holds something else.
		if ents, rerr := os.ReadDir(dir); rerr == nil && len(ents) > 0 {
			return nil, fmt.Errorf("creating bundle %s: directory is not empty and has no %s", dir, indexFile)
		}
		index = &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	default:
		return nil, fmt.Errorf("creating bundle %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating bundle %s: %w", dir, err)
	}
	blobs, err := newBlobStore(dir)
	if err != nil {
		return nil, fmt.Errorf("creating bundle %s: %w", dir, err)
	}
	if err := writeAtomic(filepath.Join(dir, layoutFile), []byte(layoutVersion)); err != nil {
		return nil, fmt.Errorf("creating bundle %s: %w", dir, err)
	}
	w := &Writer{dir: dir, blobs: blobs, index: index, entries: reconcile(dir, index), ours: map[string]bool{}}
	if m, err := readManifest(dir); err == nil {
		w.prev, w.assumes = m.Sequence, m.Assumes
	}
	if err := w.writeIndex(); err != nil {
		return nil, err
	}
	return w, nil
}

// reconcile keeps the existing bundle.json entries that still match index.json and derives
// the others, so appending to a bundle edited by other tools still yields a true bundle.json.
func reconcile(dir string, index *v1.IndexManifest) map[string]Entry {
	old := map[string]Entry{}
	if m, err := readManifest(dir); err == nil {
		for _, e := range m.Images {
			old[e.Reference] = e
		}
	}
	entries := map[string]Entry{}
	var missing []v1.Descriptor
	for _, d := range index.Manifests {
		ref := d.Annotations[RefAnnotation]
		if ref == "" {
			continue
		}
		if e, ok := old[ref]; ok && e.Digest == d.Digest.String() {
			entries[ref] = e
			continue
		}
		missing = append(missing, d)
	}
	if len(missing) > 0 {
		for _, e := range deriveEntries(dir, missing) {
			entries[e.Reference] = e
		}
	}
	return entries
}

// AddImage stores a single-manifest image under ref.
func (w *Writer) AddImage(ref string, img v1.Image) (Entry, error) {
	norm, err := mirror.Normalize(ref)
	if err != nil {
		return Entry{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: %w", norm, w.dir, err)
	}
	if !mt.IsImage() {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: %s is not an image manifest", norm, w.dir, mt)
	}
	if err := w.blobs.image(img); err != nil {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: %w", norm, w.dir, err)
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: %w", norm, w.dir, err)
	}
	return w.put(norm, *desc)
}

// AddIndex stores a multi-arch index under ref, as-is: every child it lists is stored.
func (w *Writer) AddIndex(ref string, idx v1.ImageIndex) (Entry, error) {
	norm, err := mirror.Normalize(ref)
	if err != nil {
		return Entry{}, err
	}
	mt, err := idx.MediaType()
	if err != nil {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: %w", norm, w.dir, err)
	}
	if !mt.IsIndex() {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: %s is not an index", norm, w.dir, mt)
	}
	if err := w.blobs.index(idx, nil); err != nil {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: %w", norm, w.dir, err)
	}
	desc, err := partial.Descriptor(idx)
	if err != nil {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: %w", norm, w.dir, err)
	}
	return w.put(norm, *desc)
}

// put records a stored image in index.json, replacing any entry with the same reference.
func (w *Writer) put(ref string, d v1.Descriptor) (Entry, error) {
	if err := pinned(ref, d.Digest); err != nil {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: %w", ref, w.dir, err)
	}
	// Only what identifies the image: a registry's descriptor may carry a platform or
	// annotations of its own.
	desc := v1.Descriptor{
		MediaType:   d.MediaType,
		Size:        d.Size,
		Digest:      d.Digest,
		Annotations: map[string]string{RefAnnotation: ref},
	}
	e, err := describeStored(w.dir, ref, desc, w.blobs.wasAssumed)
	if err != nil {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: %w", ref, w.dir, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return Entry{}, fmt.Errorf("adding %s to bundle %s: writer is closed", ref, w.dir)
	}
	kept := make([]v1.Descriptor, 0, len(w.index.Manifests)+1)
	for _, d := range w.index.Manifests {
		if d.Annotations[RefAnnotation] != ref {
			kept = append(kept, d)
		}
	}
	w.index.Manifests = append(kept, desc)
	w.entries[ref] = e
	w.ours[ref] = true
	return e, w.writeIndex()
}

// writeIndex writes index.json; callers hold w.mu (or own w exclusively).
func (w *Writer) writeIndex() error {
	if w.index.Manifests == nil {
		w.index.Manifests = []v1.Descriptor{} // "manifests": [] rather than null
	}
	raw, err := json.MarshalIndent(w.index, "", "   ")
	if err != nil {
		return fmt.Errorf("writing %s of bundle %s: %w", indexFile, w.dir, err)
	}
	if err := writeAtomic(filepath.Join(w.dir, indexFile), raw); err != nil {
		return fmt.Errorf("writing %s of bundle %s: %w", indexFile, w.dir, err)
	}
	return nil
}

// SetStamp sets what Close writes into bundle.json besides the images: st's sequence, expiry
// and sites. CreatedAt is the time of Close; a zero Sequence is NextSequence of the sequence
// of the bundle added to (0 for a new one).
func (w *Writer) SetStamp(st Stamp) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stamp = st
}

// Close writes bundle.json, sorted by reference. Adding after Close fails; a second Close
// does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	index, err := readFile(w.dir, indexFile, maxManifest)
	if err != nil {
		return fmt.Errorf("writing %s of bundle %s: reading %s: %w", ManifestFile, w.dir, indexFile, err)
	}
	st := w.stamp
	st.CreatedAt = time.Now().UTC()
	if st.Sequence == 0 {
		st.Sequence = NextSequence(w.prev, st.CreatedAt)
	}
	m := Manifest{Images: sortEntries(w.entries), Stamp: st, Index: digestOf(index), Assumes: w.blobs.assumedList(w.assumes)}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("writing %s of bundle %s: %w", ManifestFile, w.dir, err)
	}
	if err := writeAtomic(filepath.Join(w.dir, ManifestFile), append(raw, '\n')); err != nil {
		return fmt.Errorf("writing %s of bundle %s: %w", ManifestFile, w.dir, err)
	}
	return nil
}

// StoredBytes is the size of the bundle's blobs, each stored once.
func (w *Writer) StoredBytes() (int64, error) {
	n, err := storedBytes(w.dir)
	if err != nil {
		return 0, fmt.Errorf("sizing bundle %s: %w", w.dir, err)
	}
	return n, nil
}

// writeAtomic replaces path with data, so readers never see a half-written file.
func writeAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Sign signs the bundle, once Close wrote bundle.json, with s (Sign), when it holds only what
// this writer made: every entry of index.json was stored by this writer, and every file of the
// layout is one of the layout's own or a blob this writer stored (or found there and used).
// Anything else is refused by name and nothing is signed: an entry or blob left by an earlier
// run (an image kept from before whose pull failed this time, or that left the list), a file
// another tool put there. A signature vouches for what the run that made it checked.
func (w *Writer) Sign(s *signing.Signer) error {
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if !closed {
		return fmt.Errorf("signing bundle %s: close it first", w.dir)
	}
	index, err := readIndex(w.dir)
	if err != nil {
		return fmt.Errorf("signing bundle %s: %w", w.dir, err)
	}
	var foreign []string
	for _, d := range index.Manifests {
		ref := d.Annotations[RefAnnotation]
		switch {
		case ref == "":
			foreign = append(foreign, fmt.Sprintf("an entry without a reference (%s)", d.Digest))
		case !w.ours[ref]:
			foreign = append(foreign, ref)
		}
	}
	strays, err := strays(w.dir, w.blobs.wasUsed)
	if err != nil {
		return fmt.Errorf("signing bundle %s: %w", w.dir, err)
	}
	if len(foreign) > 0 || len(strays) > 0 {
		var parts []string
		if len(foreign) > 0 {
			parts = append(parts, fmt.Sprintf("%s not written by this run: %s", plural(len(foreign), "an image", "images"), strings.Join(foreign, ", ")))
		}
		if len(strays) > 0 {
			parts = append(parts, fmt.Sprintf("%s not written by this run: %s", plural(len(strays), "a file", "files"), listSome(strays, 10)))
		}
		return fmt.Errorf("refusing to sign bundle %s: it holds %s; a signature vouches only for what one run pulled and checked: bundle into a new directory (or remove these)",
			w.dir, strings.Join(parts, "; and "))
	}
	return Sign(w.dir, s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listSome joins the first n names and counts the rest.
func listSome(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
