package provider

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"

	"airgap-site/internal/bundletest"
	"airgap-site/internal/progress"
	"airgap-site/provider/contract"
	"airgap-site/provider/internal/registrytest"
)

// TestPreviewSaysWhatTheUpSends: a plain preview (Diff and preview of each Image, then the
// RegistryUsage after them, in one provider process) says what the up sends to the site
// registry, and the up then sends exactly that; the up itself says it no more; a store too
// small for the update is a warning of the preview.
func TestPreviewSaysWhatTheUpSends(t *testing.T) {
	layer := func(size int64) v1.Layer {
		l, err := random.Layer(size, "application/vnd.oci.image.layer.v1.tar+gzip")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	image := func(layers ...v1.Layer) v1.Image {
		img, err := mutate.AppendLayers(emptyImage(t), layers...)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	base := layer(96 << 10)
	web1, web2, api1 := image(base, layer(16<<10)), image(base, layer(24<<10)), image(base, layer(32<<10))
	first, next := filepath.Join(t.TempDir(), "first"), filepath.Join(t.TempDir(), "next")
	bundletest.Write(t, first, bundletest.Entry{Ref: "docker.io/library/web:1", Image: web1})
	firstKey := bundletest.Sign(t, first)
	bundletest.Write(t, next, bundletest.Entry{Ref: "docker.io/library/web:1", Image: web2}, bundletest.Entry{Ref: "docker.io/library/api:1", Image: api1})
	nextKey := bundletest.Sign(t, next)

	site := registrytest.New(t)
	webURN, apiURN := urnOf(contract.ImageToken, "web"), urnOf(contract.ImageToken, "api")
	inputs := func(dir, key, repo string) resource.PropertyMap {
		return resource.PropertyMap{
			"bundle":             str(dir),
			"endpoints":          strArray(site.Host),
			"insecure":           resource.NewBoolProperty(true),
			"trustedKeys":        strArray(key),
			"linkBytesPerSecond": num(100_000),
			"sourceRef":          str("docker.io/library/" + repo + ":1"),
			"repository":         str("docker.io/library/" + repo),
			"tag":                str("1"),
		}
	}
	stateOf := func(props *structpb.Struct) resource.PropertyMap {
		t.Helper()
		m, err := unmarshal(props)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	// The first up: web:1 from the first bundle.
	up1 := &engine{New(nil)}
	resp, err := up1.Create(t.Context(), &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: webURN, Properties: props(t, inputs(first, firstKey, "web"))})
	if err != nil {
		t.Fatal(err)
	}
	webState := withSettings(stateOf(resp.GetProperties()), inputs(first, firstKey, "web"))

	// What the next up must send: web:1's new manifest, config and top layer, and api:1's; the
	// base is at the site, mounted.
	var want int64
	for _, img := range []v1.Image{web2, api1} {
		for d, n := range bytesOf(t, img) {
			if bd, _ := base.Digest(); d != bd.String() {
				want += n
			}
		}
	}

	usageOlds := resource.PropertyMap{
		"images":          resource.NewPropertyValue(map[string]string{"docker.io/library/web:1": webState["digest"].StringValue()}),
		"capacityBytes":   num(1 << 30),
		"referencedBytes": num(200 << 10), "totalBytes": num(210 << 10), "freeBytes": num(1<<30 - 210<<10),
		"measuredAt": str("2026-12-02T00:00:00Z"),
	}
	preview := func(capacityBytes float64) *logRecorder {
		t.Helper()
		log := &logRecorder{}
		srv := &engine{New(log)}
		d, err := srv.Diff(t.Context(), &pulumirpc.DiffRequest{Type: contract.ImageToken, Urn: webURN, Olds: props(t, webState), News: props(t, inputs(next, nextKey, "web"))})
		if err != nil || d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME {
			t.Fatalf("web:1's diff: %v, %v", d, err)
		}
		if _, err := srv.Update(t.Context(), &pulumirpc.UpdateRequest{Type: contract.ImageToken, Urn: webURN, Olds: props(t, webState), News: props(t, inputs(next, nextKey, "web")), Preview: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Create(t.Context(), &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: apiURN, Properties: props(t, inputs(next, nextKey, "api")), Preview: true}); err != nil {
			t.Fatal(err)
		}
		news := withSettings(usageOlds, inputs(next, nextKey, "web")) // one configuration per process, as the engine's
		news["capacityBytes"] = num(capacityBytes)
		if _, err := srv.Diff(t.Context(), &pulumirpc.DiffRequest{Type: contract.RegistryUsageToken, Urn: usageURN, Olds: props(t, usageOlds), News: props(t, news)}); err != nil {
			t.Fatal(err)
		}
		return log
	}

	log := preview(1 << 30)
	total := fmt.Sprintf("Total: %s (%d bytes), by 2 of 2 images: about", progress.Bytes(want), want)
	if !log.said(diag.Info, total, "at images.linkBytesPerSecond 100000", "docker.io/library/api:1") {
		t.Errorf("the preview did not say %q; it said %q", total, log.msgs)
	}
	if !log.said(diag.Info, "the site registry's store: the update sends") {
		t.Errorf("the preview did not hold the update against the store: %q", log.msgs)
	}
	if log := preview(210<<10 + float64(want)/2); !log.said(diag.Warning, "it cannot be stored") {
		t.Errorf("a store of less than the update is no warning: %q", log.msgs)
	}

	// A new version under a new tag replaces web:1: the engine diffs only the new image, and
	// the last measure (RegistryUsage's held) says the site holds the base.
	newTag := filepath.Join(t.TempDir(), "new-tag")
	bundletest.Write(t, newTag, bundletest.Entry{Ref: "docker.io/library/web:2", Image: web2})
	newTagKey := bundletest.Sign(t, newTag)
	held := map[string]float64{}
	for d, n := range bytesOf(t, web1) {
		held["docker.io/library/web@"+d] = float64(n)
	}
	var web2Own int64
	for d, n := range bytesOf(t, web2) {
		if bd, _ := base.Digest(); d != bd.String() {
			web2Own += n
		}
	}
	for _, measured := range []bool{true, false} {
		log := &logRecorder{}
		srv := &engine{New(log)}
		in := inputs(newTag, newTagKey, "web")
		in["sourceRef"], in["tag"] = str("docker.io/library/web:2"), str("2")
		if _, err := srv.Create(t.Context(), &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: urnOf(contract.ImageToken, "web2"), Properties: props(t, in), Preview: true}); err != nil {
			t.Fatal(err)
		}
		olds := usageOlds.Copy()
		if measured {
			olds["held"] = resource.NewPropertyValue(held)
		}
		if _, err := srv.Diff(t.Context(), &pulumirpc.DiffRequest{Type: contract.RegistryUsageToken, Urn: usageURN, Olds: props(t, olds), News: props(t, withSettings(usageOlds, in))}); err != nil {
			t.Fatal(err)
		}
		want := web2Own
		if !measured { // a state of provider 0.7: the base counted too (an upper bound)
			want = 0
			for _, n := range bytesOf(t, web2) {
				want += n
			}
		}
		if total := fmt.Sprintf("Total: %s (%d bytes), by 1 of 1 image", progress.Bytes(want), want); !log.said(diag.Info, total) {
			t.Errorf("a new tag, held measured %v: want %q; said %q", measured, total, log.msgs)
		}
	}

	// The up sends what the preview said, and does not say it again.
	log = &logRecorder{}
	up2 := &engine{New(log)}
	var sent float64
	if _, err := up2.Diff(t.Context(), &pulumirpc.DiffRequest{Type: contract.ImageToken, Urn: webURN, Olds: props(t, webState), News: props(t, inputs(next, nextKey, "web"))}); err != nil {
		t.Fatal(err)
	}
	u, err := up2.Update(t.Context(), &pulumirpc.UpdateRequest{Type: contract.ImageToken, Urn: webURN, Olds: props(t, webState), News: props(t, inputs(next, nextKey, "web"))})
	if err != nil {
		t.Fatal(err)
	}
	sent += stateOf(u.GetProperties())["sentBytes"].NumberValue()
	c, err := up2.Create(t.Context(), &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: apiURN, Properties: props(t, inputs(next, nextKey, "api"))})
	if err != nil {
		t.Fatal(err)
	}
	sent += stateOf(c.GetProperties())["sentBytes"].NumberValue()
	if int64(sent) != want {
		t.Errorf("the up sent %d bytes, the preview said %d", int64(sent), want)
	}
	if _, err := up2.Diff(t.Context(), &pulumirpc.DiffRequest{Type: contract.RegistryUsageToken, Urn: usageURN, Olds: props(t, usageOlds), News: props(t, withSettings(usageOlds, inputs(next, nextKey, "web")))}); err != nil {
		t.Fatal(err)
	}
	if log.said(diag.Info, "Total:") {
		t.Errorf("an up said what it will send after sending it: %q", log.msgs)
	}
}

// said reports whether a message of severity sev contains every part.
func (l *logRecorder) said(sev diag.Severity, parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if !strings.HasPrefix(m, string(sev)+": ") {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(m, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestLinkRateSetting: the link's rate is a provider setting; a negative one is refused by
// name before anything is configured.
func TestLinkRateSetting(t *testing.T) {
	srv := New(nil)
	resp, err := srv.CheckConfig(t.Context(), &pulumirpc.CheckRequest{News: props(t, resource.PropertyMap{"linkBytesPerSecond": num(-1)})})
	if err != nil {
		t.Fatal(err)
	}
	if f := resp.GetFailures(); len(f) != 1 || f[0].GetProperty() != "linkBytesPerSecond" {
		t.Errorf("a negative link rate: %v", f)
	}
}
