package provider

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/provider/contract"
	"airgap-site/signing"
)

const acceptedURN = "urn:pulumi:site::airgap-site::airgap-site:images:Images$airgap:index:AcceptedBundle::osaka-bundle"

// stampedBundle writes a bundle of one image with stamp st, signed by s.
func stampedBundle(t *testing.T, s *signing.Signer, st bundle.Stamp) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.SetStamp(st)
	if _, err := w.AddImage("docker.io/library/app:1", imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Sign(s); err != nil {
		t.Fatal(err)
	}
	return dir
}

type acceptedFixture struct {
	srv *Server
	log *logRecorder
	s   *signing.Signer
	key string
}

func newAcceptedFixture(t *testing.T) *acceptedFixture {
	t.Helper()
	s, pub, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	log := &logRecorder{}
	return &acceptedFixture{srv: New(log), log: log, s: s, key: string(pub)}
}

func (f *acceptedFixture) inputs(dir string, allowDowngrade bool) resource.PropertyMap {
	return resource.PropertyMap{
		"sourceLayout":   resource.NewStringProperty(dir),
		"trustedKeys":    strArray(f.key),
		"allowDowngrade": resource.NewBoolProperty(allowDowngrade),
		"site":           resource.NewStringProperty("osaka"),
	}
}

func (f *acceptedFixture) create(t *testing.T, ins resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	resp, err := f.srv.Create(context.Background(), &pulumirpc.CreateRequest{Type: contract.AcceptedBundleToken, Urn: acceptedURN, Properties: props(t, ins)})
	if err != nil {
		t.Fatal(err)
	}
	state, err := unmarshal(resp.GetProperties())
	if err != nil {
		t.Fatal(err)
	}
	return state
}

func (f *acceptedFixture) diff(state, news resource.PropertyMap) (*pulumirpc.DiffResponse, error) {
	olds, _ := marshal(state)
	n, _ := marshal(news)
	return f.srv.Diff(context.Background(), &pulumirpc.DiffRequest{Type: contract.AcceptedBundleToken, Urn: acceptedURN, Olds: olds, News: n})
}

func (f *acceptedFixture) update(t *testing.T, state, news resource.PropertyMap) (resource.PropertyMap, error) {
	t.Helper()
	olds, _ := marshal(state)
	n, _ := marshal(news)
	resp, err := f.srv.Update(context.Background(), &pulumirpc.UpdateRequest{Type: contract.AcceptedBundleToken, Urn: acceptedURN, Olds: olds, News: n})
	if err != nil {
		return nil, err
	}
	return unmarshal(resp.GetProperties())
}

func number(m resource.PropertyMap, key string) int64 {
	v, _ := resolve(m[resource.PropertyKey(key)])
	if !v.IsNumber() {
		return -1
	}
	return int64(v.NumberValue())
}

// TestAcceptedBundleRefusesDowngrade: an older bundle signed by the same trusted key is
// refused by Diff (preview, and up before anything runs) and by Update, naming both
// sequences; with allowDowngrade it passes with a warning, and the highest stays recorded so
// the next up without it refuses the old bundle again.
func TestAcceptedBundleRefusesDowngrade(t *testing.T) {
	f := newAcceptedFixture(t)
	older := stampedBundle(t, f.s, bundle.Stamp{Sequence: 100})
	newer := stampedBundle(t, f.s, bundle.Stamp{Sequence: 200})

	state := f.create(t, f.inputs(newer, false))
	if number(state, "sequence") != 200 || number(state, "highestSequence") != 200 {
		t.Fatalf("state after the first bundle: %v", state)
	}
	if resp, err := f.diff(state, f.inputs(newer, false)); err != nil || resp.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("the same bundle again: %v, %v; want no changes", resp, err)
	}

	_, err := f.diff(state, f.inputs(older, false))
	if err == nil || !strings.Contains(err.Error(), "sequence 100, lower than 200") || !strings.Contains(err.Error(), "images.allowDowngrade") {
		t.Fatalf("Diff of the older bundle = %v, want refused naming 100 and 200", err)
	}
	if _, err := f.update(t, state, f.inputs(older, false)); err == nil || !strings.Contains(err.Error(), "sequence 100, lower than 200") {
		t.Fatalf("Update to the older bundle = %v, want refused", err)
	}

	resp, err := f.diff(state, f.inputs(older, true))
	if err != nil || resp.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME {
		t.Fatalf("Diff with allowDowngrade = %v, %v; want a change", resp, err)
	}
	if !f.log.warned("sequence 100, lower than 200", "images.allowDowngrade is set") {
		t.Errorf("no warning about the downgrade: %v", f.log.msgs)
	}
	down, err := f.update(t, state, f.inputs(older, true))
	if err != nil {
		t.Fatal(err)
	}
	if number(down, "sequence") != 100 || number(down, "highestSequence") != 200 {
		t.Errorf("state after the downgrade: sequence %d, highest %d; want 100, 200", number(down, "sequence"), number(down, "highestSequence"))
	}
	if _, err := f.diff(down, f.inputs(older, false)); err == nil {
		t.Errorf("without allowDowngrade the older bundle passes again")
	}
	// A newer bundle raises the highest.
	newest := stampedBundle(t, f.s, bundle.Stamp{Sequence: 300})
	up, err := f.update(t, down, f.inputs(newest, false))
	if err != nil || number(up, "highestSequence") != 300 {
		t.Errorf("newest bundle: %v, highest %d", err, number(up, "highestSequence"))
	}
}

// TestAcceptedBundleCheck: what needs no state is refused at Check: an expired bundle, one for
// other sites, an unsigned or untrusted one.
func TestAcceptedBundleCheck(t *testing.T) {
	f := newAcceptedFixture(t)
	other, _, _ := signing.NewSigner()
	cases := map[string]struct {
		dir  string
		want string
	}{
		"expired":         {stampedBundle(t, f.s, bundle.Stamp{Sequence: 1, Expires: time.Now().Add(-time.Minute)}), "expired at"},
		"other sites":     {stampedBundle(t, f.s, bundle.Stamp{Sequence: 1, Sites: []string{"kobe"}}), `for the sites kobe, not "osaka"`},
		"untrusted key":   {stampedBundle(t, other, bundle.Stamp{Sequence: 1}), "no trusted key"},
		"for this site":   {stampedBundle(t, f.s, bundle.Stamp{Sequence: 1, Sites: []string{"kobe", "osaka"}, Expires: time.Now().Add(time.Hour)}), ""},
		"not a bundle":    {t.TempDir(), "not an OCI layout"},
		"no sourceLayout": {"", "required"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := f.srv.Check(context.Background(), &pulumirpc.CheckRequest{Type: contract.AcceptedBundleToken, Urn: acceptedURN, News: props(t, f.inputs(tc.dir, false))})
			if err != nil {
				t.Fatal(err)
			}
			fl := resp.GetFailures()
			if tc.want == "" {
				if len(fl) != 0 {
					t.Errorf("failures %v, want none", fl)
				}
				return
			}
			if len(fl) != 1 || fl[0].GetProperty() != "sourceLayout" || !strings.Contains(fl[0].GetReason(), tc.want) {
				t.Errorf("failures %v, want sourceLayout: %q", fl, tc.want)
			}
		})
	}
}

// TestAcceptedBundleOldFormat: a bundle without a sequence (airgap bundle before 0.4) is
// accepted as sequence 0, with a note, and refused once a sequenced one was accepted.
func TestAcceptedBundleOldFormat(t *testing.T) {
	f := newAcceptedFixture(t)
	old := stampedBundle(t, f.s, bundle.Stamp{Sequence: 5})
	bundletest.EditJSON(t, filepath.Join(old, bundle.ManifestFile), func(m map[string]any) { delete(m, "sequence") })
	if err := bundle.Sign(old, f.s); err != nil {
		t.Fatal(err)
	}
	state := f.create(t, f.inputs(old, false))
	if number(state, "sequence") != 0 || number(state, "highestSequence") != 0 {
		t.Errorf("state of an old-format bundle: %v", state)
	}
	found := false
	for _, m := range f.log.msgs {
		found = found || strings.Contains(m, "carries no sequence")
	}
	if !found {
		t.Errorf("no note about the missing sequence: %v", f.log.msgs)
	}
	newer := stampedBundle(t, f.s, bundle.Stamp{Sequence: 7})
	up, err := f.update(t, state, f.inputs(newer, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.diff(up, f.inputs(old, false)); err == nil || !strings.Contains(err.Error(), "sequence 0, lower than 7") {
		t.Errorf("the old-format bundle after a sequenced one: %v", err)
	}
}

// TestCheckVerifiesWithUnknownInputs: a new site's first preview has unknown endpoints and
// credentials (made by the same up). The engine does not call a provider whose settings are
// unknown for its resources, so the images are not checked then; the provider's settings are
// (CheckConfig, DiffConfig: a change, never a replacement), and the bundle is verified by the
// AcceptedBundle, on the default provider, whose inputs are all known.
func TestCheckVerifiesWithUnknownInputs(t *testing.T) {
	f := newFixture(t)
	cfg, _ := split(props(t, f.inputs))
	unknown, _ := unmarshal(cfg)
	for _, k := range []resource.PropertyKey{"endpoints", "ca", "password"} {
		unknown[k] = resource.MakeComputed(resource.NewStringProperty(""))
	}
	resp, err := f.srv.CheckConfig(f.provider, &pulumirpc.CheckRequest{News: props(t, unknown)})
	if err != nil || len(resp.GetFailures()) != 0 {
		t.Fatalf("settings not known yet: %v %v", resp.GetFailures(), err)
	}
	d, err := f.srv.DiffConfig(f.provider, &pulumirpc.DiffRequest{Olds: cfg, News: props(t, unknown)})
	if err != nil || d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(d.GetReplaces()) != 0 {
		t.Fatalf("diff of settings not known yet: %v %v", d, err)
	}
	key := f.inputs["trustedKeys"].ArrayValue()[0].StringValue()
	accept := resource.PropertyMap{
		"sourceLayout": resource.NewStringProperty(f.bundle),
		"trustedKeys":  resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(key)}),
	}
	check := func() []*pulumirpc.CheckFailure {
		resp, err := New(nil).Check(f.provider, &pulumirpc.CheckRequest{Type: contract.AcceptedBundleToken, Urn: acceptedURN, News: props(t, accept)})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetFailures()
	}
	if fl := check(); len(fl) != 0 {
		t.Fatalf("a valid bundle: %v", fl)
	}
	bundletest.EditJSON(t, filepath.Join(f.bundle, bundle.ManifestFile), func(m map[string]any) { m["createdAt"] = "2020-01-01T00:00:00Z" })
	fl := check()
	if len(fl) != 1 || fl[0].GetProperty() != "sourceLayout" || !strings.Contains(fl[0].GetReason(), "no trusted key") {
		t.Errorf("a tampered bundle: failures %v, want sourceLayout refused", fl)
	}
}

// TestAcceptedBundleNewTrustIsNoChange: a new trusted key is no change of the accepted bundle
// (it still verifies with the new trust), and a trust that refuses the bundle fails the Diff.
func TestAcceptedBundleNewTrustIsNoChange(t *testing.T) {
	f := newFixture(t)
	key := f.inputs["trustedKeys"].ArrayValue()[0].StringValue()
	olds := resource.PropertyMap{
		"sourceLayout": resource.NewStringProperty(f.bundle),
		"trustedKeys":  resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(key)}),
	}
	srv := New(nil)
	created, err := srv.Create(f.provider, &pulumirpc.CreateRequest{Type: contract.AcceptedBundleToken, Urn: acceptedURN, Properties: props(t, olds)})
	if err != nil {
		t.Fatal(err)
	}
	state, _ := unmarshal(created.GetProperties())
	otherDir := filepath.Join(t.TempDir(), "other")
	bundletest.Write(t, otherDir, bundletest.Entry{Ref: "docker.io/library/app:1", Image: f.img})
	other := bundletest.Sign(t, otherDir)
	news := olds.Copy()
	news["trustedKeys"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(key), resource.NewStringProperty(other)})
	d, err := srv.Diff(f.provider, &pulumirpc.DiffRequest{Type: contract.AcceptedBundleToken, Urn: acceptedURN, Olds: props(t, state), News: props(t, news)})
	if err != nil || d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("a second trusted key: %v %v, want no change", d, err)
	}
	news["trustedKeys"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(other)})
	if _, err := srv.Diff(f.provider, &pulumirpc.DiffRequest{Type: contract.AcceptedBundleToken, Urn: acceptedURN, Olds: props(t, state), News: props(t, news)}); err == nil {
		t.Error("a trust that does not verify the bundle passed the Diff")
	}
}

// TestAcceptedBundleChecksTheImages: the AcceptedBundle, whose inputs are known at every
// preview, checks each image the stack takes from the bundle: one missing, or corrupt, fails
// with the property images, before anything is copied.
func TestAcceptedBundleChecksTheImages(t *testing.T) {
	f := newFixture(t)
	key := f.inputs["trustedKeys"].ArrayValue()[0].StringValue()
	check := func(images ...string) map[string]string {
		t.Helper()
		var refs []resource.PropertyValue
		for _, r := range images {
			refs = append(refs, resource.NewStringProperty(r))
		}
		in := resource.PropertyMap{
			"sourceLayout": resource.NewStringProperty(f.bundle),
			"trustedKeys":  resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(key)}),
			"images":       resource.NewArrayProperty(refs),
		}
		resp, err := New(nil).Check(f.provider, &pulumirpc.CheckRequest{Type: contract.AcceptedBundleToken, Urn: acceptedURN, News: props(t, in)})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, fl := range resp.GetFailures() {
			out[fl.GetProperty()] = fl.GetReason()
		}
		return out
	}
	if got := check("docker.io/library/app:1"); len(got) != 0 {
		t.Fatalf("an image in the bundle: %v", got)
	}
	if got := check("docker.io/library/app:1", "docker.io/library/beta:1"); !strings.Contains(got["images"], "docker.io/library/beta:1") || !strings.Contains(got["images"], "not in bundle") {
		t.Errorf("an image not in the bundle: %v", got)
	}
	corruptFirstLayer(t, f.bundle, f.img)
	if got := check("docker.io/library/app:1"); !strings.Contains(got["images"], "corrupt") {
		t.Errorf("a corrupt layer of a listed image: %v", got)
	}
}
