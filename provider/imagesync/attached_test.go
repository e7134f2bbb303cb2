package imagesync

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
)

// artifactImage is a small OCI artifact: one layer of content, the subject when given.
func artifactImage(t *testing.T, content, layerType string, subject *v1.Descriptor) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer([]byte(content), types.MediaType(layerType)),
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": "c2ln"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if subject != nil {
		img = mutate.Subject(img, *subject).(v1.Image)
	}
	return img
}

// signedBundle writes a bundle holding ref, an image with a signature, an attestation and one
// referrer (an SBOM) beside it, as airgap bundle stores them.
func signedBundle(t *testing.T, ref string) (dir string, img, sig, att, sbom v1.Image) {
	t.Helper()
	img = imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 64<<10))
	d := imagetest.Digest(t, img)
	sig = artifactImage(t, `{"critical":{"image":{"docker-manifest-digest":"`+d.String()+`"}}}`, "application/vnd.dev.cosign.simplesigning.v1+json", nil)
	att = artifactImage(t, `{"payloadType":"application/vnd.in-toto+json"}`, "application/vnd.dsse.envelope.v1+json", nil)
	size, _ := img.Size()
	mt, _ := img.MediaType()
	sbom = artifactImage(t, `{"spdxVersion":"SPDX-2.3"}`, "application/spdx+json", &v1.Descriptor{MediaType: mt, Digest: d, Size: size})
	refs := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: sbom, Descriptor: v1.Descriptor{ArtifactType: "application/spdx+json"}})
	attached := func(k bundle.AttachedKind) string {
		r, err := bundle.AttachedRef(ref, d, k)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	dir = filepath.Join(t.TempDir(), "bundle")
	bundletest.Write(t, dir,
		bundletest.Entry{Ref: ref, Image: img},
		bundletest.Entry{Ref: attached(bundle.Signatures), Image: sig},
		bundletest.Entry{Ref: attached(bundle.Attestations), Image: att},
		bundletest.Entry{Ref: attached(bundle.Referrers), Index: refs},
	)
	return dir, img, sig, att, sbom
}

// referrersRegistry is an in-memory registry with or without the Referrers API.
func referrersRegistry(t *testing.T, api bool) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(api)))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func parseRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCopyAttached: what the bundle carries beside an image lands beside it in the registry,
// under the same repository: the signature and attestation under their tags, the referrer by
// digest, listed by the Referrers API (or, without it, the referrers tag). Copying again
// sends nothing.
func TestCopyAttached(t *testing.T) {
	const ref = "docker.io/vendor/app:1"
	for _, api := range []bool{true, false} {
		t.Run(map[bool]string{true: "referrers API", false: "referrers tag"}[api], func(t *testing.T) {
			dir, img, sig, att, sbom := signedBundle(t, ref)
			d := imagetest.Digest(t, img)
			atts, err := BundleAttachments(dir, ref, d)
			if err != nil {
				t.Fatal(err)
			}
			if len(atts) != 3 || atts[0].Tag != "sha256-"+d.Hex+".sig" || atts[1].Tag != "sha256-"+d.Hex+".att" || atts[2].Tag != "" {
				t.Fatalf("attachments: %+v", atts)
			}
			host := referrersRegistry(t, api)
			dst := parseRef(t, host+"/docker.io/vendor/app:1")
			if _, err := Copy(context.Background(), Source{Image: img}, dst, Options{}); err != nil {
				t.Fatal(err)
			}
			res, err := CopyAttached(context.Background(), atts, dst, d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.SentBytes == 0 || res.BlobsUploaded == 0 {
				t.Errorf("first copy sent nothing: %+v", res)
			}
			// The referrer is also tagged, so the registry's garbage collection keeps it.
			referrerTag := bundle.ReferrerTag(d, imagetest.Digest(t, sbom))
			for tag, want := range map[string]v1.Image{atts[0].Tag: sig, atts[1].Tag: att, referrerTag: sbom} {
				desc, err := remote.Head(parseRef(t, host+"/docker.io/vendor/app:"+tag))
				if err != nil || desc.Digest != imagetest.Digest(t, want) {
					t.Errorf("%s: %v, %v; want %s", tag, desc, err, imagetest.Digest(t, want))
				}
			}
			idx, err := remote.Referrers(parseRef(t, host+"/docker.io/vendor/app@"+d.String()).(name.Digest))
			if err != nil {
				t.Fatal(err)
			}
			im, _ := idx.IndexManifest()
			if len(im.Manifests) != 1 || im.Manifests[0].Digest != imagetest.Digest(t, sbom) {
				t.Errorf("the registry lists the referrers %+v, want the SBOM %s", im.Manifests, imagetest.Digest(t, sbom))
			}

			again, err := CopyAttached(context.Background(), atts, dst, d, Options{})
			if err != nil || again.SentBytes != 0 || again.BlobsUploaded != 0 {
				t.Errorf("second copy: %+v, %v; want nothing sent", again, err)
			}
		})
	}
}

// TestBundleAttachmentsNone: an image with nothing attached has an empty list, as before.
func TestBundleAttachmentsNone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bundle")
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))
	bundletest.Write(t, dir, bundletest.Entry{Ref: "docker.io/library/plain:1", Image: img})
	atts, err := BundleAttachments(dir, "docker.io/library/plain:1", imagetest.Digest(t, img))
	if err != nil || len(atts) != 0 {
		t.Errorf("BundleAttachments = %+v, %v; want none", atts, err)
	}
}

// TestCopyAttachedPinnedWithoutReferrersAPI: an image pinned by digest is stored under
// sha256-<hex>, which is also its referrers tag. Against a registry without the Referrers API
// its referrers fail before anything of them is put, and the image's tag is left as it was.
func TestCopyAttachedPinnedWithoutReferrersAPI(t *testing.T) {
	dir, img, _, _, sbom := signedBundle(t, "docker.io/vendor/app:1")
	d := imagetest.Digest(t, img)
	atts, err := BundleAttachments(dir, "docker.io/vendor/app:1", d)
	if err != nil {
		t.Fatal(err)
	}
	host := referrersRegistry(t, false)
	dst := parseRef(t, host+"/docker.io/vendor/app:sha256-"+d.Hex)
	if _, err := Copy(context.Background(), Source{Image: img}, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	_, err = CopyAttached(context.Background(), atts, dst, d, Options{})
	if err == nil || !strings.Contains(err.Error(), "need the registry's Referrers API") {
		t.Fatalf("referrers of a pinned image without the API: %v", err)
	}
	if desc, err := remote.Head(dst); err != nil || desc.Digest != d {
		t.Errorf("the image's tag is now %v, %v; want %s", desc, err, d)
	}
	// Nothing of the referrer was put, so a later try does not take it for done.
	if _, err := remote.Head(parseRef(t, host+"/docker.io/vendor/app@"+imagetest.Digest(t, sbom).String())); err == nil {
		t.Error("the referrer was put, unlisted")
	}
}
