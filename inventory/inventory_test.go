package inventory_test

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/inventory"
)

// h is the fixtures' digest of s (testdata was generated the same way).
func h(s string) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256([]byte(s)))}
}

func read(t *testing.T, name string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func names(images []inventory.Image) []string {
	var out []string
	for _, i := range images {
		out = append(out, i.String())
	}
	return out
}

// TestCurrentState: every Image's inventory, each digest once with its size and every
// repository holding it; an image the state deletes contributes nothing; secrets and other
// resources are ignored.
func TestCurrentState(t *testing.T) {
	inv := read(t, "current.json")
	base, ok := inv.Blob(h("base-layer"))
	if !ok || base.Size != 31457280 || !slices.Equal(base.Repositories, []string{"docker.io/library/nginx", "ghcr.io/org/app"}) {
		t.Errorf("shared base = %+v, %v; want 31457280 bytes in nginx and app", base, ok)
	}
	// Two tags of one repository: the repository once.
	idx, ok := inv.Blob(h("app-index"))
	if !ok || idx.Size != 1610 || !slices.Equal(idx.Repositories, []string{"ghcr.io/org/app"}) {
		t.Errorf("app index = %+v, %v", idx, ok)
	}
	sig, ok := inv.Blob(h("nginx-sig-payload"))
	if !ok || sig.Size != 243 {
		t.Errorf("an attached signature's blob = %+v, %v", sig, ok)
	}
	if _, ok := inv.Blob(h("gone-layer")); ok {
		t.Error("an image the state deletes contributes its blobs")
	}
	if got := len(inv.Blobs()); got != 13 {
		t.Errorf("%d digests, want 13 (6 of nginx, 8 of app, the base once)", got)
	}
	if want := int64(1089 + 7431 + 31457280 + 2097152 + 556 + 243 + 1610 + 1089 + 5120 + 4194304 + 1089 + 5120 + 4194304); inv.Bytes() != want {
		t.Errorf("Bytes = %d, want %d", inv.Bytes(), want)
	}
	if got, want := names(inv.Images()), []string{"docker.io/library/nginx:1.27", "ghcr.io/org/app:2", "ghcr.io/org/app:stable"}; !slices.Equal(got, want) {
		t.Errorf("Images = %v, want %v", got, want)
	}
	if len(inv.Without()) != 0 {
		t.Errorf("Without = %v, want none", inv.Without())
	}
	// What each tag names, for whoever says whether an up copies it again.
	if d := inv.Images()[0].Digest; d != "sha256:1fa6f54a16f48a84ad63718d0e02c0c07bb0cd5db4ef12f530dd649de1ed83b8" {
		t.Errorf("nginx's digest = %q", d)
	}
}

// TestOlderStates: an Image written by a provider before inventories contributes nothing and
// is named, so the CLI can say everything of it travels.
func TestOlderStates(t *testing.T) {
	old := read(t, "provider-0.4.json")
	if len(old.Blobs()) != 0 || len(old.Images()) != 0 {
		t.Errorf("a 0.4 state: %d digests, images %v; want none", len(old.Blobs()), names(old.Images()))
	}
	if got, want := names(old.Without()), []string{"docker.io/library/nginx:1.27", "ghcr.io/org/app:2"}; !slices.Equal(got, want) {
		t.Errorf("Without = %v, want %v", got, want)
	}
	if d := old.Without()[1].Digest; d != "sha256:f6b8328c8a4c33aabebee9733e61825209406a24d30f8171ca4b2b60536dc3f6" {
		t.Errorf("a 0.4 image's digest = %q, want the one its state records", d)
	}
	mixed := read(t, "mixed.json")
	if got := names(mixed.Without()); !slices.Equal(got, []string{"ghcr.io/org/app:2"}) {
		t.Errorf("mixed: Without = %v", got)
	}
	if b, ok := mixed.Blob(h("base-layer")); !ok || !slices.Equal(b.Repositories, []string{"docker.io/library/nginx"}) {
		t.Errorf("mixed: the base = %+v, %v; want held by nginx only", b, ok)
	}
	none := read(t, "no-images.json")
	if len(none.Blobs())+len(none.Images())+len(none.Without()) != 0 {
		t.Errorf("a state without images: %+v", none)
	}
}

// TestBadStates: what cannot be read is an error naming the resource and the field.
func TestBadStates(t *testing.T) {
	const urn = "urn:pulumi:osaka::airgap-site::airgap-site:index:Images$airgap:index:Image::x:1"
	image := func(outputs string) string {
		return `{"version":3,"deployment":{"resources":[{"urn":"` + urn + `","type":"airgap:index:Image","outputs":` + outputs + `}]}}`
	}
	d := h("a").String()
	cases := map[string]struct{ state, want string }{
		"not an export":     {`{"version":3}`, "not the output of `pulumi stack export`"},
		"not JSON":          {`Enter your passphrase`, "parsing stack state"},
		"newer version":     {`{"version":4,"deployment":{}}`, "version 4"},
		"bad digest":        {image(`{"repository":"r","inventory":{"md5:x":1}}`), `outputs.inventory: key "md5:x"`},
		"negative size":     {image(`{"repository":"r","inventory":{"` + d + `":-1}}`), "not -1"},
		"fractional size":   {image(`{"repository":"r","inventory":{"` + d + `":1.5}}`), "not 1.5"},
		"size not a number": {image(`{"repository":"r","inventory":{"` + d + `":"1"}}`), "want a size in bytes"},
		"not an object":     {image(`{"repository":"r","inventory":[1]}`), "want an object of digest: size"},
		"no repository":     {image(`{"inventory":{"` + d + `":1}}`), "outputs.repository: missing"},
		"secret":            {image(`{"repository":"r","inventory":{"4dabf18193072939515e22adb298388d":"1b47061264138c4ac30d75fd1eb44270","ciphertext":"v1:x"}}`), "is a secret"},
		"two sizes": {`{"version":3,"deployment":{"resources":[` +
			`{"urn":"urn:a","type":"airgap:index:Image","outputs":{"repository":"a","inventory":{"` + d + `":1}}},` +
			`{"urn":"urn:b","type":"airgap:index:Image","outputs":{"repository":"b","inventory":{"` + d + `":2}}}]}}`, "2 bytes, but urn:a records 1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := inventory.Parse(strings.NewReader(c.state))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse = %v, want an error naming %q", err, c.want)
			}
			if strings.Contains(c.state, urn) && !strings.Contains(err.Error(), urn) {
				t.Errorf("error %q does not name the resource", err)
			}
		})
	}
}

// TestOfRecords: the inventory of outputs held by the caller (the provider in a preview) is the
// one Parse reads from an exported state: a digest in two repositories is one blob held by
// both, a record without an inventory is listed apart, and two sizes of one digest are an error
// naming both resources.
func TestOfRecords(t *testing.T) {
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	inv, err := inventory.Of([]inventory.Record{
		{URN: "urn:a::web", Repository: "docker.io/library/web", Tag: "1", Digest: d("1"), Inventory: map[string]int64{d("1"): 500, d("b"): 1000}},
		{URN: "urn:a::api", Repository: "docker.io/library/api", Tag: "1", Digest: d("2"), Inventory: map[string]int64{d("2"): 400, d("b"): 1000}},
		{URN: "urn:a::old", Repository: "docker.io/library/old", Tag: "1", Digest: d("3")},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := v1.NewHash(d("b"))
	if b, ok := inv.Blob(h); !ok || b.Size != 1000 || strings.Join(b.Repositories, ",") != "docker.io/library/api,docker.io/library/web" {
		t.Errorf("the shared blob: %+v, %v", b, ok)
	}
	if inv.Bytes() != 1900 || len(inv.Images()) != 2 || len(inv.Without()) != 1 || inv.Without()[0].Name != "old" {
		t.Errorf("bytes %d, images %v, without %v", inv.Bytes(), inv.Images(), inv.Without())
	}
	_, err = inventory.Of([]inventory.Record{
		{URN: "urn:a::web", Repository: "docker.io/library/web", Inventory: map[string]int64{d("b"): 1000}},
		{URN: "urn:a::api", Repository: "docker.io/library/api", Inventory: map[string]int64{d("b"): 999}},
	})
	if err == nil || !strings.Contains(err.Error(), "urn:a::api") || !strings.Contains(err.Error(), "urn:a::web records 1000") {
		t.Errorf("two sizes of one digest: %v", err)
	}
}

// TestMeasuredHeld: what the last registry usage measure found each repository links (the kept
// versions, a version a new tag replaced) counts as held, in its repository, and is no image;
// a state of provider 0.7 (no held) is read as before.
func TestMeasuredHeld(t *testing.T) {
	kept, shared := h("kept-layer"), h("base-layer")
	state := fmt.Sprintf(`{"version": 3, "deployment": {"resources": [
		{"urn": "urn:pulumi:dev::p::airgap:index:Image::web", "type": "airgap:index:Image",
		 "outputs": {"repository": "docker.io/factory/web", "tag": "2", "digest": "sha256:%[3]s",
		             "inventory": {"%[1]s": 100, "sha256:%[3]s": 10}}},
		{"urn": "urn:pulumi:dev::p::airgap:index:RegistryUsage::usage", "type": "airgap:index:RegistryUsage",
		 "outputs": {"referencedBytes": 310, "held": {"docker.io/factory/web@%[1]s": 100, "docker.io/factory/web@%[2]s": 200}}}
	]}}`, shared, kept, strings.Repeat("a", 64))
	inv, err := inventory.Parse(strings.NewReader(state))
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := inv.Blob(kept); !ok || b.Size != 200 || !slices.Equal(b.Repositories, []string{"docker.io/factory/web"}) {
		t.Errorf("the kept version's layer: %+v, %v", b, ok)
	}
	if inv.Bytes() != 310 || len(inv.Images()) != 1 {
		t.Errorf("bytes %d, images %v: want 310 and web:2 alone", inv.Bytes(), names(inv.Images()))
	}
	// A measure never overrides the size an image recorded.
	conflict := strings.Replace(state, fmt.Sprintf(`"docker.io/factory/web@%s": 100`, shared), fmt.Sprintf(`"docker.io/factory/web@%s": 999`, shared), 1)
	if inv, err := inventory.Parse(strings.NewReader(conflict)); err != nil || inv.Bytes() != 310 {
		t.Errorf("a measured size that differs from the image's: %v, %v", inv, err)
	}
	withoutHeld := strings.Replace(state, `"held"`, `"heldBefore08"`, 1)
	if inv, err := inventory.Parse(strings.NewReader(withoutHeld)); err != nil || inv.Bytes() != 110 {
		t.Errorf("a state without held: %v, %v", inv, err)
	}
}
