package bundle_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/mirror"
	"airgap-site/signing"
)

// countedLayer counts how often its content is opened: a delta writer must never fetch a
// layer it assumes the site holds.
type countedLayer struct {
	v1.Layer
	opened *atomic.Int32
}

func (l countedLayer) Compressed() (io.ReadCloser, error) {
	l.opened.Add(1)
	return l.Layer.Compressed()
}

func mustNormalize(t *testing.T, ref string) string {
	t.Helper()
	n, err := mirror.Normalize(ref)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func layerSize(t *testing.T, l v1.Layer) int64 {
	t.Helper()
	n, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// delta is a signed delta bundle of app:2 (base + top) and a two-platform index on the same
// base, written against a site that holds base in docker.io/library/app.
type delta struct {
	dir       string
	key       signing.Key
	base, top v1.Layer
	img       v1.Image
	idx       v1.ImageIndex
	opened    *atomic.Int32
}

func writeDelta(t *testing.T) *delta {
	t.Helper()
	d := &delta{dir: filepath.Join(t.TempDir(), "delta"), opened: &atomic.Int32{}}
	d.base = countedLayer{Layer: layer(t), opened: d.opened}
	d.top = layer(t)
	d.img = image(t, "linux/amd64", d.base, d.top)
	d.idx = index(t, d.base, "linux/amd64", "linux/arm64")
	w := create(t, d.dir)
	w.AssumePresent(map[v1.Hash]bundle.AssumedBlob{
		imagetest.Digest(t, d.base): {Size: layerSize(t, d.base), Repository: "docker.io/library/app"},
		// The top layer, with another size: not the same blob, so it is carried.
		imagetest.Digest(t, d.top): {Size: layerSize(t, d.top) + 1, Repository: "docker.io/library/app"},
	})
	addImage(t, w, "app:2", d.img)
	if _, err := w.AddIndex("ghcr.io/org/multi:1", d.idx); err != nil {
		t.Fatal(err)
	}
	closeWriter(t, w)
	s, k := newSigner(t)
	if err := w.Sign(s); err != nil {
		t.Fatal(err)
	}
	d.key = k
	return d
}

func (d *delta) open(t *testing.T) (*bundle.Bundle, error) {
	t.Helper()
	b, _, err := bundle.OpenVerified(d.dir, bundle.Trust{Keys: []signing.Key{d.key}})
	return b, err
}

// TestDeltaWriter: a layer the site holds is neither fetched nor stored, bundle.json assumes
// it (the digest, size and repository given), every manifest and config is stored, and the
// bundle verifies and checks like a full one.
func TestDeltaWriter(t *testing.T) {
	d := writeDelta(t)
	base := imagetest.Digest(t, d.base)
	if n := d.opened.Load(); n != 0 {
		t.Errorf("the assumed layer was opened %d times, want never", n)
	}
	if _, err := os.Stat(blobFile(d.dir, base)); !os.IsNotExist(err) {
		t.Errorf("the assumed layer is stored (%v)", err)
	}
	b, err := d.open(t)
	if err != nil {
		t.Fatal(err)
	}
	want := bundle.AssumedBlob{Digest: base, Size: layerSize(t, d.base), Repository: "docker.io/library/app"}
	if got := b.Assumes(); len(got) != 1 || got[0] != want || !b.IsDelta() {
		t.Errorf("Assumes = %+v, want only %+v", got, want)
	}
	for _, ref := range []string{"app:2", "ghcr.io/org/multi:1"} {
		if err := b.CheckBlobs(ref, nil); err != nil {
			t.Errorf("CheckBlobs(%s): %v", ref, err)
		}
		got, err := b.Assumed(ref)
		if err != nil || len(got) != 1 || got[base] != want {
			t.Errorf("Assumed(%s) = %+v, %v; want only the base", ref, got, err)
		}
		e := entryFor(t, b, mustNormalize(t, ref))
		if e.Assumed != want.Size || e.Size <= e.Assumed {
			t.Errorf("entry %s: size %d, assumed %d; want the base's %d assumed of more", ref, e.Size, e.Assumed, want.Size)
		}
	}
	// Reading the image for a copy: the carried layer reads, the assumed one says why not.
	img, err := b.Image("app:2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.RawConfigFile(); err != nil {
		t.Errorf("config of a delta image: %v", err)
	}
	l, err := img.LayerByDigest(imagetest.Digest(t, d.top))
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := l.Compressed(); err != nil {
		t.Errorf("carried layer: %v", err)
	} else {
		rc.Close()
	}
	l, err = img.LayerByDigest(base)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Compressed()
	wantErr(t, "reading an assumed layer", err, base.String(), "assumes the site registry holds it")
}

// A full bundle assumes nothing.
func TestFullBundleAssumesNothing(t *testing.T) {
	f := bundletest.New(t)
	b := bundletest.Open(t, f.Dir)
	got, err := b.Assumed("nginx:1.27")
	if err != nil || len(got) != 0 || b.IsDelta() || len(b.Assumes()) != 0 {
		t.Errorf("a full bundle: Assumed = %v, %v; Assumes = %v", got, err, b.Assumes())
	}
}

// TestDeltaTampered: what a delta bundle assumes is signed, and only what it assumes may be
// missing.
func TestDeltaTampered(t *testing.T) {
	t.Run("assumes edited without signing again", func(t *testing.T) {
		d := writeDelta(t)
		// Claim the top layer is at the site too, and remove it: a bundle that would push an
		// image whose layer nobody checked.
		top := imagetest.Digest(t, d.top)
		bundletest.EditJSON(t, filepath.Join(d.dir, bundle.ManifestFile), func(m map[string]any) {
			m["assumes"] = append(m["assumes"].([]any), map[string]any{"digest": top.String(), "size": layerSize(t, d.top), "repository": "docker.io/library/app"})
		})
		if err := os.Remove(blobFile(d.dir, top)); err != nil {
			t.Fatal(err)
		}
		_, err := d.open(t)
		wantErr(t, "OpenVerified of a bundle whose assumes changed", err, bundle.SignatureFile, "changed after it was signed")
	})
	t.Run("an unlisted blob removed", func(t *testing.T) {
		d := writeDelta(t)
		top := imagetest.Digest(t, d.top)
		if err := os.Remove(blobFile(d.dir, top)); err != nil {
			t.Fatal(err)
		}
		b, err := d.open(t)
		if err != nil {
			t.Fatal(err)
		}
		err = b.CheckBlobs("app:2", nil)
		wantErr(t, "CheckBlobs without an unlisted layer", err, top.String(), "missing from the bundle")
	})
	t.Run("an assumed blob carried but corrupt", func(t *testing.T) {
		d := writeDelta(t)
		base := imagetest.Digest(t, d.base)
		writeFile(t, blobFile(d.dir, base), []byte(strings.Repeat("x", int(layerSize(t, d.base)))))
		b, err := d.open(t)
		if err != nil {
			t.Fatal(err)
		}
		err = b.CheckBlobs("app:2", nil)
		wantErr(t, "CheckBlobs of a corrupt blob the bundle assumes", err, base.String(), "corrupt")
		// And it is carried, so a copy reads it (and checks it as it streams).
		if got, err := b.Assumed("app:2"); err != nil || len(got) != 0 {
			t.Errorf("Assumed of a carried blob = %v, %v; want none", got, err)
		}
	})
	t.Run("a config assumed", func(t *testing.T) {
		// Signed by whoever wrote it (unsigned here): a config is never assumed, since the
		// site reads it to copy and describe the image.
		d := writeDelta(t)
		m, err := d.img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		cfg := m.Config
		bundletest.EditJSON(t, filepath.Join(d.dir, bundle.ManifestFile), func(doc map[string]any) {
			doc["assumes"] = append(doc["assumes"].([]any), map[string]any{"digest": cfg.Digest.String(), "size": cfg.Size, "repository": "docker.io/library/app"})
		})
		if err := os.Remove(blobFile(d.dir, cfg.Digest)); err != nil {
			t.Fatal(err)
		}
		b := bundletest.Open(t, d.dir)
		err = b.CheckBlobs("app:2", nil)
		wantErr(t, "CheckBlobs without a config", err, cfg.Digest.String(), "a config is always carried")
	})
	t.Run("an assumed blob of another size", func(t *testing.T) {
		d := writeDelta(t)
		bundletest.EditJSON(t, filepath.Join(d.dir, bundle.ManifestFile), func(doc map[string]any) {
			a := doc["assumes"].([]any)[0].(map[string]any)
			a["size"] = a["size"].(float64) + 1
		})
		b := bundletest.Open(t, d.dir)
		err := b.CheckBlobs("app:2", nil)
		wantErr(t, "CheckBlobs of an assumed blob of another size", err, imagetest.Digest(t, d.base).String(), "the manifest says")
	})
}
