package provider

import (
	"context"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/capacity"
	"airgap-site/mirror"
	"airgap-site/provider/contract"
	"airgap-site/provider/internal/registrytest"
)

var usageURN = urnOf(contract.RegistryUsageToken, "usage")

// bytesOf is what img stores in a registry: its manifest, config and layers.
func bytesOf(t *testing.T, img v1.Image) map[string]int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	d, _ := img.Digest()
	out := map[string]int64{d.String(): int64(len(raw)), m.Config.Digest.String(): m.Config.Size}
	for _, l := range m.Layers {
		out[l.Digest.String()] = l.Size
	}
	return out
}

// TestRegistryUsageReferenced: the referenced bytes are the current and kept versions and
// their signatures, a layer they share counted once, an image outside the stack not at all.
// Without a store to list, the total is unknown and the free space is the capacity less the
// references; a store that refuses is a warning, not a failed up.
func TestRegistryUsageReferenced(t *testing.T) {
	reg := registrytest.New(t)
	base, err := random.Layer(4096, "application/vnd.oci.image.layer.v1.tar")
	if err != nil {
		t.Fatal(err)
	}
	push := func(ref string, img v1.Image) string {
		r, err := name.ParseReference(reg.Host+"/"+ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d.String()
	}
	version := func() v1.Image {
		top, err := random.Image(2048, 1)
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(top, base)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	v1img, v2img, sig, other := version(), version(), version(), version()
	d1 := push("docker.io/factory/web:1", v1img)
	d2 := push("docker.io/factory/web:2", v2img)
	push("docker.io/factory/web:"+mirror.DigestTag(d2)+".sig", sig)
	push("docker.io/factory/other:1", other)

	want := map[string]int64{}
	for _, img := range []v1.Image{v1img, v2img, sig} {
		for d, n := range bytesOf(t, img) {
			want[d] = n
		}
	}
	var wantBytes int64
	for _, n := range want {
		wantBytes += n
	}

	srv := &engine{New(nil)}
	in := resource.PropertyMap{
		"endpoints":     resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(reg.Host)}),
		"insecure":      resource.NewBoolProperty(true),
		"images":        resource.NewPropertyValue(map[string]string{"docker.io/factory/web:2": d2}),
		"previous":      resource.NewPropertyValue([]string{"docker.io/factory/web:1@" + d1}),
		"capacityBytes": resource.NewNumberProperty(1 << 30),
	}
	create := func(in resource.PropertyMap, preview bool) contract.RegistryUsageOutputs {
		t.Helper()
		resp, err := srv.Create(context.Background(), &pulumirpc.CreateRequest{Type: contract.RegistryUsageToken, Urn: usageURN, Properties: props(t, in), Preview: preview})
		if err != nil {
			t.Fatal(err)
		}
		state, err := unmarshal(resp.GetProperties())
		if err != nil {
			t.Fatal(err)
		}
		if preview {
			if !state["referencedBytes"].IsComputed() {
				t.Errorf("a preview measured: %v", state["referencedBytes"])
			}
			return contract.RegistryUsageOutputs{}
		}
		var out contract.RegistryUsageOutputs
		decode(state, contract.RegistryUsage.Outputs, &out)
		return out
	}
	create(in, true)
	out := create(in, false)
	// What each repository links, for the next preview: web's versions and the signature.
	wantHeld := map[string]float64{}
	for d, n := range want {
		wantHeld["docker.io/factory/web@"+d] = float64(n)
	}
	if !maps.Equal(out.Held, wantHeld) {
		t.Errorf("held %v, want %v", out.Held, wantHeld)
	}
	if int64(out.ReferencedBytes) != wantBytes {
		t.Errorf("referenced %d bytes, want %d (two versions sharing a layer, a signature)", out.ReferencedBytes, wantBytes)
	}
	if out.TotalBytes != capacity.Unknown || out.Unmeasured == "" || out.FreeBytes != 1<<30-out.ReferencedBytes || out.MeasuredAt == "" {
		t.Errorf("without a store to list: %+v", out)
	}

	// A refresh with the same figures changes nothing (no drift); one after a new signature
	// counts it.
	read := func(state resource.PropertyMap) contract.RegistryUsageOutputs {
		t.Helper()
		resp, err := srv.Read(context.Background(), &pulumirpc.ReadRequest{Type: contract.RegistryUsageToken, Urn: usageURN, Id: "registry-usage", Properties: props(t, state), Inputs: props(t, state)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := unmarshal(resp.GetProperties())
		if err != nil {
			t.Fatal(err)
		}
		var o contract.RegistryUsageOutputs
		decode(got, contract.RegistryUsage.Outputs, &o)
		return o
	}
	state := in.Copy()
	out.MeasuredAt = "2026-01-01T00:00:00Z"
	for k, v := range encode(contract.RegistryUsage.Outputs, out) {
		state[k] = v
	}
	if again := read(state); !reflect.DeepEqual(again, out) {
		t.Errorf("a refresh of an unchanged registry: %+v, want the state as it was: %+v", again, out)
	}
	att := version()
	push("docker.io/factory/web:"+mirror.DigestTag(d1)+".att", att)
	var attBytes int64
	for d, n := range bytesOf(t, att) {
		if _, shared := want[d]; !shared {
			attBytes += n
		}
	}
	if after := read(state); int64(after.ReferencedBytes) != wantBytes+attBytes || after.MeasuredAt == out.MeasuredAt {
		t.Errorf("a refresh after an attestation was added: %+v, want %d referenced bytes, measured now", after, wantBytes+attBytes)
	}

	in["storeEndpoint"] = resource.NewStringProperty("http://" + registrytest.Refused(t))
	in["storeBucket"] = resource.NewStringProperty("registry")
	out = create(in, false)
	if out.TotalBytes != capacity.Unknown || !strings.Contains(out.Unmeasured, "listing s3://registry/") {
		t.Errorf("a store refusing connections: %+v, want an unknown total saying why", out)
	}
}

// TestRegistryUsageCheck: a bad capacity or store is refused by Check, naming the property.
func TestRegistryUsageCheck(t *testing.T) {
	srv := &engine{New(nil)}
	in := resource.PropertyMap{
		"images":        resource.NewPropertyValue(map[string]string{"web:1": "sha256:nope"}),
		"capacityBytes": resource.NewNumberProperty(-1),
		"storeEndpoint": resource.NewStringProperty("10.20.0.5:9000"),
	}
	resp, err := srv.Check(context.Background(), &pulumirpc.CheckRequest{Type: contract.RegistryUsageToken, Urn: usageURN, News: props(t, in)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range resp.GetFailures() {
		got[f.GetProperty()] = true
	}
	for _, p := range []string{"images", "capacityBytes", "storeEndpoint"} {
		if !got[p] {
			t.Errorf("no failure for %s in %v", p, resp.GetFailures())
		}
	}
}

// TestRegistryUsageDiff: adding images alone is no change (adding one image previews as one
// create); a moved tag, a new kept version, a collection or a new capacity measures again.
func TestRegistryUsageDiff(t *testing.T) {
	srv := &engine{New(nil)}
	a, b := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	in := func(images map[string]string, previous []string, after string, capBytes float64) resource.PropertyMap {
		return resource.PropertyMap{
			"images":        resource.NewPropertyValue(images),
			"previous":      resource.NewPropertyValue(previous),
			"after":         resource.NewStringProperty(after),
			"capacityBytes": resource.NewNumberProperty(capBytes),
		}
	}
	olds := in(map[string]string{"docker.io/library/app:1": a}, []string{}, "t1", 1e9)
	for _, tc := range []struct {
		name string
		news resource.PropertyMap
		want pulumirpc.DiffResponse_DiffChanges
	}{
		{"nothing", in(map[string]string{"docker.io/library/app:1": a}, []string{}, "t1", 1e9), pulumirpc.DiffResponse_DIFF_NONE},
		{"an image added", in(map[string]string{"docker.io/library/app:1": a, "docker.io/library/db:1": b}, []string{}, "t1", 1e9), pulumirpc.DiffResponse_DIFF_NONE},
		{"a moved tag", in(map[string]string{"docker.io/library/app:1": b}, []string{}, "t1", 1e9), pulumirpc.DiffResponse_DIFF_SOME},
		{"a kept version", in(map[string]string{"docker.io/library/app:1": a}, []string{"docker.io/library/app:0@" + b}, "t1", 1e9), pulumirpc.DiffResponse_DIFF_SOME},
		{"a collection", in(map[string]string{"docker.io/library/app:1": a}, []string{}, "t2", 1e9), pulumirpc.DiffResponse_DIFF_SOME},
		{"a new capacity", in(map[string]string{"docker.io/library/app:1": a}, []string{}, "t1", 2e9), pulumirpc.DiffResponse_DIFF_SOME},
	} {
		resp, err := srv.Diff(context.Background(), &pulumirpc.DiffRequest{
			Type: contract.RegistryUsageToken, Urn: usageURN, Olds: props(t, olds), News: props(t, tc.news),
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.GetChanges() != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, resp.GetChanges(), tc.want)
		}
	}
}
