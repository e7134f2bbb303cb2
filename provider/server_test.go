package provider

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/provider/contract"
)

type fixture struct {
	srv      *engine
	host     string
	bundle   string
	img      v1.Image
	inputs   resource.PropertyMap
	provider context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	dir := filepath.Join(t.TempDir(), "bundle")
	img, err := random.Image(64<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	bundletest.Write(t, dir, bundletest.Entry{Ref: "docker.io/library/app:1", Image: img})
	key := bundletest.Sign(t, dir)
	host := strings.TrimPrefix(reg.URL, "http://")
	return &fixture{
		srv: &engine{New(nil)}, host: host, bundle: dir, img: img, provider: context.Background(),
		inputs: resource.PropertyMap{
			"bundle":      resource.NewStringProperty(dir),
			"sourceRef":   resource.NewStringProperty("app:1"),
			"endpoints":   resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(host)}),
			"insecure":    resource.NewBoolProperty(true),
			"repository":  resource.NewStringProperty("docker.io/library/app"),
			"tag":         resource.NewStringProperty("1"),
			"password":    resource.MakeSecret(resource.NewStringProperty("pw")),
			"trustedKeys": resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(key)}),
		},
	}
}

func props(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) create(t *testing.T, preview bool) resource.PropertyMap {
	t.Helper()
	resp, err := f.srv.Create(f.provider, &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: imageURN, Properties: props(t, f.inputs), Preview: preview})
	if err != nil {
		t.Fatal(err)
	}
	out, err := unmarshal(resp.GetProperties())
	if err != nil {
		t.Fatal(err)
	}
	if !preview && resp.GetId() != f.host+"/docker.io/library/app:1" {
		t.Errorf("id = %q", resp.GetId())
	}
	for _, p := range contract.Provider.Inputs {
		if _, ok := out[resource.PropertyKey(p.Name)]; ok {
			t.Errorf("the image's state holds the provider's %s", p.Name)
		}
	}
	// The tests keep the settings beside the state, as they keep them beside the inputs.
	return withSettings(out, f.inputs)
}

func TestCheckNamesBadSources(t *testing.T) {
	f := newFixture(t)
	cases := map[string]func(m resource.PropertyMap){
		"sourceRef":    func(m resource.PropertyMap) { m["sourceRef"] = resource.NewStringProperty("docker.io/library/other:2") },
		"repository":   func(m resource.PropertyMap) { m["repository"] = resource.NewStringProperty("Bad Repo") },
		"tag":          func(m resource.PropertyMap) { delete(m, "tag") },
		"sourceRemote": func(m resource.PropertyMap) { m["sourceRemote"] = resource.NewStringProperty("x/y:1") },
	}
	for prop, edit := range cases {
		in := f.inputs.Copy()
		edit(in)
		resp, err := f.srv.Check(f.provider, &pulumirpc.CheckRequest{Type: contract.ImageToken, News: props(t, in)})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, fl := range resp.GetFailures() {
			found = found || fl.GetProperty() == prop
		}
		if !found {
			t.Errorf("%s: failures %v do not name it", prop, resp.GetFailures())
		}
	}
	resp, _ := f.srv.Check(f.provider, &pulumirpc.CheckRequest{Type: contract.ImageToken, News: props(t, f.inputs)})
	if len(resp.GetFailures()) != 0 {
		t.Errorf("valid inputs fail: %v", resp.GetFailures())
	}
}

func TestPreviewKnowsDigestAndCopiesNothing(t *testing.T) {
	f := newFixture(t)
	out := f.create(t, true)
	want, _ := f.img.Digest()
	if out["digest"].StringValue() != want.String() || !out["sentBytes"].IsComputed() {
		t.Errorf("preview outputs = %v", out)
	}
	ref, _ := name.ParseReference(f.host+"/docker.io/library/app:1", name.Insecure)
	if _, err := remote.Head(ref); err == nil {
		t.Errorf("preview copied the image")
	}
}

func TestDiffByDigestAndReadDrift(t *testing.T) {
	f := newFixture(t)
	state := f.create(t, false)
	diff := func(news resource.PropertyMap) *pulumirpc.DiffResponse {
		t.Helper()
		resp, err := f.srv.Diff(f.provider, &pulumirpc.DiffRequest{Urn: imageURN, Olds: props(t, state), News: props(t, news)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if d := diff(f.inputs); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("unchanged image diffs: %v", d)
	}
	moved := f.inputs.Copy()
	moved["tag"] = resource.NewStringProperty("2")
	if d := diff(moved); len(d.GetReplaces()) != 1 || d.GetReplaces()[0] != "tag" {
		t.Errorf("new tag is not a replacement: %v", d)
	}

	// Drift: the tag is deleted in the registry; Read says the resource is gone.
	ref, _ := name.ParseReference(f.host+"/docker.io/library/app:1", name.Insecure)
	if err := remote.Delete(ref); err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Read(f.provider, &pulumirpc.ReadRequest{Id: "x", Urn: imageURN, Properties: props(t, state)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetId() != "" {
		t.Errorf("Read of a deleted tag returned id %q", resp.GetId())
	}

	// A changed bundle: same target, new content, an in-place update of the digest.
	state["digest"] = resource.NewStringProperty("sha256:" + strings.Repeat("0", 64))
	if d := diff(f.inputs); d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || d.GetDetailedDiff()["digest"] == nil || len(d.GetReplaces()) != 0 {
		t.Errorf("digest change: %v", d)
	}
}

func TestDeleteRetains(t *testing.T) {
	f := newFixture(t)
	f.inputs["retain"] = resource.NewBoolProperty(true)
	state := f.create(t, false)
	if _, err := f.srv.Delete(f.provider, &pulumirpc.DeleteRequest{Id: "x", Urn: imageURN, Properties: props(t, state)}); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(f.host+"/docker.io/library/app:1", name.Insecure)
	if _, err := remote.Head(ref); err != nil {
		t.Errorf("retained image deleted: %v", err)
	}
	state["retain"] = resource.NewBoolProperty(false)
	if _, err := f.srv.Delete(f.provider, &pulumirpc.DeleteRequest{Id: "x", Urn: imageURN, Properties: props(t, state)}); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(ref); err == nil {
		t.Errorf("image still there after delete")
	}
}

// TestCheckRefusesUntrustedBundles: Check, which the engine runs before any Diff or Create,
// refuses a bundle that no trusted key signed, or whose bytes changed, naming the property.
func TestCheckRefusesUntrustedBundles(t *testing.T) {
	f := newFixture(t)
	check := func(t *testing.T, in resource.PropertyMap) map[string]string {
		t.Helper()
		resp, err := f.srv.Check(f.provider, &pulumirpc.CheckRequest{Type: contract.ImageToken, News: props(t, in)})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, fl := range resp.GetFailures() {
			out[fl.GetProperty()] = fl.GetReason()
		}
		return out
	}
	otherDir := filepath.Join(t.TempDir(), "other")
	bundletest.Write(t, otherDir, bundletest.Entry{Ref: "docker.io/library/app:1", Image: f.img})
	otherKey := bundletest.Sign(t, otherDir)
	keys := func(pems ...string) resource.PropertyValue {
		var vs []resource.PropertyValue
		for _, p := range pems {
			vs = append(vs, resource.NewStringProperty(p))
		}
		return resource.NewArrayProperty(vs)
	}
	cases := []struct {
		name       string
		edit       func(m resource.PropertyMap)
		prop, want string
	}{
		{"no trusted key", func(m resource.PropertyMap) { delete(m, "trustedKeys") }, "sourceRef", "no trusted keys"},
		{"another key", func(m resource.PropertyMap) { m["trustedKeys"] = keys(otherKey) }, "sourceRef", "no trusted key verifies"},
		{"not a key", func(m resource.PropertyMap) { m["trustedKeys"] = keys("hello") }, "trustedKeys", "trustedKeys[0]"},
		{"unsigned", func(m resource.PropertyMap) {
			os.Remove(filepath.Join(f.bundle, bundle.SignatureFile))
			f.srv = &engine{New(nil)} // a new provider process, which has not verified the bundle yet
		}, "sourceRef", "not signed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := f.inputs.Copy()
			tc.edit(in)
			if got := check(t, in); !strings.Contains(got[tc.prop], tc.want) {
				t.Errorf("failures %v, want %s: %q", got, tc.prop, tc.want)
			}
		})
	}
	// The bundle is unsigned now: the explicit opt-out accepts it.
	in := f.inputs.Copy()
	in["allowUnsigned"] = resource.NewBoolProperty(true)
	if got := check(t, in); len(got) != 0 {
		t.Errorf("allowUnsigned: %v", got)
	}
	// A corrupt layer is found by Check, before any copy.
	corruptFirstLayer(t, f.bundle, f.img)
	if got := check(t, in); !strings.Contains(got["sourceRef"], "corrupt") {
		t.Errorf("corrupt layer: %v", got)
	}
}

// TestCheckHashesAttachedArtifacts: the signatures pushed beside an image are checked by Check
// like the image, before anything is copied.
func TestCheckHashesAttachedArtifacts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bundle")
	img, _ := random.Image(1024, 1)
	sig, _ := random.Image(512, 1)
	d, _ := img.Digest()
	sigRef, err := bundle.AttachedRef("docker.io/library/app:1", d, bundle.Signatures)
	if err != nil {
		t.Fatal(err)
	}
	bundletest.Write(t, dir, bundletest.Entry{Ref: "docker.io/library/app:1", Image: img}, bundletest.Entry{Ref: sigRef, Image: sig})
	key := bundletest.Sign(t, dir)
	in := resource.PropertyMap{
		"bundle":      resource.NewStringProperty(dir),
		"sourceRef":   resource.NewStringProperty("app:1"),
		"endpoints":   resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("127.0.0.1:5000")}),
		"repository":  resource.NewStringProperty("docker.io/library/app"),
		"tag":         resource.NewStringProperty("1"),
		"trustedKeys": resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(key)}),
	}
	srv := &engine{New(nil)}
	check := func() map[string]string {
		resp, err := srv.Check(context.Background(), &pulumirpc.CheckRequest{Type: contract.ImageToken, News: props(t, in)})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, fl := range resp.GetFailures() {
			out[fl.GetProperty()] = fl.GetReason()
		}
		return out
	}
	if got := check(); len(got) != 0 {
		t.Fatalf("intact bundle: %v", got)
	}
	ld := corruptFirstLayer(t, dir, sig)
	if got := check(); !strings.Contains(got["sourceRef"], "corrupt") || !strings.Contains(got["sourceRef"], ld.String()) {
		t.Errorf("a corrupt signature layer: %v", got)
	}
}

// imageURN is an Image's URN, as the engine sends it.
var imageURN = urnOf(contract.ImageToken, "app")

// corruptFirstLayer flips a byte of img's first layer in the bundle at dir, and forgets what
// this process hashed (as a new provider process would): the next check must find it.
func corruptFirstLayer(t *testing.T, dir string, img v1.Image) v1.Hash {
	t.Helper()
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	path := filepath.Join(dir, "blobs", "sha256", d.Hex)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] ^= 0xff
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	checkedBlobs = &bundle.Checked{}
	return d
}
