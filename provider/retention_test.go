package provider

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/provider/contract"
	"airgap-site/provider/retention"
)

var retentionURN = urnOf(contract.RetentionToken, "retention")

// retentionFixture is a site registry holding three versions of one app and the settings
// that reach it.
type retentionFixture struct {
	srv      *engine
	host     string
	digests  []string // of app:1, app:2, app:3
	settings resource.PropertyMap
}

func newRetentionFixture(t *testing.T) *retentionFixture {
	t.Helper()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	f := &retentionFixture{srv: &engine{New(nil)}, host: strings.TrimPrefix(reg.URL, "http://")}
	for _, tag := range []string{"1", "2", "3"} {
		img, err := random.Image(1024, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(f.host+"/docker.io/library/app:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		f.digests = append(f.digests, d.String())
	}
	f.settings = resource.PropertyMap{
		"endpoints": resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(f.host)}),
		"insecure":  resource.NewBoolProperty(true),
	}
	return f
}

func (f *retentionFixture) inputs(keep int, images map[string]string) resource.PropertyMap {
	m := f.settings.Copy()
	m["keepPrevious"] = resource.NewNumberProperty(float64(keep))
	m["images"] = resource.NewPropertyValue(images)
	return m
}

func (f *retentionFixture) update(t *testing.T, olds, news resource.PropertyMap, preview bool) contract.RetentionOutputs {
	t.Helper()
	resp, err := f.srv.Update(context.Background(), &pulumirpc.UpdateRequest{
		Type: contract.RetentionToken, Urn: retentionURN, Olds: props(t, olds), News: props(t, news), Preview: preview,
	})
	if err != nil {
		t.Fatal(err)
	}
	state, err := unmarshal(resp.GetProperties())
	if err != nil {
		t.Fatal(err)
	}
	var out contract.RetentionOutputs
	decode(state, contract.Retention.Outputs, &out)
	return out
}

func (f *retentionFixture) head(ref string) error {
	r, err := name.ParseReference(f.host+"/"+ref, name.Insecure)
	if err != nil {
		return err
	}
	_, err = remote.Head(r)
	return err
}

// TestRetentionKeepsThenDrops: with keepPrevious 1, moving app:1 -> app:2 keeps app:1 under
// its kept tag; app:2 -> app:3 keeps app:2 and deletes app:1 by digest. A preview plans the
// same outputs and touches nothing.
func TestRetentionKeepsThenDrops(t *testing.T) {
	f := newRetentionFixture(t)
	d := f.digests
	resp, err := f.srv.Create(context.Background(), &pulumirpc.CreateRequest{
		Type: contract.RetentionToken, Urn: retentionURN, Properties: props(t, f.inputs(1, map[string]string{"docker.io/library/app:1": d[0]})),
	})
	if err != nil {
		t.Fatal(err)
	}
	first, err := unmarshal(resp.GetProperties())
	if err != nil {
		t.Fatal(err)
	}
	first = withSettings(first, f.settings)

	second := f.inputs(1, map[string]string{"docker.io/library/app:2": d[1]})
	planned := f.update(t, first, second, true)
	if err := f.head("docker.io/library/app:" + retention.KeptTag(d[0])); err == nil {
		t.Fatal("a preview tagged a version")
	}
	out := f.update(t, first, second, false)
	if !reflect.DeepEqual(planned, out) {
		t.Errorf("the preview planned %+v, the update did %+v", planned, out)
	}
	if want := []string{"docker.io/library/app:1@" + d[0]}; !reflect.DeepEqual(out.Previous, want) || out.DeletedVersions != 0 {
		t.Errorf("after app:2: %+v, want previous %v and nothing deleted", out, want)
	}
	if err := f.head("docker.io/library/app:" + retention.KeptTag(d[0])); err != nil {
		t.Errorf("app:1 is not kept under its kept tag: %v", err)
	}

	state := second.Copy()
	state["previous"] = resource.NewPropertyValue(out.Previous)
	state["deletedVersions"] = resource.NewNumberProperty(0)
	third := f.inputs(1, map[string]string{"docker.io/library/app:3": d[2]})
	out = f.update(t, state, third, false)
	if want := []string{"docker.io/library/app:2@" + d[1]}; !reflect.DeepEqual(out.Previous, want) || out.DeletedVersions != 1 {
		t.Errorf("after app:3: %+v, want previous %v and one version deleted", out, want)
	}
	if err := f.head("docker.io/library/app@" + d[0]); err == nil {
		t.Errorf("app:1 (%s) is still in the registry beyond the window", d[0])
	}
	for _, ref := range []string{"docker.io/library/app@" + d[1], "docker.io/library/app@" + d[2]} {
		if err := f.head(ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

// TestRetentionDiff: adding an image is no change (so adding one image to a site previews as
// one create); a moved tag, a removed image or a new window is.
func TestRetentionDiff(t *testing.T) {
	f := newRetentionFixture(t)
	d := f.digests
	olds := f.inputs(1, map[string]string{"docker.io/library/app:1": d[0]})
	olds["previous"] = resource.NewPropertyValue([]string{})
	for _, tc := range []struct {
		name string
		news resource.PropertyMap
		want pulumirpc.DiffResponse_DiffChanges
	}{
		{"an image added", f.inputs(1, map[string]string{"docker.io/library/app:1": d[0], "docker.io/library/db:1": d[1]}), pulumirpc.DiffResponse_DIFF_NONE},
		{"nothing", f.inputs(1, map[string]string{"docker.io/library/app:1": d[0]}), pulumirpc.DiffResponse_DIFF_NONE},
		{"a moved tag", f.inputs(1, map[string]string{"docker.io/library/app:1": d[1]}), pulumirpc.DiffResponse_DIFF_SOME},
		{"an image removed", f.inputs(1, map[string]string{}), pulumirpc.DiffResponse_DIFF_SOME},
		{"a new window", f.inputs(2, map[string]string{"docker.io/library/app:1": d[0]}), pulumirpc.DiffResponse_DIFF_SOME},
	} {
		resp, err := f.srv.Diff(context.Background(), &pulumirpc.DiffRequest{
			Type: contract.RetentionToken, Urn: retentionURN, Olds: props(t, olds), News: props(t, tc.news),
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.GetChanges() != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, resp.GetChanges(), tc.want)
		}
	}
}

// TestRetentionCheckNamesBadInputs.
func TestRetentionCheckNamesBadInputs(t *testing.T) {
	f := newRetentionFixture(t)
	for _, tc := range []struct {
		name, prop string
		news       resource.PropertyMap
	}{
		{"negative window", "keepPrevious", f.inputs(-1, map[string]string{"docker.io/library/app:1": f.digests[0]})},
		{"no tag", "images", f.inputs(1, map[string]string{"docker.io/library/app": f.digests[0]})},
		{"bad digest", "images", f.inputs(1, map[string]string{"docker.io/library/app:1": "sha256:nope"})},
	} {
		resp, err := f.srv.Check(context.Background(), &pulumirpc.CheckRequest{Type: contract.RetentionToken, Urn: retentionURN, News: props(t, tc.news)})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetFailures()) != 1 || resp.GetFailures()[0].GetProperty() != tc.prop {
			t.Errorf("%s: failures %v, want one on %s", tc.name, resp.GetFailures(), tc.prop)
		}
	}
}
