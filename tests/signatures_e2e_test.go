//go:build e2e

package tests

import (
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
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/bundle"
	"airgap-site/mirror"
	"airgap-site/signing"
)

// TestVendorSignatures is a vendor's signature from their registry to the site: an image signed
// and attested with the real cosign CLI, with an SBOM attached as an OCI 1.1 referrer, in the
// real registry; `airgap bundle` with images.yaml naming the vendor's key verifies the
// signature and carries all three (and refuses an unsigned image, naming it and the key); the
// stack pushes them beside the image; `cosign verify` against the site registry succeeds,
// offline; a second up sends nothing, and destroy leaves them.
func TestVendorSignatures(t *testing.T) {
	// Parallel: its own stack, namespace, ports and registry; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	work := t.TempDir()
	vendorKeys, officeKeys := cosignKeyPair(t, work, "vendor"), cosignKeyPair(t, work, "office")
	pub, err := os.ReadFile(filepath.Join(vendorKeys, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	vendorKey, err := signing.ParseKey(pub)
	if err != nil {
		t.Fatal(err)
	}

	// The vendor's registry (distribution, with the Referrers API): a signed, attested image
	// with an SBOM referrer, and an image they forgot to sign.
	vendor := fsRegistry(t)
	signedRef, unsignedRef := vendor+"/factory/signed:1", vendor+"/factory/unsigned:1"
	img := pushRandom(t, signedRef)
	pushRandom(t, unsignedRef)
	d, _ := img.Digest()
	byDigest := vendor + "/factory/signed@" + d.String()
	vendorCosign := []string{"COSIGN_PASSWORD=vendor-password"}
	regFlags := []string{"--allow-insecure-registry", "--allow-http-registry"}
	cosignCLI(t, vendorKeys, vendorCosign, append(append([]string{"sign", "--key", "cosign.key", "--tlog-upload=false"}, regFlags...), "--yes", byDigest)...)
	if err := os.WriteFile(filepath.Join(vendorKeys, "predicate.json"), []byte(`{"builder":"vendor-ci","run":42}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cosignCLI(t, vendorKeys, vendorCosign, append(append([]string{"attest", "--key", "cosign.key", "--tlog-upload=false",
		"--type", "custom", "--predicate", "predicate.json"}, regFlags...), "--yes", byDigest)...)
	sbom := pushReferrer(t, vendor+"/factory/signed", img)

	// The office: the vendor's key beside images.yaml, named relative to it.
	office := filepath.Join(work, "images")
	if err := os.MkdirAll(filepath.Join(office, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(office, "keys", "vendor.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	imagesFile := filepath.Join(office, "images.yaml")
	airgapBundle := func(t *testing.T, out string, refs ...string) (string, error) {
		t.Helper()
		var list strings.Builder
		for _, r := range refs {
			fmt.Fprintf(&list, "- {image: %s, key: keys/vendor.pub}\n", r)
		}
		if err := os.WriteFile(imagesFile, []byte(list.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(s.airgap, "bundle", "--images", imagesFile, "--out", out, "--insecure-registry", vendor,
			"--sign-key", filepath.Join(officeKeys, "cosign.key"))
		cmd.Env = append(cleanEnv(), "COSIGN_PASSWORD=office-password")
		b, err := cmd.CombinedOutput()
		return string(b), err
	}

	t.Run("an unsigned image with a key named is not bundled", func(t *testing.T) {
		out, err := airgapBundle(t, filepath.Join(work, "refused"), unsignedRef)
		if err == nil {
			t.Fatalf("airgap bundle accepted an unsigned image:\n%s", out)
		}
		for _, want := range []string{"verifying signature of " + unsignedRef, "key " + vendorKey.ID + " (keys/vendor.pub)", "1 of 1 images failed"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	site := filepath.Join(work, "bundle")
	target, err := mirror.TargetOf(signedRef)
	if err != nil {
		t.Fatal(err)
	}
	tags := map[bundle.AttachedKind]string{}
	for _, k := range []bundle.AttachedKind{bundle.Signatures, bundle.Attestations} {
		tags[k] = bundle.AttachedTag(d, k)
	}
	vendorDigest := func(t *testing.T, tag string) v1.Hash {
		t.Helper()
		desc, err := remote.Head(insecureRef(t, vendor+"/factory/signed:"+tag))
		if err != nil {
			t.Fatalf("the vendor's %s: %v", tag, err)
		}
		return desc.Digest
	}
	ok := t.Run("the signed image is bundled with its signature, attestation and referrer", func(t *testing.T) {
		out, err := airgapBundle(t, site, signedRef)
		if err != nil {
			t.Fatalf("airgap bundle: %v\n%s", err, out)
		}
		for _, want := range []string{"signature by key " + vendorKey.ID + " (keys/vendor.pub) verified",
			"bundled " + vendor + "/factory/signed:" + tags[bundle.Signatures], "bundled " + vendor + "/factory/signed:" + tags[bundle.Attestations]} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		b, err := bundle.Open(site)
		if err != nil {
			t.Fatal(err)
		}
		as, err := b.Attached(signedRef, d)
		if err != nil || len(as) != 3 {
			t.Fatalf("the bundle holds %+v, %v; want the signatures, the attestations and the referrers", as, err)
		}
		for _, a := range as[:2] {
			if want := vendorDigest(t, tags[a.Kind]); a.Descriptor.Digest != want {
				t.Errorf("%s: bundled %s, the vendor's is %s", a.Reference, a.Descriptor.Digest, want)
			}
		}
	})
	if !ok {
		t.FailNow()
	}

	// The site: the real registry on the test bed's S3 server, behind an upload counter.
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s3Registry(t, regAddr, "/signatures-e2e")
	counter := newRegistryCounter(t, regAddr)
	st := newTestStack(t, "signatures", stackOptions{upstreams: []string{"docker.io", target.Upstream},
		images: map[string]any{"bundle": site, "trustedKeys": []string{filepath.Join(officeKeys, "cosign.pub")}, "registry": counter.addr,
			"list": []string{signedRef}}})

	siteRepo := regAddr + "/" + target.Repository
	ok = t.Run("up pushes them beside the image", func(t *testing.T) {
		out := st.up(t, "--policy-pack", s.policyPack)
		if !strings.Contains(out, "3 attached artifacts") {
			t.Errorf("up does not report the attached artifacts:\n%s", lastLines(out, 20))
		}
		if got, err := registryDigest(regAddr, signedRef); err != nil || got != d {
			t.Fatalf("the image in the site registry: %v, %v; want %s", got, err, d)
		}
		for _, tag := range tags {
			desc, err := remote.Head(insecureRef(t, siteRepo+":"+tag))
			if err != nil || desc.Digest != vendorDigest(t, tag) {
				t.Errorf("%s:%s in the site registry: %v, %v; want the vendor's %s", siteRepo, tag, desc, err, vendorDigest(t, tag))
			}
		}
		idx, err := remote.Referrers(insecureRef(t, siteRepo+"@"+d.String()).(name.Digest))
		if err != nil {
			t.Fatalf("the site registry's Referrers API: %v", err)
		}
		im, _ := idx.IndexManifest()
		if len(im.Manifests) != 1 || im.Manifests[0].Digest != sbom {
			t.Errorf("the site registry lists the referrers %+v, want the SBOM %s", im.Manifests, sbom)
		}
	})
	if !ok {
		t.FailNow()
	}

	t.Run("cosign verifies the vendor's signature and attestation at the site, offline", func(t *testing.T) {
		site := siteRepo + "@" + d.String()
		out := cosignCLI(t, vendorKeys, nil, append(append([]string{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true"}, regFlags...), site)...)
		if !strings.Contains(out, `"docker-manifest-digest":"`+d.String()+`"`) {
			t.Errorf("cosign verify:\n%s", out)
		}
		out = cosignCLI(t, vendorKeys, nil, append(append([]string{"verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true",
			"--type", "custom"}, regFlags...), site)...)
		if !strings.Contains(out, `"payloadType"`) {
			t.Errorf("cosign verify-attestation:\n%s", out)
		}
	})

	t.Run("a second up sends nothing", func(t *testing.T) {
		before := counter.snapshot()
		st.up(t, "--policy-pack", s.policyPack)
		if after := counter.snapshot(); after != before {
			t.Errorf("uploads/mounts/bytes %v -> %v", before, after)
		}
	})

	t.Run("destroy deletes the image's tag and keeps the signatures", func(t *testing.T) {
		if out, err := st.destroy(t); err != nil {
			t.Fatalf("destroy: %v\n%s", err, lastLines(out, 20))
		}
		if _, err := registryDigest(regAddr, signedRef); err == nil {
			t.Errorf("%s is still tagged after destroy", signedRef)
		}
		for _, tag := range tags {
			if _, err := remote.Head(insecureRef(t, siteRepo+":"+tag)); err != nil {
				t.Errorf("%s:%s after destroy: %v", siteRepo, tag, err)
			}
		}
	})
}

// pushReferrer pushes, by digest, an SBOM artifact whose subject is img into repo, as a vendor's
// build would (oras attach), and returns its digest.
func pushReferrer(t *testing.T, repo string, img v1.Image) v1.Hash {
	t.Helper()
	mt, _ := img.MediaType()
	d, _ := img.Digest()
	size, _ := img.Size()
	art := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	art, err := mutate.Append(art, mutate.Addendum{Layer: static.NewLayer([]byte(`{"spdxVersion":"SPDX-2.3","name":"signed"}`), "application/spdx+json")})
	if err != nil {
		t.Fatal(err)
	}
	art = mutate.Subject(art, v1.Descriptor{MediaType: mt, Digest: d, Size: size}).(v1.Image)
	ad, _ := art.Digest()
	if err := remote.Write(insecureRef(t, repo+"@"+ad.String()), art); err != nil {
		t.Fatalf("pushing the SBOM referrer: %v", err)
	}
	return ad
}
