package provider

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/provider/contract"
	"airgap-site/provider/internal/registrytest"
)

// TestDeltaBundleAtTheSite: an image of a delta bundle is copied when the site holds the blobs
// the bundle assumes (the base, copied by an earlier up from a full bundle), and sends only the
// new layer; against a site that lost an assumed blob it fails naming the blob, the image and
// the fix, without retrying and with nothing of the image pushed.
func TestDeltaBundleAtTheSite(t *testing.T) {
	base, _ := random.Layer(64<<10, "application/vnd.oci.image.layer.v1.tar+gzip")
	v1Top, _ := random.Layer(8<<10, "application/vnd.oci.image.layer.v1.tar+gzip")
	v2Top, _ := random.Layer(8<<10, "application/vnd.oci.image.layer.v1.tar+gzip")
	img := func(top v1.Layer) v1.Image {
		i, err := mutate.AppendLayers(emptyImage(t), base, top)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	full := filepath.Join(t.TempDir(), "full")
	bundletest.Write(t, full, bundletest.Entry{Ref: "docker.io/library/app:1", Image: img(v1Top)})
	fullKey := bundletest.Sign(t, full)

	// The delta: app:2 on the same base, which the site holds in docker.io/library/app.
	delta := filepath.Join(t.TempDir(), "delta")
	w, err := bundle.Create(delta)
	if err != nil {
		t.Fatal(err)
	}
	bd, _ := base.Digest()
	bs, _ := base.Size()
	w.AssumePresent(map[v1.Hash]bundle.AssumedBlob{bd: {Digest: bd, Size: bs, Repository: "docker.io/library/app"}})
	if _, err := w.AddImage("docker.io/library/app:2", img(v2Top)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	deltaKey := bundletest.Sign(t, delta)

	inputs := func(host, dir, key, tag string) resource.PropertyMap {
		return resource.PropertyMap{
			"bundle":      resource.NewStringProperty(dir),
			"endpoints":   resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(host)}),
			"insecure":    resource.NewBoolProperty(true),
			"trustedKeys": resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(key)}),
			"sourceRef":   resource.NewStringProperty("docker.io/library/app:" + tag),
			"repository":  resource.NewStringProperty("docker.io/library/app"),
			"tag":         resource.NewStringProperty(tag),
			"retryFor":    resource.NewNumberProperty(30),
		}
	}
	create := func(srv *engine, in resource.PropertyMap) (resource.PropertyMap, error) {
		resp, err := srv.Create(t.Context(), &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: imageURN, Properties: props(t, in)})
		if err != nil {
			return nil, err
		}
		return unmarshal(resp.GetProperties())
	}

	// A site converged from the full bundle takes the delta, sending only app:2's own blobs.
	site := registrytest.New(t)
	if _, err := create(&engine{New(nil)}, inputs(site.Host, full, fullKey, "1")); err != nil {
		t.Fatal(err)
	}
	state, err := create(&engine{New(nil)}, inputs(site.Host, delta, deltaKey, "2"))
	if err != nil {
		t.Fatalf("the delta at a site that holds its base: %v", err)
	}
	if sent := state["sentBytes"].NumberValue(); sent >= float64(bs) {
		t.Errorf("the delta sent %v bytes, the base alone is %d", sent, bs)
	}

	// A site that never had the base (or lost it): the image fails at once, naming the blob,
	// the image and the fix, and the registry gets nothing of it.
	lost := registrytest.New(t)
	start := 0
	lost.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			start++
		}
		return false
	})
	_, err = create(&engine{New(nil)}, inputs(lost.Host, delta, deltaKey, "2"))
	if err == nil || !strings.Contains(err.Error(), bd.String()) || !strings.Contains(err.Error(), "docker.io/library/app:2") ||
		!strings.Contains(err.Error(), "bring a full bundle") || strings.Contains(err.Error(), "gave up after") {
		t.Errorf("the delta at a site without its base: %v", err)
	}
	if start != 0 {
		t.Errorf("%d writing requests reached the registry", start)
	}
	if _, err := remote.Head(lost.Ref(t, "docker.io/library/app:2")); err == nil {
		t.Error("the image was pushed")
	}
}
