package provider

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/internal/bundletest"
	"airgap-site/provider/contract"
	"airgap-site/provider/imagesync"
)

// TestSiteSettingsChangeTheProviderOnly: rotating the push password or adding a trusted key is
// an update of the provider (DiffConfig), never a replacement, and no change of any image.
func TestSiteSettingsChangeTheProviderOnly(t *testing.T) {
	f := newFixture(t)
	state := f.create(t, false)
	otherDir := filepath.Join(t.TempDir(), "other")
	bundletest.Write(t, otherDir, bundletest.Entry{Ref: "docker.io/library/app:1", Image: f.img})
	otherKey := bundletest.Sign(t, otherDir)
	for name, edit := range map[string]func(m resource.PropertyMap){
		"password": func(m resource.PropertyMap) { m["password"] = resource.MakeSecret(resource.NewStringProperty("new")) },
		"trustedKeys": func(m resource.PropertyMap) {
			m["trustedKeys"] = resource.NewArrayProperty(append(m["trustedKeys"].ArrayValue(), resource.NewStringProperty(otherKey)))
		},
	} {
		news := f.inputs.Copy()
		edit(news)
		oldCfg, _ := split(props(t, f.inputs))
		newCfg, _ := split(props(t, news))
		dc, err := f.srv.DiffConfig(f.provider, &pulumirpc.DiffRequest{Olds: oldCfg, News: newCfg})
		if err != nil {
			t.Fatal(err)
		}
		if dc.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(dc.GetReplaces()) != 0 || len(dc.GetDiffs()) != 1 || dc.GetDiffs()[0] != name {
			t.Errorf("%s: provider diff %v", name, dc)
		}
		d, err := f.srv.Diff(f.provider, &pulumirpc.DiffRequest{Urn: imageURN, Olds: props(t, state), News: props(t, news)})
		if err != nil {
			t.Fatal(err)
		}
		if d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
			t.Errorf("%s: the image changes: %v", name, d)
		}
	}
}

// TestAddingAnImageChangesNoOther: a bundle with one image more (the next visit's) leaves every
// image of the stack as it was: no input of an image names its siblings, so 20 images diff as
// no change, and the new one is a create.
func TestAddingAnImageChangesNoOther(t *testing.T) {
	base, err := random.Layer(32<<10, "application/vnd.oci.image.layer.v1.tar+gzip")
	if err != nil {
		t.Fatal(err)
	}
	var entries []bundletest.Entry
	for i := range 21 {
		top, _ := random.Layer(1<<10, "application/vnd.oci.image.layer.v1.tar+gzip")
		img, err := mutate.AppendLayers(emptyImage(t), base, top)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, bundletest.Entry{Ref: fmt.Sprintf("docker.io/library/app%d:1", i), Image: img})
	}
	twenty := filepath.Join(t.TempDir(), "twenty")
	bundletest.Write(t, twenty, entries[:20]...)
	key := bundletest.Sign(t, twenty)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	settings := func(dir string) resource.PropertyMap {
		return resource.PropertyMap{
			"bundle":      resource.NewStringProperty(dir),
			"endpoints":   resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(host)}),
			"insecure":    resource.NewBoolProperty(true),
			"trustedKeys": resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(key)}),
		}
	}
	inputs := func(i int, dir string) resource.PropertyMap {
		m := settings(dir)
		m["sourceRef"] = resource.NewStringProperty(entries[i].Ref)
		m["repository"] = resource.NewStringProperty(fmt.Sprintf("docker.io/library/app%d", i))
		m["tag"] = resource.NewStringProperty("1")
		return m
	}
	states := make([]resource.PropertyMap, 20)
	srv := &engine{New(nil)}
	for i := range 20 {
		resp, err := srv.Create(t.Context(), &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: urnOf(contract.ImageToken, fmt.Sprint(i)), Properties: props(t, inputs(i, twenty))})
		if err != nil {
			t.Fatal(err)
		}
		states[i], _ = unmarshal(resp.GetProperties())
	}
	// The repositories an image may mount the shared base from are derived from the bundle:
	// every other image's (they all share it), and not its own.
	cfg, _ := split(props(t, settings(twenty)))
	c, _ := unmarshal(cfg)
	sc := parseConfig(c)
	in := parseInputs(inputs(5, twenty))
	b, err := (&image{srv.Server}).bundle(&sc)
	if err != nil {
		t.Fatal(err)
	}
	src, err := imagesync.BundleSource(b, in.SourceRef)
	if err != nil {
		t.Fatal(err)
	}
	cands := (&image{srv.Server}).mountCandidates(&sc, in, src)
	if len(cands) != 19 || slices.Contains(cands, "docker.io/library/app5") || !slices.Contains(cands, "docker.io/library/app0") {
		t.Errorf("mount candidates of app5: %v", cands)
	}
	// The next visit's bundle: the same 20 images and one more, signed by the same key.
	next := filepath.Join(t.TempDir(), "next")
	bundletest.Write(t, next, entries...)
	nextKey := bundletest.Sign(t, next)
	nextSrv := &engine{New(nil)} // the next up's provider
	for i := range 20 {
		news := inputs(i, next)
		news["trustedKeys"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(nextKey)})
		d, err := nextSrv.Diff(t.Context(), &pulumirpc.DiffRequest{Urn: urnOf(contract.ImageToken, fmt.Sprint(i)), Olds: props(t, states[i]), News: props(t, news)})
		if err != nil {
			t.Fatal(err)
		}
		if d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
			t.Errorf("image %d changes when another is added: %v", i, d)
		}
	}
}

// TestInventory: a copy records, in the state, every manifest and blob the image holds in the
// site registry, with its size.
func TestInventory(t *testing.T) {
	f := newFixture(t)
	state := f.create(t, false)
	inv := state["inventory"].ObjectValue()
	want := map[string]int64{}
	m, _ := f.img.Manifest()
	want[m.Config.Digest.String()] = m.Config.Size
	for _, l := range m.Layers {
		want[l.Digest.String()] = l.Size
	}
	d, _ := f.img.Digest()
	raw, _ := f.img.RawManifest()
	want[d.String()] = int64(len(raw))
	if len(inv) != len(want) {
		t.Errorf("inventory %v, want %v", inv, want)
	}
	var total float64
	for k, size := range want {
		v, ok := inv[resource.PropertyKey(k)]
		if !ok || int64(v.NumberValue()) != size {
			t.Errorf("inventory[%s] = %v, want %d", k, v, size)
		}
		total += float64(size)
	}
	if state["totalBytes"].NumberValue() != total {
		t.Errorf("totalBytes %v, inventory sums to %v", state["totalBytes"], total)
	}
}

func emptyImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
