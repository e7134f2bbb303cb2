package transfer_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/internal/progress"
	"airgap-site/inventory"
	"airgap-site/provider/imagesync"
	"airgap-site/transfer"
)

const (
	nginx = "docker.io/library/nginx:1.27"
	app   = "ghcr.io/org/app:2"
	tool  = "ghcr.io/org/tool:1"
)

// size helpers, computed from the images themselves, not by the code under test.
func manifestSize(t *testing.T, m interface{ RawManifest() ([]byte, error) }) int64 {
	t.Helper()
	raw, err := m.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(raw))
}

func configSize(t *testing.T, img v1.Image) int64 {
	t.Helper()
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(raw))
}

func layerSize(t *testing.T, l v1.Layer) int64 {
	t.Helper()
	n, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// own is what an image alone sends to an empty registry: its manifest, its config and the
// given layers.
func own(t *testing.T, img v1.Image, layers ...v1.Layer) int64 {
	n := manifestSize(t, img) + configSize(t, img)
	for _, l := range layers {
		n += layerSize(t, l)
	}
	return n
}

// stateImage is an Image resource of a stack's state, as provider 0.5 records it (inventory
// nil: as provider 0.4 did, without one).
type stateImage struct {
	ref       string
	digest    v1.Hash
	inventory imagesync.Sizes
}

// state is `pulumi stack export` of a stack holding images, read as the CLI reads it.
func state(t *testing.T, images ...stateImage) *inventory.Inventory {
	t.Helper()
	return stateWith(t, nil, images...)
}

// stateWith is state with other resources of the stack (a RegistryUsage) after the images.
func stateWith(t *testing.T, others []map[string]any, images ...stateImage) *inventory.Inventory {
	t.Helper()
	var resources []map[string]any
	for _, img := range images {
		repo, tag, _ := strings.Cut(img.ref, ":")
		outputs := map[string]any{"repository": repo, "tag": tag, "digest": img.digest.String()}
		if img.inventory != nil {
			inv := map[string]float64{}
			for h, n := range img.inventory {
				inv[h.String()] = float64(n)
			}
			outputs["inventory"] = inv
		}
		resources = append(resources, map[string]any{
			"urn":     "urn:pulumi:osaka::airgap-site::airgap-site:index:Images$airgap:index:Image::osaka-images-" + img.ref,
			"type":    "airgap:index:Image",
			"outputs": outputs,
		})
	}
	resources = append(resources, others...)
	raw, err := json.Marshal(map[string]any{"version": 3, "deployment": map[string]any{"resources": resources}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// deployed is the state an up of refs from b leaves: each image with the inventory the
// provider records (imagesync.Contents of the image and what is attached to it).
func deployed(t *testing.T, b *bundle.Bundle, refs ...string) *inventory.Inventory {
	t.Helper()
	return state(t, deployedImages(t, b, refs...)...)
}

func deployedImages(t *testing.T, b *bundle.Bundle, refs ...string) []stateImage {
	t.Helper()
	var images []stateImage
	for _, ref := range refs {
		desc, err := b.Lookup(ref)
		if err != nil {
			t.Fatal(err)
		}
		var src imagesync.Source
		if desc.MediaType.IsIndex() {
			src.Index, err = b.Index(ref)
		} else {
			src.Image, err = b.Image(ref)
		}
		if err != nil {
			t.Fatal(err)
		}
		c, err := imagesync.Contents(src)
		if err != nil {
			t.Fatal(err)
		}
		atts, err := imagesync.AttachmentsOf(b, ref, desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range atts {
			ac, err := imagesync.Contents(a.Source)
			if err != nil {
				t.Fatal(err)
			}
			c.Add(ac)
		}
		images = append(images, stateImage{ref: ref, digest: desc.Digest, inventory: c})
	}
	return images
}

func estimate(t *testing.T, site *inventory.Inventory, b *bundle.Bundle, refs ...string) *transfer.Estimate {
	t.Helper()
	est, err := transfer.Of(site, b, refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(est.Images) != len(refs) {
		t.Fatalf("%d images estimated, want %d", len(est.Images), len(refs))
	}
	var sum int64
	for _, img := range est.Images {
		sum += img.Bytes
	}
	if sum != est.Bytes {
		t.Errorf("total %d is not the sum of the images' %d", est.Bytes, sum)
	}
	return est
}

// site is a bundle of two images on a shared base and a third on its own.
type site struct {
	dir              string
	base, top1, top2 v1.Layer
	nginx, app       v1.Image
}

func newSite(t *testing.T) *site {
	s := &site{dir: t.TempDir(), base: imagetest.Layer(t, 300<<10), top1: imagetest.Layer(t, 20<<10), top2: imagetest.Layer(t, 30<<10)}
	s.nginx = imagetest.Image(t, "linux/amd64", s.base, s.top1)
	s.app = imagetest.Image(t, "linux/amd64", s.base, s.top2)
	bundletest.Write(t, s.dir, bundletest.Entry{Ref: nginx, Image: s.nginx}, bundletest.Entry{Ref: app, Image: s.app})
	return s
}

// TestNeverDeployed: a stack never deployed sends everything, the shared base once: the first
// image sends it, the second mounts it.
func TestNeverDeployed(t *testing.T) {
	s := newSite(t)
	b := bundletest.Open(t, s.dir)
	est := estimate(t, nil, b, nginx, app)
	want0 := own(t, s.nginx, s.base, s.top1)
	want1 := own(t, s.app, s.top2)
	if got := est.Images[0]; got.Bytes != want0 || got.Total != want0 || got.Sent != 4 || got.Shared != 0 {
		t.Errorf("nginx: %+v; want %d bytes, 4 sent", got, want0)
	}
	if got := est.Images[1]; got.Bytes != want1 || got.Shared != layerSize(t, s.base) || got.Total != want1+layerSize(t, s.base) {
		t.Errorf("app: %+v; want %d bytes, the base (%d) mounted", got, want1, layerSize(t, s.base))
	}
	for _, img := range est.Images {
		if img.NoInventory || img.Unchanged || len(img.Missing) > 0 {
			t.Errorf("%s: %+v; a stack never deployed holds nothing, which is known", img.Reference, img)
		}
	}
	if est.Bytes != want0+want1 || len(est.Sending()) != 2 || len(est.Without) != 0 {
		t.Errorf("total %d, want %d; sending %d", est.Bytes, want0+want1, len(est.Sending()))
	}
	// An empty state is a stack never deployed.
	if again := estimate(t, state(t), b, nginx, app); again.Bytes != est.Bytes {
		t.Errorf("an empty state: %d bytes, want %d", again.Bytes, est.Bytes)
	}
}

// TestAlreadyThere: after the up, the same bundle sends nothing: each tag names its digest.
func TestAlreadyThere(t *testing.T) {
	s := newSite(t)
	b := bundletest.Open(t, s.dir)
	est := estimate(t, deployed(t, b, nginx, app), b, nginx, app)
	for _, img := range est.Images {
		if img.Bytes != 0 || !img.Unchanged || img.Total == 0 {
			t.Errorf("%s: %+v; want unchanged, 0 bytes", img.Reference, img)
		}
	}
	if est.Bytes != 0 || len(est.Sending()) != 0 {
		t.Errorf("sends %d bytes", est.Bytes)
	}
}

// TestAddedImageAndUpdate: an image added on the shared base sends its own layer, config and
// manifest, not the base the site holds; a new version of an image sends what changed only.
func TestAddedImageAndUpdate(t *testing.T) {
	s := newSite(t)
	before := deployed(t, bundletest.Open(t, s.dir), nginx, app)
	top3, top4 := imagetest.Layer(t, 40<<10), imagetest.Layer(t, 50<<10)
	added := imagetest.Image(t, "linux/amd64", s.base, top3)
	app3 := imagetest.Image(t, "linux/amd64", s.base, s.top2, top4)
	dir := t.TempDir()
	bundletest.Write(t, dir, bundletest.Entry{Ref: nginx, Image: s.nginx}, bundletest.Entry{Ref: app, Image: app3},
		bundletest.Entry{Ref: tool, Image: added})
	b := bundletest.Open(t, dir)
	est := estimate(t, before, b, nginx, app, tool)
	if !est.Images[0].Unchanged || est.Images[0].Bytes != 0 {
		t.Errorf("nginx: %+v; want unchanged", est.Images[0])
	}
	if got, want := est.Images[1].Bytes, own(t, app3, top4); got != want {
		t.Errorf("app, updated: %d bytes, want %d (its new layer, config and manifest)", got, want)
	}
	if got, want := est.Images[2].Bytes, own(t, added, top3); got != want {
		t.Errorf("tool, added: %d bytes, want %d (its layer, config and manifest, not the base)", got, want)
	}
	if names := refsOf(est.Sending()); !slices.Equal(names, []string{app, tool}) {
		t.Errorf("sending %v, want app and tool", names)
	}
}

func refsOf(images []transfer.Image) []string {
	var out []string
	for _, img := range images {
		out = append(out, img.Reference)
	}
	return out
}

// TestSameImageInTwoRepositories: a manifest is put in each repository (it cannot be mounted),
// a blob the site holds in another repository is mounted.
func TestSameImageInTwoRepositories(t *testing.T) {
	s := newSite(t)
	before := deployed(t, bundletest.Open(t, s.dir), nginx)
	dir := t.TempDir()
	bundletest.Write(t, dir, bundletest.Entry{Ref: nginx, Image: s.nginx}, bundletest.Entry{Ref: "quay.io/mirror/nginx:1.27", Image: s.nginx})
	est := estimate(t, before, bundletest.Open(t, dir), nginx, "quay.io/mirror/nginx:1.27")
	if got, want := est.Images[1].Bytes, manifestSize(t, s.nginx); got != want || est.Images[1].Sent != 1 {
		t.Errorf("the copy in another repository: %+v; want its manifest alone, %d bytes", est.Images[1], want)
	}
}

// TestIndex: every child manifest and layer of a multi-arch index counts, the base once.
func TestIndex(t *testing.T) {
	base := imagetest.Layer(t, 100<<10)
	idx := imagetest.Index(t, base, 10<<10, "linux/amd64", "linux/arm64")
	dir := t.TempDir()
	bundletest.Write(t, dir, bundletest.Entry{Ref: app, Index: idx})
	est := estimate(t, nil, bundletest.Open(t, dir), app)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := manifestSize(t, idx) + layerSize(t, base)
	for _, d := range im.Manifests {
		child, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		layers, _ := child.Layers()
		want += own(t, child, layers[1])
	}
	if got := est.Images[0]; got.Bytes != want || got.Sent != 1+2*3+1 {
		t.Errorf("index: %+v; want %d bytes in 8 manifests and blobs", got, want)
	}
}

// TestAttachment: a signature copied beside its image sends its manifest, config and layer
// too; once at the site, they are part of what the site holds.
func TestAttachment(t *testing.T) {
	s := newSite(t)
	sig := signature(t)
	d := imagetest.Digest(t, s.nginx)
	sigRef, err := bundle.AttachedRef(nginx, d, bundle.Signatures)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundletest.Write(t, dir, bundletest.Entry{Ref: nginx, Image: s.nginx}, bundletest.Entry{Ref: sigRef, Image: sig})
	b := bundletest.Open(t, dir)
	sigLayers, _ := sig.Layers()
	want := own(t, s.nginx, s.base, s.top1) + own(t, sig, sigLayers...)
	if got := estimate(t, nil, b, nginx).Images[0]; got.Bytes != want || got.Total != want {
		t.Errorf("with its signature: %+v; want %d bytes", got, want)
	}
	// Once copied, the image and its signature are what the state records: nothing to send.
	after := deployed(t, b, nginx)
	if got := estimate(t, after, b, nginx).Images[0]; !got.Unchanged {
		t.Errorf("after the up: %+v", got)
	}
}

// signature is a small cosign-like signature image.
func signature(t *testing.T) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer([]byte(`{"critical":{}}`), "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": "c2ln"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestDeltaBundle: a delta bundle made against the state sends what a full bundle would: its
// assumed base is at the site. Against a state that lacks it (the bundle was made against
// another stack), the base is named as missing and not counted: it cannot be sent.
func TestDeltaBundle(t *testing.T) {
	s := newSite(t)
	before := deployed(t, bundletest.Open(t, s.dir), nginx)
	top3 := imagetest.Layer(t, 40<<10)
	added := imagetest.Image(t, "linux/amd64", s.base, top3)
	dir := filepath.Join(t.TempDir(), "delta")
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.AssumePresent(map[v1.Hash]bundle.AssumedBlob{
		imagetest.Digest(t, s.base): {Size: layerSize(t, s.base), Repository: "docker.io/library/nginx"},
	})
	if _, err := w.AddImage(tool, added); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := bundletest.Open(t, dir)
	if !b.IsDelta() {
		t.Fatal("not a delta bundle")
	}
	got := estimate(t, before, b, tool).Images[0]
	if want := own(t, added, top3); got.Bytes != want || len(got.Missing) != 0 {
		t.Errorf("delta: %+v; want %d bytes, nothing missing", got, want)
	}
	other := estimate(t, nil, b, tool).Images[0]
	if want := own(t, added, top3); other.Bytes != want || len(other.Missing) != 1 || other.Missing[0].Digest != imagetest.Digest(t, s.base) {
		t.Errorf("delta against a site without its base: %+v; want %d bytes and the base missing", other, want)
	}
}

// TestOlderState: an image whose state predates inventories sends nothing while its digest is
// unchanged (the up does not copy it), else is counted as if its repository held nothing; the
// estimate names it.
func TestOlderState(t *testing.T) {
	s := newSite(t)
	b := bundletest.Open(t, s.dir)
	old := state(t, stateImage{ref: nginx, digest: imagetest.Digest(t, s.nginx)}, stateImage{ref: app, digest: imagetest.Digest(t, s.nginx)})
	est := estimate(t, old, b, nginx, app)
	if got := est.Images[0]; !got.Unchanged || got.Bytes != 0 {
		t.Errorf("unchanged 0.4 image: %+v", got)
	}
	if got, want := est.Images[1], own(t, s.app, s.base, s.top2); !got.NoInventory || got.Bytes != want {
		t.Errorf("changed 0.4 image: %+v; want counted in full, %d bytes", got, want)
	}
	if !slices.Equal(est.Without, []string{nginx, app}) {
		t.Errorf("Without = %v", est.Without)
	}
}

// TestNotInBundle: an image the bundle lacks is an error naming it.
func TestNotInBundle(t *testing.T) {
	s := newSite(t)
	_, err := transfer.Of(nil, bundletest.Open(t, s.dir), []string{nginx, tool})
	if err == nil || !strings.Contains(err.Error(), tool) || !strings.Contains(err.Error(), "not in bundle") {
		t.Errorf("err = %v, want one naming %s", err, tool)
	}
}

// TestReport: per image and in total, with the time at the link's rate when it is known.
func TestReport(t *testing.T) {
	s := newSite(t)
	b := bundletest.Open(t, s.dir)
	before := deployed(t, b, nginx)
	est := estimate(t, before, b, nginx, app)
	var out strings.Builder
	if err := est.Write(&out, 0, ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{nginx + "  ", "unchanged", app, "Total: ", "by 1 of 2 images", "set images.linkBytesPerSecond"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := est.Write(&out, 1000, "images.linkBytesPerSecond"); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("(%d bytes), by 1 of 2 images: about %s at images.linkBytesPerSecond 1000 (1.0 kB/s)", est.Bytes, progress.Duration(transfer.Duration(est.Bytes, 1000)))
	if !strings.Contains(out.String(), want) {
		t.Errorf("with a rate, the total lacks %q:\n%s", want, out.String())
	}
	if got := transfer.Duration(2_500_000, 250_000); got != 10*time.Second {
		t.Errorf("Duration = %s, want 10s", got)
	}
	if transfer.Duration(1, 0) != 0 || transfer.Duration(1, -5) != 0 {
		t.Errorf("Duration without a rate is not 0")
	}
}

// TestRollbackToAKeptVersion: going back to a version the retention kept sends nothing: the
// last measure of the registry usage (held) says its repository links its manifest and blobs,
// which no Image of the state records any more.
func TestRollbackToAKeptVersion(t *testing.T) {
	s := newSite(t)
	top4 := imagetest.Layer(t, 50<<10)
	app3 := imagetest.Image(t, "linux/amd64", s.base, top4)
	const kept = "ghcr.io/org/app:1"
	current, old := t.TempDir(), t.TempDir()
	bundletest.Write(t, current, bundletest.Entry{Ref: app, Image: app3})
	bundletest.Write(t, old, bundletest.Entry{Ref: kept, Image: s.app})
	images := deployedImages(t, bundletest.Open(t, current), app)
	held := map[string]float64{}
	for _, img := range deployedImages(t, bundletest.Open(t, old), kept) {
		for h, n := range img.inventory {
			held["ghcr.io/org/app@"+h.String()] = float64(n)
		}
	}
	usage := map[string]any{"urn": "urn:pulumi:osaka::airgap-site::airgap:index:RegistryUsage::osaka-usage",
		"type": "airgap:index:RegistryUsage", "outputs": map[string]any{"held": held}}
	b := bundletest.Open(t, old)
	if est := estimate(t, stateWith(t, []map[string]any{usage}, images...), b, kept); est.Bytes != 0 {
		t.Errorf("a rollback to the kept version sends %d bytes: %+v", est.Bytes, est.Images[0])
	}
	// A state of provider 0.7 (no held) counts what the images record only.
	if est := estimate(t, state(t, images...), b, kept); est.Bytes != own(t, s.app, s.top2) {
		t.Errorf("without held: %d bytes, want the kept version's own %d", est.Bytes, own(t, s.app, s.top2))
	}
}
