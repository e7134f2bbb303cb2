package bundle_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
)

// Tampered bundles: every test here changes a bundle behind the writer's back, as a bundle
// copied through untrusted hands may be, and expects a clear error naming what is wrong,
// before anything could be pushed from it.

func blobFile(dir string, h v1.Hash) string {
	return filepath.Join(dir, "blobs", "sha256", h.Hex)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err is set and names every one of subs.
func wantErr(t *testing.T, what string, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	t.Logf("%s: %v", what, err)
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q does not name %s", what, err, s)
		}
	}
}

func rawManifest(t *testing.T, m interface{ RawManifest() ([]byte, error) }) []byte {
	t.Helper()
	raw, err := m.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// readIndexJSON and writeIndexJSON edit a bundle's index.json as another tool would.
func readIndexJSON(t *testing.T, dir string) *v1.IndexManifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var im v1.IndexManifest
	if err := json.Unmarshal(raw, &im); err != nil {
		t.Fatal(err)
	}
	return &im
}

func writeIndexJSON(t *testing.T, dir string, im *v1.IndexManifest) {
	t.Helper()
	raw, err := json.Marshal(im)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "index.json"), raw)
}

// craftLayout writes an OCI layout by hand: index.json listing top (under ref), and blobs
// stored under the given digests whatever their content.
func craftLayout(t *testing.T, dir, ref string, top v1.Descriptor, blobs map[v1.Hash][]byte) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))
	top.Annotations = map[string]string{bundle.RefAnnotation: ref}
	writeIndexJSON(t, dir, &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{top}})
	for h, b := range blobs {
		writeFile(t, blobFile(dir, h), b)
	}
}

// indexListing is an OCI index listing the given descriptors.
func indexListing(t *testing.T, descs ...v1.Descriptor) []byte {
	t.Helper()
	raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func fakeDigest(s string) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256([]byte(s)))}
}

// A manifest swapped in place (same file name, another valid manifest) is found at lookup,
// before anything is read from it, and again when it is read.
func TestSwappedManifest(t *testing.T) {
	dir := t.TempDir()
	img, other := image(t, "linux/amd64", layer(t)), image(t, "linux/amd64", layer(t))
	idx := index(t, layer(t), "linux/amd64", "linux/arm64")
	bundletest.Write(t, dir,
		bundletest.Entry{Ref: "app:1", Image: img},
		bundletest.Entry{Ref: "other:1", Image: other},
		bundletest.Entry{Ref: "multi:2", Index: idx})
	h := imagetest.Digest(t, img)
	writeFile(t, blobFile(dir, h), rawManifest(t, other))

	b := bundletest.Open(t, dir)
	_, err := b.Lookup("app:1")
	wantErr(t, "Lookup of a swapped manifest", err, h.String(), "corrupt")
	_, err = b.Image("app:1")
	wantErr(t, "Image of a swapped manifest", err, h.String(), "corrupt")
	_, _, err = b.Manifest(h)
	wantErr(t, "Manifest of a swapped manifest", err, h.String(), "corrupt")
	_, err = b.Manifests()
	wantErr(t, "Manifests of a bundle with a swapped manifest", err, h.String())
	if _, err := b.Lookup("other:1"); err != nil {
		t.Errorf("Lookup of an intact image: %v", err)
	}

	// A child of an index swapped after the index was opened: found when it is read, and by
	// any later lookup.
	got, err := b.Index("multi:2")
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	child := im.Manifests[1].Digest
	writeFile(t, blobFile(dir, child), rawManifest(t, other))
	_, err = got.Image(child)
	wantErr(t, "reading a swapped child", err, child.String(), "corrupt")
	_, err = b.Lookup("multi:2")
	wantErr(t, "Lookup of an index with a swapped child", err, child.String(), "corrupt")

	// A top-level index swapped for another index.
	h = imagetest.Digest(t, idx)
	writeFile(t, blobFile(dir, h), rawManifest(t, index(t, layer(t), "linux/amd64")))
	_, err = b.Index("multi:2")
	wantErr(t, "Index of a swapped index", err, h.String(), "corrupt")
}

// A digest reference whose index.json entry has another digest is refused: a copy would put
// other content under the reference's digest tag.
func TestDigestReferenceListedWithAnotherDigest(t *testing.T) {
	dir := t.TempDir()
	pinned, other := image(t, "linux/amd64", layer(t)), image(t, "linux/amd64", layer(t))
	ref := "quay.io/org/pinned@" + imagetest.Digest(t, pinned).String()
	bundletest.Write(t, dir, bundletest.Entry{Ref: ref, Image: pinned}, bundletest.Entry{Ref: "other:1", Image: other})
	im := readIndexJSON(t, dir)
	for i, d := range im.Manifests {
		if d.Annotations[bundle.RefAnnotation] == ref {
			// An intact manifest of the bundle, listed under the wrong digest reference.
			im.Manifests[i].Digest, im.Manifests[i].Size = imagetest.Digest(t, other), int64(len(rawManifest(t, other)))
		}
	}
	writeIndexJSON(t, dir, im)

	b := bundletest.Open(t, dir)
	_, err := b.Lookup(ref)
	wantErr(t, "Lookup", err, ref, imagetest.Digest(t, other).String())
	_, err = b.Image(ref)
	wantErr(t, "Image", err, ref, imagetest.Digest(t, other).String())
	if _, err := b.Lookup("other:1"); err != nil {
		t.Errorf("Lookup of the other image: %v", err)
	}
}

// An index that lists itself, and two indexes that list each other, are errors naming the
// index, not a stack overflow. (With every manifest checked against its digest, such content
// is always found corrupt: an index cannot contain its own digest.)
func TestIndexCycles(t *testing.T) {
	t.Run("self", func(t *testing.T) {
		dir := t.TempDir()
		x := v1.Descriptor{MediaType: types.OCIImageIndex, Digest: fakeDigest("x")}
		raw := indexListing(t, x)
		x.Size = int64(len(raw))
		craftLayout(t, dir, "docker.io/library/self:1", x, map[v1.Hash][]byte{x.Digest: indexListing(t, x)})
		checkCycle(t, dir, "self:1", x.Digest)
	})
	t.Run("two", func(t *testing.T) {
		dir := t.TempDir()
		a := v1.Descriptor{MediaType: types.OCIImageIndex, Digest: fakeDigest("a")}
		c := v1.Descriptor{MediaType: types.OCIImageIndex, Digest: fakeDigest("b")}
		a.Size, c.Size = int64(len(indexListing(t, c))), int64(len(indexListing(t, a)))
		craftLayout(t, dir, "docker.io/library/cycle:1", a, map[v1.Hash][]byte{
			a.Digest: indexListing(t, c),
			c.Digest: indexListing(t, a),
		})
		checkCycle(t, dir, "cycle:1", a.Digest)
	})
}

func checkCycle(t *testing.T, dir, ref string, h v1.Hash) {
	t.Helper()
	b := bundletest.Open(t, dir)
	_, err := b.Lookup(ref)
	wantErr(t, "Lookup", err, h.String())
	_, err = b.Index(ref)
	wantErr(t, "Index", err, h.String())
	_, err = b.Manifests()
	wantErr(t, "Manifests", err, h.String())
	// Without bundle.json the entries are derived by walking the same graph.
	if e := b.Entries(); len(e) != 1 || e[0].Size != 0 {
		t.Errorf("Entries = %+v, want one entry without a size", e)
	}
}

// nested is img under depth indexes, each listing the one below.
func nested(t *testing.T, img v1.Image, depth int) v1.ImageIndex {
	t.Helper()
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	for range depth - 1 {
		idx = mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: idx})
	}
	return idx
}

// Indexes nest at most 4 deep, for readers and for the writer alike; the same manifest listed
// twice is not a cycle.
func TestIndexNestingBound(t *testing.T) {
	dir := t.TempDir()
	img := image(t, "linux/amd64", layer(t))
	four, five := nested(t, img, 4), nested(t, img, 5)
	// Shared children: one image twice in an index, one index in two.
	twice := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	shared := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: twice}, mutate.IndexAddendum{Add: nested(t, img, 1)})

	w := create(t, dir)
	for ref, idx := range map[string]v1.ImageIndex{"four:1": four, "shared:1": shared} {
		if _, err := w.AddIndex(ref, idx); err != nil {
			t.Fatalf("AddIndex(%s): %v", ref, err)
		}
	}
	_, err := w.AddIndex("five:1", five)
	wantErr(t, "AddIndex of 5 nested indexes", err, "more than 4 deep")
	closeWriter(t, w)

	// The same 5 levels written by another tool: the top is one more index over "four".
	raw := rawManifest(t, five)
	writeFile(t, blobFile(dir, imagetest.Digest(t, five)), raw)
	im := readIndexJSON(t, dir)
	im.Manifests = append(im.Manifests, v1.Descriptor{MediaType: types.OCIImageIndex, Size: int64(len(raw)),
		Digest: imagetest.Digest(t, five), Annotations: map[string]string{bundle.RefAnnotation: "docker.io/library/five:1"}})
	writeIndexJSON(t, dir, im)

	b := bundletest.Open(t, dir)
	for _, ref := range []string{"four:1", "shared:1"} {
		if _, err := b.Index(ref); err != nil {
			t.Errorf("Index(%s): %v", ref, err)
		}
	}
	_, err = b.Lookup("five:1")
	wantErr(t, "Lookup of 5 nested indexes", err, "docker.io/library/five:1", imagetest.Digest(t, five).String(), "more than 4 deep")
	_, err = b.Manifests()
	wantErr(t, "Manifests", err, "more than 4 deep")
	// Index returns the top only after the check; walking it down by hand stops as deep.
	got, err := b.Index("four:1")
	if err != nil {
		t.Fatal(err)
	}
	for level := 1; ; level++ {
		im, err := got.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if !im.Manifests[0].MediaType.IsIndex() {
			if level != 4 {
				t.Errorf("an image at level %d of 4", level)
			}
			break
		}
		if got, err = got.ImageIndex(im.Manifests[0].Digest); err != nil {
			t.Fatal(err)
		}
	}
}

// index.json and bundle.json are read into memory: larger than 4 MiB, the bundle is refused,
// as is a manifest (TestManifestSizeBound) at lookup.
func TestIndexAndManifestFileSizeBound(t *testing.T) {
	for _, name := range []string{"index.json", bundle.ManifestFile} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			bundletest.Write(t, dir, bundletest.Entry{Ref: "app:1", Image: image(t, "linux/amd64", layer(t))})
			raw, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			// Still valid JSON: only the size is wrong.
			writeFile(t, filepath.Join(dir, name), append(raw, bytes.Repeat([]byte(" "), 4<<20)...))
			if _, err := bundle.Open(dir); err == nil || !strings.Contains(err.Error(), "larger than") {
				t.Errorf("Open with a %s over 4 MiB: %v", name, err)
			}
		})
	}
}

// No path read from a bundle leads out of it: digests are sha256 hex before they name a file,
// and a symbolic link out of the bundle is not followed.
func TestPathsStayInBundle(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secret, []byte("not the bundle's"))

	t.Run("digest in index.json", func(t *testing.T) {
		dir := t.TempDir()
		craftLayout(t, dir, "docker.io/library/app:1", v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 16, Digest: fakeDigest("x")}, nil)
		raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "index.json"), bytes.Replace(raw, []byte(fakeDigest("x").String()), []byte("sha256:../../etc/passwd"), 1))
		if _, err := bundle.Open(dir); err == nil {
			t.Error("Open of an index.json with digest sha256:../../etc/passwd succeeded")
		}
	})
	t.Run("digest in a child index", func(t *testing.T) {
		dir := t.TempDir()
		raw := bytes.Replace(indexListing(t, v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 16, Digest: fakeDigest("x")}),
			[]byte(fakeDigest("x").String()), []byte("sha256:../../../../etc/passwd"), 1)
		top := v1.Descriptor{MediaType: types.OCIImageIndex, Size: int64(len(raw)), Digest: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(raw))}}
		craftLayout(t, dir, "docker.io/library/app:1", top, map[v1.Hash][]byte{top.Digest: raw})
		_, err := bundletest.Open(t, dir).Lookup("app:1")
		wantErr(t, "Lookup of an index listing sha256:../../../../etc/passwd", err, top.Digest.String())
	})
	t.Run("symlinks", func(t *testing.T) {
		dir := t.TempDir()
		img := image(t, "linux/amd64", layer(t))
		bundletest.Write(t, dir, bundletest.Entry{Ref: "app:1", Image: img})
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		l := m.Layers[0].Digest
		if err := os.Remove(blobFile(dir, l)); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(secret, blobFile(dir, l)); err != nil {
			t.Fatal(err)
		}
		b := bundletest.Open(t, dir)
		if rc, err := b.Blob(l); err == nil {
			got, _ := io.ReadAll(rc)
			rc.Close()
			t.Errorf("Blob(%s) followed a link out of the bundle: %q", l, got)
		}
		got, err := b.Image("app:1")
		if err != nil {
			t.Fatal(err)
		}
		gl, err := got.LayerByDigest(l)
		if err != nil {
			t.Fatal(err)
		}
		if rc, err := gl.Compressed(); err == nil {
			rc.Close()
			t.Errorf("layer %s followed a link out of the bundle", l)
		}

		// index.json itself.
		if err := os.Rename(filepath.Join(dir, "index.json"), secret); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(secret, filepath.Join(dir, "index.json")); err != nil {
			t.Fatal(err)
		}
		if _, err := bundle.Open(dir); err == nil {
			t.Error("Open followed index.json out of the bundle")
		}
	})
}
