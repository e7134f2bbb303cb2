// Package imagetest builds random images for tests: layers of a given size and images with a
// platform (containerd refuses images without one); and reads digests and references.
package imagetest

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Layer is a random gzip layer of about size bytes.
func Layer(t testing.TB, size int64) v1.Layer {
	t.Helper()
	l, err := random.Layer(size, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Image builds an image for platform (e.g. "linux/amd64") from the given layers.
func Image(t testing.TB, platform string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	return img
}

// SharedBase returns n images for linux/amd64 that share one base layer of baseSize bytes,
// each with one unique layer of topSize bytes: the shape of real bundles.
func SharedBase(t testing.TB, n int, baseSize, topSize int64) []v1.Image {
	t.Helper()
	base := Layer(t, baseSize)
	out := make([]v1.Image, n)
	for i := range out {
		out[i] = Image(t, "linux/amd64", base, Layer(t, topSize))
	}
	return out
}

// Index builds an index with one child per platform, every child on base plus a unique layer
// of topSize bytes.
func Index(t testing.TB, base v1.Layer, topSize int64, platforms ...string) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, ps := range platforms {
		p, err := v1.ParsePlatform(ps)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: Image(t, ps, base, Layer(t, topSize)), Descriptor: v1.Descriptor{Platform: p}})
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

// Digest is the digest of an image, an index or a layer.
func Digest(t testing.TB, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Ref parses a reference.
func Ref(t testing.TB, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Contents are the digest and size of an image's manifest, config and layers, as the airgap
// provider records them in an Image's inventory output (digest -> size).
func Contents(t testing.TB, img v1.Image) map[string]int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{Digest(t, img).String(): int64(len(raw)), m.Config.Digest.String(): m.Config.Size}
	for _, l := range m.Layers {
		out[l.Digest.String()] = l.Size
	}
	return out
}
