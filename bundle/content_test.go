package bundle_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
)

func TestManifestsAndBlobs(t *testing.T) {
	dir := t.TempDir()
	img := image(t, "linux/amd64", layer(t))
	idx := index(t, layer(t), "linux/amd64", "linux/arm64")
	w := create(t, dir)
	addImage(t, w, "nginx:1.27", img)
	if _, err := w.AddIndex("ghcr.io/org/app:2", idx); err != nil {
		t.Fatal(err)
	}
	closeWriter(t, w)
	b := bundletest.Open(t, dir)

	// Top-level entries and the children of the index, with their media types.
	ms, err := b.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	want := map[v1.Hash]types.MediaType{imagetest.Digest(t, img): mediaType(t, img), imagetest.Digest(t, idx): mediaType(t, idx)}
	for _, c := range im.Manifests {
		want[c.Digest] = c.MediaType
	}
	if fmt.Sprint(ms) != fmt.Sprint(want) {
		t.Errorf("Manifests = %v, want %v", ms, want)
	}

	// A manifest by digest: the bytes as stored, checked.
	raw, mt, err := b.Manifest(im.Manifests[1].Digest)
	if err != nil || mt != im.Manifests[1].MediaType || int64(len(raw)) != im.Manifests[1].Size {
		t.Errorf("Manifest(child) = %d bytes, %s, %v", len(raw), mt, err)
	}
	// A layer is a blob, not a manifest.
	m, _ := img.Manifest()
	if _, _, err := b.Manifest(m.Layers[0].Digest); !errors.Is(err, bundle.ErrNotFound) {
		t.Errorf("Manifest(layer) error = %v, want ErrNotFound", err)
	}

	// Blobs open for reading and seeking.
	rc, err := b.Blob(m.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	n, err := rc.Seek(0, io.SeekEnd)
	rc.Close()
	if err != nil || n != m.Layers[0].Size {
		t.Errorf("blob size %d (%v), want %d", n, err, m.Layers[0].Size)
	}
	missing := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	if _, err := b.Blob(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Blob(missing) error = %v, want fs.ErrNotExist", err)
	}
	// Only a sha256 hex names a file: nothing else in the directory is reachable.
	for _, h := range []v1.Hash{
		{Algorithm: "sha256", Hex: "../../index.json"},
		{Algorithm: "sha256", Hex: strings.Repeat("A", 64)},
		{Algorithm: "sha512", Hex: strings.Repeat("0", 128)},
	} {
		if rc, err := b.Blob(h); err == nil {
			rc.Close()
			t.Errorf("Blob(%v) opened a file", h)
		}
	}
}

func TestManifestChecksContent(t *testing.T) {
	dir := t.TempDir()
	img := image(t, "linux/amd64", layer(t))
	w := create(t, dir)
	addImage(t, w, "nginx:1.27", img)
	closeWriter(t, w)
	h := imagetest.Digest(t, img)
	path := filepath.Join(dir, "blobs", "sha256", h.Hex)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(path, bytes.Replace(good, []byte("{"), []byte(" "), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bundletest.Open(t, dir).Manifest(h); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt manifest: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bundletest.Open(t, dir).Manifest(h); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("manifest listed but not stored: %v, want fs.ErrNotExist", err)
	}
}

// A manifest is read into memory, so its size is bounded (4 MiB), whatever index.json says.
func TestManifestSizeBound(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte(" "), 4<<20+1)
	h := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(big))}
	index := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"size":%d,"digest":%q,`+
		`"annotations":{%q:"docker.io/library/big:1"}}]}`, types.OCIManifestSchema1, len(big), h, bundle.RefAnnotation)
	for name, content := range map[string][]byte{
		"oci-layout":                            []byte(`{"imageLayoutVersion":"1.0.0"}`),
		"index.json":                            []byte(index),
		filepath.Join("blobs", "sha256", h.Hex): big,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := bundletest.Open(t, dir)
	if _, _, err := b.Manifest(h); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a 4 MiB + 1 manifest: %v", err)
	}
	// Refused at lookup (what the provider's Check calls), before anything is copied.
	if _, err := b.Lookup("big:1"); err == nil || !strings.Contains(err.Error(), "larger than") || !strings.Contains(err.Error(), h.String()) {
		t.Errorf("Lookup of a 4 MiB + 1 manifest: %v", err)
	}
	if _, err := b.Image("big:1"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Image of a 4 MiB + 1 manifest: %v", err)
	}
}

// An index that cannot be read is reported, and what could be read is still listed.
func TestManifestsReportsUnreadableIndex(t *testing.T) {
	dir := t.TempDir()
	img := image(t, "linux/amd64", layer(t))
	idx := index(t, layer(t), "linux/amd64")
	w := create(t, dir)
	addImage(t, w, "nginx:1.27", img)
	if _, err := w.AddIndex("ghcr.io/org/app:2", idx); err != nil {
		t.Fatal(err)
	}
	closeWriter(t, w)
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", imagetest.Digest(t, idx).Hex)); err != nil {
		t.Fatal(err)
	}
	ms, err := bundletest.Open(t, dir).Manifests()
	if err == nil || !strings.Contains(err.Error(), "reading index "+imagetest.Digest(t, idx).String()) {
		t.Errorf("Manifests error = %v", err)
	}
	if _, ok := ms[imagetest.Digest(t, img)]; !ok {
		t.Errorf("Manifests = %v lacks the image", ms)
	}
}

func TestStoredBytes(t *testing.T) {
	dir := t.TempDir()
	base := layer(t)
	one, two := image(t, "linux/amd64", base), image(t, "linux/amd64", base, layer(t))
	w := create(t, dir)
	addImage(t, w, "one:1", one)
	addImage(t, w, "two:1", two)
	// A blob being written is not part of the bundle yet.
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", "x.partial"), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, img := range []v1.Image{one, two} {
		want += imageSize(t, img, map[v1.Hash]bool{})
		raw, _ := img.RawManifest()
		want += int64(len(raw))
	}
	want -= sizeOf(t, base) // shared, stored once
	got, err := w.StoredBytes()
	if err != nil || got != want {
		t.Errorf("StoredBytes = %d, %v; want %d", got, err, want)
	}
	closeWriter(t, w)
}

func mediaType(t *testing.T, m interface {
	MediaType() (types.MediaType, error)
}) types.MediaType {
	t.Helper()
	mt, err := m.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return mt
}

func sizeOf(t *testing.T, l v1.Layer) int64 {
	t.Helper()
	n, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
