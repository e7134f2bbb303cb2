package bundle_test

import (
	"path/filepath"
	"strings"
	"testing"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
)

func TestAttachedRef(t *testing.T) {
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 512))
	d := imagetest.Digest(t, img)
	for ref, want := range map[string]string{
		"nginx:1.27": "docker.io/library/nginx:sha256-" + d.Hex + ".sig",
		"registry.local:5443/factory/mes@" + d.String(): "registry.local:5443/factory/mes:sha256-" + d.Hex + ".sig",
	} {
		got, err := bundle.AttachedRef(ref, d, bundle.Signatures)
		if err != nil || got != want {
			t.Errorf("AttachedRef(%s) = %s, %v; want %s", ref, got, err, want)
		}
	}
}

// TestAttachedKinds: an entry under an attached name must be what its kind stores; an image
// with nothing attached has none.
func TestAttachedKinds(t *testing.T) {
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 512))
	d := imagetest.Digest(t, img)
	idx := imagetest.Index(t, imagetest.Layer(t, 512), 512, "linux/amd64")
	sigRef, _ := bundle.AttachedRef("docker.io/vendor/app:1", d, bundle.Signatures)
	refsRef, _ := bundle.AttachedRef("docker.io/vendor/app:1", d, bundle.Referrers)

	dir := filepath.Join(t.TempDir(), "ok")
	bundletest.Write(t, dir, bundletest.Entry{Ref: "docker.io/vendor/app:1", Image: img},
		bundletest.Entry{Ref: "docker.io/vendor/plain:1", Image: img},
		bundletest.Entry{Ref: sigRef, Image: img}, bundletest.Entry{Ref: refsRef, Index: idx})
	b := bundletest.Open(t, dir)
	as, err := b.Attached("docker.io/vendor/app:1", d)
	if err != nil || len(as) != 2 || as[0].Kind != bundle.Signatures || as[1].Kind != bundle.Referrers || as[1].Reference != refsRef {
		t.Errorf("Attached = %+v, %v", as, err)
	}
	if as, err := b.Attached("docker.io/vendor/plain:1", d); err != nil || len(as) != 0 {
		t.Errorf("nothing attached: %+v, %v", as, err)
	}

	bad := filepath.Join(t.TempDir(), "bad")
	bundletest.Write(t, bad, bundletest.Entry{Ref: "docker.io/vendor/app:1", Image: img}, bundletest.Entry{Ref: sigRef, Index: idx})
	if _, err := bundletest.Open(t, bad).Attached("docker.io/vendor/app:1", d); err == nil || !strings.Contains(err.Error(), "signatures are an image manifest") {
		t.Errorf("an index as signatures: %v", err)
	}
}
