//go:build e2e

package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
)

// TestSignedBundles is the office-to-site chain: a bundle signed by `airgap bundle
// --sign-key` with a key made by `cosign generate-key-pair` verifies with the cosign CLI and is
// accepted by the stack; each way it can be changed on the way is refused by `pulumi preview`
// before any copy, with the state and the site registry unchanged.
func TestSignedBundles(t *testing.T) {
	// Parallel: its own stack, namespace, ports and registry; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	work := t.TempDir()
	keys := map[string]string{} // name -> directory with cosign.key and cosign.pub
	for _, who := range []string{"office", "stranger"} {
		keys[who] = cosignKeyPair(t, work, who)
	}

	// The vendor's registry and three images.
	vendor := fsRegistry(t)
	refs := []string{vendor + "/factory/alpha:1", vendor + "/factory/beta:1", vendor + "/factory/gamma:1"}
	for _, ref := range refs {
		pushRandom(t, ref)
	}
	writeImages := func(t *testing.T, path string, refs ...string) {
		t.Helper()
		if err := os.WriteFile(path, []byte("- "+strings.Join(refs, "\n- ")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	airgapBundle := func(t *testing.T, out, images string, extra ...string) string {
		t.Helper()
		cmd := exec.Command(s.airgap, append([]string{"bundle", "--images", images, "--out", out, "--insecure-registry", vendor}, extra...)...)
		cmd.Env = append(cleanEnv(), "COSIGN_PASSWORD=office-password")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("airgap bundle: %v\n%s", err, b)
		}
		return string(b)
	}
	pristine := filepath.Join(work, "pristine")
	imagesFile := filepath.Join(work, "images.yaml")
	writeImages(t, imagesFile, refs[:2]...)
	airgapBundle(t, pristine, imagesFile, "--sign-key", filepath.Join(keys["office"], "cosign.key"))

	t.Run("the cosign CLI verifies the bundle's signature", func(t *testing.T) {
		out := cosignCLI(t, pristine, nil, "verify-blob", "--key", filepath.Join(keys["office"], "cosign.pub"),
			"--signature", bundle.SignatureFile, "--insecure-ignore-tlog=true", bundle.ManifestFile)
		if !strings.Contains(out, "Verified OK") {
			t.Errorf("cosign verify-blob: %s", out)
		}
	})

	// The site: the real registry on S3 behind an upload counter.
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s3Registry(t, regAddr, "/supply-e2e")
	counter := newRegistryCounter(t, regAddr)
	site := filepath.Join(work, "site-bundle")
	restore := func(t *testing.T) {
		t.Helper()
		if err := os.RemoveAll(site); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", pristine, site).CombinedOutput(); err != nil {
			t.Fatalf("copying the bundle: %v\n%s", err, out)
		}
	}
	restore(t)
	st := newTestStack(t, "supply", stackOptions{upstreams: []string{"docker.io", vendor},
		images: map[string]any{"bundle": site, "trustedKeys": []string{filepath.Join(keys["office"], "cosign.pub")}, "registry": counter.addr,
			"list": []string{refs[0], refs[1]}}})
	stack := st.name

	ok := t.Run("the stack accepts the bundle signed with the cosign key", func(t *testing.T) {
		st.up(t, "--policy-pack", s.policyPack)
	})
	if !ok {
		t.FailNow()
	}
	// resources is what the state records of each resource, by URN: an up that fails still
	// writes the checkpoint (in another order, its secrets encrypted again with new nonces),
	// but no resource's inputs or outputs may change.
	resources := func(t *testing.T) string {
		t.Helper()
		var st struct {
			Deployment struct {
				Resources []map[string]any `json:"resources"`
			} `json:"deployment"`
		}
		if err := json.Unmarshal([]byte(s.mustPulumi(t, "stack", "export", "-s", stack)), &st); err != nil {
			t.Fatal(err)
		}
		byURN := map[string]any{}
		for _, r := range st.Deployment.Resources {
			byURN[r["urn"].(string)] = sealed([]any{r["id"], r["inputs"], r["outputs"]})
		}
		b, _ := json.Marshal(byURN) // map keys sorted
		return string(b)
	}
	state := resources(t)

	// manifestFile is the blob file of ref's top-level manifest in the site's bundle.
	manifestFile := func(t *testing.T, ref string) string {
		t.Helper()
		b, err := bundle.Open(site)
		if err != nil {
			t.Fatal(err)
		}
		d, err := b.Lookup(ref)
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(site, "blobs", "sha256", d.Digest.Hex)
	}
	editJSON := bundletest.EditJSON
	cases := []struct {
		name   string
		tamper func(t *testing.T)
		undo   func(t *testing.T)
		want   string
	}{
		{"a manifest blob swapped", func(t *testing.T) {
			other, _ := os.ReadFile(manifestFile(t, refs[1]))
			if err := os.WriteFile(manifestFile(t, refs[0]), other, 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "corrupt"},
		{"a layer blob corrupted", func(t *testing.T) {
			b, _ := bundle.Open(site)
			img, err := b.Image(refs[0])
			if err != nil {
				t.Fatal(err)
			}
			layers, _ := img.Layers()
			d, _ := layers[len(layers)-1].Digest()
			path := filepath.Join(site, "blobs", "sha256", d.Hex)
			raw, _ := os.ReadFile(path)
			raw[len(raw)/2] ^= 0xff
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "corrupt"},
		{"bundle.json edited", func(t *testing.T) {
			editJSON(t, filepath.Join(site, bundle.ManifestFile), func(m map[string]any) { m["createdAt"] = "2020-01-01T00:00:00Z" })
		}, nil, "no trusted key verifies the signature"},
		{"an image added without re-signing", func(t *testing.T) {
			more := filepath.Join(work, "more.yaml")
			writeImages(t, more, refs[2])
			airgapBundle(t, site, more)
		}, nil, "no trusted key verifies the signature"},
		{"signed with a key the site does not trust", func(t *testing.T) {
			st.config(t, "images.trustedKeys[0]", filepath.Join(keys["stranger"], "cosign.pub"))
		}, func(t *testing.T) {
			st.config(t, "images.trustedKeys[0]", filepath.Join(keys["office"], "cosign.pub"))
		}, "no trusted key verifies the signature"},
		{"a self-referencing index", func(t *testing.T) {
			// An index that lists itself under the digest it is stored as: no content can hash
			// to a digest it contains, so it can only be stored corrupt. Listed in index.json
			// and bundle.json and signed with the trusted key, so that only the content checks
			// stand between it and the provider.
			self := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
			idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: empty.Image,
				Descriptor: v1.Descriptor{MediaType: types.OCIImageIndex, Digest: self, Size: 1}})
			raw, _ := idx.RawManifest()
			if err := os.WriteFile(filepath.Join(site, "blobs", "sha256", self.Hex), raw, 0o644); err != nil {
				t.Fatal(err)
			}
			desc := map[string]any{"mediaType": string(types.OCIImageIndex), "digest": self.String(), "size": len(raw),
				"annotations": map[string]any{bundle.RefAnnotation: refs[0]}}
			editJSON(t, filepath.Join(site, "index.json"), func(m map[string]any) { m["manifests"] = append(m["manifests"].([]any), desc) })
			index, _ := os.ReadFile(filepath.Join(site, "index.json"))
			editJSON(t, filepath.Join(site, bundle.ManifestFile), func(m map[string]any) {
				for _, e := range m["images"].([]any) {
					if e.(map[string]any)["reference"] == refs[0] {
						e.(map[string]any)["digest"] = self.String()
					}
				}
				m["index"] = digestOf(index)
			})
			cosignCLI(t, site, []string{"COSIGN_PASSWORD=office-password"}, "sign-blob", "--key", filepath.Join(keys["office"], "cosign.key"),
				"--tlog-upload=false", "--yes", "--output-signature", bundle.SignatureFile, bundle.ManifestFile)
		}, nil, "corrupt"},
	}
	for _, tc := range cases {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			restore(t)
			tc.tamper(t)
			if tc.undo != nil {
				defer tc.undo(t)
			}
			before := counter.snapshot()
			out, err := st.preview(t, "--policy-pack", s.policyPack)
			if err == nil {
				t.Fatalf("preview accepted the bundle:\n%s", lastLines(out, 20))
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("preview does not say %q:\n%s", tc.want, lastLines(out, 25))
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "stack overflow") {
				t.Errorf("the provider crashed:\n%s", lastLines(out, 25))
			}
			// Nothing was copied, nothing recorded.
			if after := counter.snapshot(); after != before {
				t.Errorf("the site registry saw uploads: %v -> %v", before, after)
			}
			if got := resources(t); got != state {
				t.Errorf("the state's resources changed")
			}
		})
	}

	t.Run("an up with a corrupt blob fails before any copy, the state unchanged", func(t *testing.T) {
		restore(t)
		cases[1].tamper(t)
		before := counter.snapshot()
		out, err := st.tryUp(t, "--policy-pack", s.policyPack)
		if err == nil || !strings.Contains(out, "corrupt") {
			t.Fatalf("up with a corrupt blob: %v\n%s", err, lastLines(out, 20))
		}
		if after := counter.snapshot(); after != before {
			t.Errorf("the site registry saw uploads: %v -> %v", before, after)
		}
		if got := resources(t); got != state {
			t.Errorf("the state's resources changed:\n%s\n%s", state, got)
		}
	})

	t.Run("the pristine bundle: no changes", func(t *testing.T) {
		restore(t)
		out, err := st.preview(t, "--expect-no-changes", "--policy-pack", s.policyPack)
		if err != nil {
			t.Fatalf("preview of the pristine bundle: %v\n%s", err, lastLines(out, 20))
		}
	})

	// The images are where the mirror scheme puts them.
	for _, ref := range refs[:2] {
		r, _ := name.ParseReference(ref, name.Insecure)
		want, err := remote.Head(r)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := registryDigest(regAddr, ref); err != nil || got != want.Digest {
			t.Errorf("%s in the site registry: %v %v, want %s", ref, got, err, want.Digest)
		}
	}
}
