package bundle_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
)

func TestCheckBlobsFindsACorruptLayer(t *testing.T) {
	dir := t.TempDir()
	base := imagetest.Layer(t, 4096)
	idx := imagetest.Index(t, base, 2048, "linux/amd64", "linux/arm64")
	img := imagetest.Image(t, "linux/amd64", base, imagetest.Layer(t, 2048))
	bundletest.Write(t, dir, bundletest.Entry{Ref: "docker.io/library/app:1", Image: img},
		bundletest.Entry{Ref: "ghcr.io/org/multi:2", Index: idx})
	b := bundletest.Open(t, dir)
	var checked bundle.Checked
	for _, ref := range []string{"docker.io/library/app:1", "ghcr.io/org/multi:2"} {
		if err := b.CheckBlobs(ref, &checked); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
	}
	// The shared base layer, corrupted in place (same size): both images are refused by a
	// fresh check, naming the blob.
	d := imagetest.Digest(t, base)
	path := filepath.Join(dir, "blobs", "sha256", d.Hex)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"docker.io/library/app:1", "ghcr.io/org/multi:2"} {
		err := bundletest.Open(t, dir).CheckBlobs(ref, nil)
		if err == nil || !strings.Contains(err.Error(), d.String()) || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("%s with a corrupt layer: %v", ref, err)
		}
	}
	// Truncated.
	if err := os.WriteFile(path, raw[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bundletest.Open(t, dir).CheckBlobs("docker.io/library/app:1", nil); err == nil || !strings.Contains(err.Error(), "10 bytes") {
		t.Errorf("truncated layer: %v", err)
	}
}
