package bundle_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/mirror"
)

// layer is a small random gzip layer.
func layer(t *testing.T) v1.Layer { return imagetest.Layer(t, 4096) }

// image builds an image for platform ("linux/amd64") from the given layers.
func image(t *testing.T, platform string, layers ...v1.Layer) v1.Image {
	return imagetest.Image(t, platform, layers...)
}

// index builds an OCI index with one child per platform, all sharing base.
func index(t *testing.T, base v1.Layer, platforms ...string) v1.ImageIndex {
	return imagetest.Index(t, base, 4096, platforms...)
}

// imageSize is the sum of an image's unique config and layer sizes.
func imageSize(t *testing.T, img v1.Image, seen map[v1.Hash]bool) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if !seen[d.Digest] {
			seen[d.Digest] = true
			n += d.Size
		}
	}
	return n
}

func create(t *testing.T, dir string) *bundle.Writer {
	t.Helper()
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func closeWriter(t *testing.T, w *bundle.Writer) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func addImage(t *testing.T, w *bundle.Writer, ref string, img v1.Image) {
	t.Helper()
	if _, err := w.AddImage(ref, img); err != nil {
		t.Fatal(err)
	}
}

func entryFor(t *testing.T, b *bundle.Bundle, ref string) bundle.Entry {
	t.Helper()
	for _, e := range b.Entries() {
		if e.Reference == ref {
			return e
		}
	}
	t.Fatalf("no entry %s in %+v", ref, b.Entries())
	return bundle.Entry{}
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bundle")
	img := image(t, "linux/amd64", layer(t), layer(t))
	idx := index(t, layer(t), "linux/amd64", "linux/arm64/v8")

	w := create(t, dir)
	e, err := w.AddImage("example.com/team/app:1.0", img)
	if err != nil {
		t.Fatal(err)
	}
	if e.Reference != "example.com/team/app:1.0" || e.Digest != imagetest.Digest(t, img).String() {
		t.Errorf("AddImage entry = %+v", e)
	}
	if _, err := w.AddIndex("multi:2", idx); err != nil {
		t.Fatal(err)
	}
	closeWriter(t, w)

	b := bundletest.Open(t, dir)
	if b.Dir() != dir {
		t.Errorf("Dir() = %s, want %s", b.Dir(), dir)
	}

	d, err := b.Lookup("example.com/team/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != imagetest.Digest(t, img) || d.Annotations[bundle.RefAnnotation] != "example.com/team/app:1.0" {
		t.Errorf("Lookup(image) = %+v, want digest %s", d, imagetest.Digest(t, img))
	}
	got, err := b.Image("example.com/team/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if imagetest.Digest(t, got) != imagetest.Digest(t, img) {
		t.Errorf("Image digest = %s, want %s", imagetest.Digest(t, got), imagetest.Digest(t, img))
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("image read back is invalid: %v", err)
	}

	// Looked up by any spelling of the same reference.
	for _, ref := range []string{"multi:2", "docker.io/library/multi:2", "index.docker.io/library/multi:2"} {
		d, err := b.Lookup(ref)
		if err != nil {
			t.Fatalf("Lookup(%s): %v", ref, err)
		}
		if d.Digest != imagetest.Digest(t, idx) || !d.MediaType.IsIndex() {
			t.Errorf("Lookup(%s) = %+v, want index %s", ref, d, imagetest.Digest(t, idx))
		}
	}
	gotIdx, err := b.Index("multi:2")
	if err != nil {
		t.Fatal(err)
	}
	if imagetest.Digest(t, gotIdx) != imagetest.Digest(t, idx) {
		t.Errorf("Index digest = %s, want %s", imagetest.Digest(t, gotIdx), imagetest.Digest(t, idx))
	}
	if err := validate.Index(gotIdx); err != nil {
		t.Errorf("index read back is invalid: %v", err)
	}

	// Asking for the wrong kind names the problem instead of returning garbage.
	if _, err := b.Image("multi:2"); err == nil {
		t.Error("Image() of an index succeeded")
	}
	if _, err := b.Index("example.com/team/app:1.0"); err == nil {
		t.Error("Index() of an image succeeded")
	}

	if e := entryFor(t, b, "example.com/team/app:1.0"); fmt.Sprint(e.Platforms) != "[linux/amd64]" || e.MediaType != string(types.DockerManifestSchema2) {
		t.Errorf("image entry = %+v", e)
	}
	if e := entryFor(t, b, "docker.io/library/multi:2"); fmt.Sprint(e.Platforms) != "[linux/amd64 linux/arm64/v8]" || e.MediaType != string(types.OCIImageIndex) {
		t.Errorf("index entry = %+v", e)
	}

	// The bundle is a plain OCI layout that go-containerregistry reads as well.
	root, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(root); err != nil {
		t.Errorf("layout is invalid: %v", err)
	}
	for _, f := range []string{"oci-layout", "index.json", bundle.ManifestFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
}

func TestLookupMissing(t *testing.T) {
	dir := t.TempDir()
	w := create(t, dir)
	addImage(t, w, "app:1", image(t, "linux/amd64", layer(t)))
	closeWriter(t, w)
	b := bundletest.Open(t, dir)
	for _, ref := range []string{"app:2", "other/app:1", "ghcr.io/library/app:1"} {
		_, err := b.Lookup(ref)
		if !errors.Is(err, bundle.ErrNotFound) {
			t.Errorf("Lookup(%s) = %v, want ErrNotFound", ref, err)
			continue
		}
		norm, _ := mirror.Normalize(ref)
		if !strings.Contains(err.Error(), norm) || !strings.Contains(err.Error(), dir) {
			t.Errorf("Lookup(%s) error %q does not name the reference and the bundle", ref, err)
		}
		if _, err := b.Image(ref); !errors.Is(err, bundle.ErrNotFound) {
			t.Errorf("Image(%s) = %v, want ErrNotFound", ref, err)
		}
		if _, err := b.Index(ref); !errors.Is(err, bundle.ErrNotFound) {
			t.Errorf("Index(%s) = %v, want ErrNotFound", ref, err)
		}
	}
	if _, err := b.Lookup("Bad Ref"); err == nil || errors.Is(err, bundle.ErrNotFound) {
		t.Errorf("Lookup of an invalid reference = %v, want a parse error", err)
	}
}

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	old, replacement := image(t, "linux/amd64", layer(t)), image(t, "linux/amd64", layer(t))
	other := index(t, layer(t), "linux/amd64", "linux/arm64")

	w := create(t, dir)
	for _, add := range []func() (bundle.Entry, error){
		func() (bundle.Entry, error) { return w.AddImage("app:1", old) },
		func() (bundle.Entry, error) { return w.AddIndex("ghcr.io/org/other:1", other) },
		// Same writer, same reference: replaced.
		func() (bundle.Entry, error) { return w.AddImage("docker.io/library/app:1", old) },
	} {
		if _, err := add(); err != nil {
			t.Fatal(err)
		}
	}
	closeWriter(t, w)
	if _, err := w.AddImage("app:3", old); err == nil {
		t.Error("AddImage after Close succeeded")
	}

	// A later run appends to the bundle and replaces app:1 with another image.
	w = create(t, dir)
	addImage(t, w, "app:1", replacement)
	addImage(t, w, "app:2", old)
	closeWriter(t, w)

	b := bundletest.Open(t, dir)
	want := map[string]v1.Hash{
		"docker.io/library/app:1": imagetest.Digest(t, replacement),
		"docker.io/library/app:2": imagetest.Digest(t, old),
		"ghcr.io/org/other:1":     imagetest.Digest(t, other),
	}
	for ref, h := range want {
		d, err := b.Lookup(ref)
		if err != nil {
			t.Fatal(err)
		}
		if d.Digest != h {
			t.Errorf("%s: digest %s, want %s", ref, d.Digest, h)
		}
		if e := entryFor(t, b, ref); e.Digest != h.String() {
			t.Errorf("%s: bundle.json digest %s, want %s", ref, e.Digest, h)
		}
	}
	root, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != len(want) || len(b.Entries()) != len(want) {
		t.Errorf("index.json has %d entries, bundle.json %d; want %d each", len(im.Manifests), len(b.Entries()), len(want))
	}
}

func TestEntrySizes(t *testing.T) {
	dir := t.TempDir()
	base := layer(t)
	// The same layer twice in one image, and a base shared with a second image.
	a := image(t, "linux/amd64", base, layer(t), base)
	c := image(t, "linux/arm64", base, layer(t))
	idx := index(t, base, "linux/amd64", "linux/arm64")

	w := create(t, dir)
	for ref, img := range map[string]v1.Image{"a:1": a, "c:1": c} {
		addImage(t, w, ref, img)
	}
	if _, err := w.AddIndex("idx:1", idx); err != nil {
		t.Fatal(err)
	}
	closeWriter(t, w)
	b := bundletest.Open(t, dir)

	// Each image counts the shared base once, in its own size.
	for ref, img := range map[string]v1.Image{"docker.io/library/a:1": a, "docker.io/library/c:1": c} {
		if got, want := entryFor(t, b, ref).Size, imageSize(t, img, map[v1.Hash]bool{}); got != want {
			t.Errorf("%s: size %d, want %d", ref, got, want)
		}
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	seen := map[v1.Hash]bool{}
	for _, child := range im.Manifests {
		want += child.Size
		img, err := idx.Image(child.Digest)
		if err != nil {
			t.Fatal(err)
		}
		want += imageSize(t, img, seen)
	}
	if got := entryFor(t, b, "docker.io/library/idx:1").Size; got != want {
		t.Errorf("index size %d, want %d (children, configs and the shared base once)", got, want)
	}

	// On disk the base is stored once for all three.
	h := imagetest.Digest(t, base)
	matches, err := filepath.Glob(filepath.Join(dir, "blobs", "sha256", h.Hex+"*"))
	if err != nil || len(matches) != 1 {
		t.Errorf("base layer stored as %v, %v; want one blob", matches, err)
	}

	// Without bundle.json the same entries are derived from the layout.
	before := b.Entries()
	if err := os.Remove(filepath.Join(dir, bundle.ManifestFile)); err != nil {
		t.Fatal(err)
	}
	b, err = bundle.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Entries(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("derived entries\n%+v\nwant\n%+v", got, before)
	}
}

func TestManifestFile(t *testing.T) {
	dir := t.TempDir()
	w := create(t, dir)
	closeWriter(t, w)
	var empty map[string]any
	raw, err := os.ReadFile(filepath.Join(dir, bundle.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &empty); err != nil {
		t.Fatalf("bundle.json is not JSON: %v\n%s", err, raw)
	}
	if imgs, ok := empty["images"].([]any); !ok || len(imgs) != 0 {
		t.Errorf("empty bundle.json images = %v, want []", empty["images"])
	}

	w = create(t, dir)
	refs := []string{"zeta.example.com/z:1", "nginx:1.27", "ghcr.io/org/app:2", "alpine:3"}
	var wg sync.WaitGroup
	errs := make(chan error, len(refs))
	base := layer(t)
	for _, ref := range refs {
		img := image(t, "linux/amd64", base, layer(t))
		wg.Add(1)
		go func() { // concurrent adds, as `airgap bundle --concurrency` does
			defer wg.Done()
			_, err := w.AddImage(ref, img)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	closeWriter(t, w)

	raw, err = os.ReadFile(filepath.Join(dir, bundle.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m bundle.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("bundle.json is not JSON: %v\n%s", err, raw)
	}
	var got []string
	for _, e := range m.Images {
		got = append(got, e.Reference)
		if !strings.HasPrefix(e.Digest, "sha256:") || e.Size <= 0 || e.MediaType == "" {
			t.Errorf("incomplete entry %+v", e)
		}
	}
	if !slices.IsSorted(got) || len(got) != len(refs) {
		t.Errorf("bundle.json references %v, want %d sorted", got, len(refs))
	}
	if m.CreatedAt.IsZero() {
		t.Error("createdAt is not set")
	}
	// No temporary files are left behind.
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	partials, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*.partial"))
	if len(leftovers)+len(partials) > 0 {
		t.Errorf("leftover temporary files: %v %v", leftovers, partials)
	}
}

func TestOpenAndCreateRefuseOtherDirectories(t *testing.T) {
	dir := t.TempDir()
	if _, err := bundle.Open(dir); err == nil {
		t.Error("Open of an empty directory succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.Create(dir); err == nil {
		t.Error("Create in a non-empty directory that is not a layout succeeded")
	}
	w := create(t, filepath.Join(dir, "new", "bundle"))
	closeWriter(t, w)
	if _, err := bundle.Open(filepath.Join(dir, "new", "bundle")); err != nil {
		t.Errorf("Open of a new empty bundle: %v", err)
	}
	if _, err := w.AddImage("bad ref", empty.Image); err == nil {
		t.Error("AddImage with an invalid reference succeeded")
	}
}

func TestDigestReferenceMustMatch(t *testing.T) {
	w := create(t, t.TempDir())
	img, other := image(t, "linux/amd64", layer(t)), image(t, "linux/amd64", layer(t))
	if _, err := w.AddImage("ghcr.io/org/app@"+imagetest.Digest(t, img).String(), img); err != nil {
		t.Errorf("AddImage by its own digest: %v", err)
	}
	if _, err := w.AddImage("ghcr.io/org/app@"+imagetest.Digest(t, img).String(), other); err == nil {
		t.Error("AddImage of another image under a digest reference succeeded")
	}
}
