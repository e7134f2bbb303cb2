package talosconfig_test

import (
	"errors"
	"strings"
	"testing"

	"airgap-site/internal/golden"
	"airgap-site/talosconfig"
)

const (
	testDigest   = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testRegistry = "docker.io/library/registry:3.1.2@" + testDigest
)

var testPins = []talosconfig.Pin{
	{Name: "registry", Image: testRegistry},
	{Name: "minio", Image: "quay.io/minio/minio@" + testDigest},
}

// TestPinPatchGolden: the patch Talos v1.8 to v1.13 take (machine.files creating the CRI
// customization part), byte for byte, and valid against Talos' own schema of each generation.
func TestPinPatchGolden(t *testing.T) {
	for _, v := range []string{"v1.9.6", "v1.12.11", "v1.13.9"} {
		out, err := talosconfig.PinPatch(testPins, v)
		if err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "pin-patch.yaml", out)
		if err := validate(talosSchema(t, v), out); err != nil {
			t.Errorf("the pin patch does not match the Talos %s schema: %v\n%s", v, err, out)
		}
	}
}

// TestPinPatchWithoutPinnedImages: Talos v1.7 (containerd 1.7) gets no patch, and says why.
func TestPinPatchWithoutPinnedImages(t *testing.T) {
	_, err := talosconfig.PinPatch(testPins, "v1.7.7")
	if !errors.Is(err, talosconfig.ErrNoPinnedImages) || !strings.Contains(err.Error(), "v1.7.7") {
		t.Errorf("PinPatch(v1.7.7) = %v, want ErrNoPinnedImages naming the version", err)
	}
	if talosconfig.PinsSupported("v1.7.7") || !talosconfig.PinsSupported("v1.8.0") || talosconfig.PinsSupported("v2.0.0") {
		t.Errorf("PinsSupported disagrees with the version table")
	}
	if _, err := talosconfig.PinPatch(testPins, "v1.5.0"); err == nil {
		t.Errorf("PinPatch accepted an unsupported version")
	}
}

// TestPinnedRef: the name the CRI stores a pulled image under (the tag beside a digest is
// dropped); a reference without a digest or registry is refused, naming it.
func TestPinnedRef(t *testing.T) {
	for in, want := range map[string]string{
		testRegistry: "docker.io/library/registry@" + testDigest,
		"registry.local:5443/factory/mes@" + testDigest:   "registry.local:5443/factory/mes@" + testDigest,
		"registry.local:5443/factory/mes:7@" + testDigest: "registry.local:5443/factory/mes@" + testDigest,
		"localhost/pause@" + testDigest:                   "localhost/pause@" + testDigest,
		"10.20.0.11:32000/docker.io/app:1@" + testDigest:  "10.20.0.11:32000/docker.io/app@" + testDigest,
	} {
		got, err := talosconfig.PinnedRef(in)
		if err != nil || got != want {
			t.Errorf("PinnedRef(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"docker.io/library/registry:3.1.2", "registry@" + testDigest, "library/registry@" + testDigest, "docker.io/x@sha256:abc"} {
		if _, err := talosconfig.PinnedRef(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("PinnedRef(%s) = %v, want an error naming it", bad, err)
		}
	}
}

// TestCRICustomizationPart: keys never replace containerd's sandbox key; bad names and
// duplicates are refused; ParsePinPatch reads back what was pinned.
func TestCRICustomizationPart(t *testing.T) {
	part, err := talosconfig.CRICustomizationPart(testPins)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(part, "sandbox") || !strings.Contains(part, `[plugins."io.containerd.cri.v1.images".pinned_images]`) {
		t.Errorf("part:\n%s", part)
	}
	for _, pins := range [][]talosconfig.Pin{nil, {{Name: "a b", Image: testRegistry}}, {{Name: "x", Image: testRegistry}, {Name: "x", Image: testRegistry}}, {{Name: "x", Image: "docker.io/library/registry:3"}}} {
		if _, err := talosconfig.CRICustomizationPart(pins); err == nil {
			t.Errorf("CRICustomizationPart(%+v) succeeded", pins)
		}
	}
	patch, _ := talosconfig.PinPatch(testPins, "v1.12.11")
	gotPart, pinned, err := talosconfig.ParsePinPatch(patch)
	if err != nil || gotPart != part {
		t.Fatalf("ParsePinPatch: %v\n%s", err, gotPart)
	}
	want := []string{"docker.io/library/registry@" + testDigest, "quay.io/minio/minio@" + testDigest}
	if strings.Join(pinned, " ") != strings.Join(want, " ") {
		t.Errorf("pinned = %v, want %v", pinned, want)
	}
	if _, _, err := talosconfig.ParsePinPatch([]byte("machine: {files: []}\n")); err == nil {
		t.Errorf("ParsePinPatch accepted a patch without the part")
	}
}
