package imagesync

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airgap-site/internal/bundletest"
	"airgap-site/provider/internal/registrytest"
)

// TestCorruptBundleBlobsAreNeverPushed: a layer or a config of a bundle changed on disk fails
// the copy with an error naming its digest, and the registry gets neither the blob nor the tag.
// Layers are checked as they stream (verifyingReader), configs when read (package bundle).
func TestCorruptBundleBlobsAreNeverPushed(t *testing.T) {
	for _, tc := range []struct {
		name string
		// blob picks the blob of the image to change.
		blob   func(m *v1.Manifest) v1.Hash
		change func(b []byte) []byte
		want   string
	}{
		{"layer changed", lastLayer, flipByte, "corrupt in the source"},
		{"layer truncated", lastLayer, func(b []byte) []byte { return b[:len(b)/2] }, "corrupt in the source"},
		{"config changed", func(m *v1.Manifest) v1.Hash { return m.Config.Digest }, flipByte, "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := bundletest.New(t)
			m, err := f.Image.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			h := tc.blob(m)
			path := filepath.Join(f.Dir, "blobs", "sha256", h.Hex)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.change(raw), 0o644); err != nil {
				t.Fatal(err)
			}
			img, err := bundletest.Open(t, f.Dir).Image("nginx:1.27")
			if err != nil {
				t.Fatal(err) // the manifests are intact: only the blob is found corrupt
			}
			reg := registrytest.New(t)
			dst := reg.Ref(t, "docker.io/library/nginx:1.27")
			_, err = Copy(context.Background(), Source{Image: img}, dst, once(Options{}))
			if err == nil || !strings.Contains(err.Error(), h.String()) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("copy of a bundle with blob %s changed: err = %v, want %q naming the blob", h, err, tc.want)
			}
			if h != m.Config.Digest {
				var corrupt *CorruptError
				if !errors.As(err, &corrupt) || corrupt.Digest != h {
					t.Errorf("err = %v, want a CorruptError for %s", err, h)
				}
			}
			if exists(t, reg, "docker.io/library/nginx:1.27") {
				t.Error("the tag was written")
			}
			l, err := remote.Layer(dst.Context().Digest(h.String()))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Size(); err == nil {
				t.Errorf("the registry holds blob %s", h)
			}
		})
	}
}

func lastLayer(m *v1.Manifest) v1.Hash { return m.Layers[len(m.Layers)-1].Digest }

// flipByte changes one byte in the middle, keeping the size.
func flipByte(b []byte) []byte {
	b = append([]byte(nil), b...)
	b[len(b)/2] ^= 0xff
	return b
}
