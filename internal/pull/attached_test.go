package pull

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
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
	"airgap-site/internal/imagetest"
	"airgap-site/signing"
)

// vendor is a registry holding images signed the way cosign signs them, and the key.
type vendor struct {
	host   string
	signer *signing.Signer
	key    *Key
}

// newVendor starts an in-memory registry, with or without the OCI 1.1 Referrers API (without
// it, go-containerregistry keeps referrers under the sha256-<hex> referrers tag), and makes a
// signing key.
func newVendor(t *testing.T, referrersAPI bool) *vendor {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrersAPI)))
	t.Cleanup(srv.Close)
	s, k := testKey(t)
	return &vendor{host: strings.TrimPrefix(srv.URL, "http://"), signer: s, key: k}
}

// testKey is a signer and its public key as LoadKeys reads it.
func testKey(t *testing.T) (*signing.Signer, *Key) {
	t.Helper()
	s, pub, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.ParseKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, &Key{Path: "vendor.pub", Key: k}
}

func (v *vendor) ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(v.host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (v *vendor) write(t *testing.T, ref name.Reference, img v1.Image) {
	t.Helper()
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

// payload is cosign's simple-signing payload for digest d.
func payload(d v1.Hash) []byte {
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":"vendor/app"},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, d)
}

// sigLayer is one layer of a signature image: the payload and the annotation's signature.
type sigLayer struct {
	payload []byte
	sig     string // "" leaves the annotation out
}

func (v *vendor) sign(t *testing.T, b []byte) string {
	t.Helper()
	sig, err := v.signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(sig)
}

// signatureImage is a signature image as cosign writes it: an OCI manifest, one simple-signing
// layer per signature, each signature in the layer's annotation.
func signatureImage(t *testing.T, layers ...sigLayer) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, l := range layers {
		var ann map[string]string
		if l.sig != "" {
			ann = map[string]string{signatureAnnotation: l.sig}
		}
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer(l.payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
			Annotations: ann,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// attestationImage is an attestation image as cosign attest writes it: one DSSE envelope per
// layer around an in-toto statement about subject, signed by s over the envelope's
// pre-authentication encoding.
func attestationImage(t *testing.T, s *signing.Signer, subject v1.Hash) v1.Image {
	t.Helper()
	statement := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[{"name":"vendor/app","digest":{%q:%q}}],"predicate":{}}`,
		subject.Algorithm, subject.Hex)
	const payloadType = "application/vnd.in-toto+json"
	pae := fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(statement), statement)
	sig, err := s.Sign(pae)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := json.Marshal(map[string]any{"payloadType": payloadType, "payload": base64.StdEncoding.EncodeToString(statement),
		"signatures": []map[string]string{{"keyid": "", "sig": string(sig)}}})
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(env, "application/vnd.dsse.envelope.v1+json")})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// artifact is an OCI 1.1 artifact (an SBOM) whose subject is the image desc.
func artifact(t *testing.T, subject v1.Descriptor, content string) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIEmptyJSON)
	img, err := mutate.Append(img, mutate.Addendum{Layer: static.NewLayer([]byte(content), "application/spdx+json")})
	if err != nil {
		t.Fatal(err)
	}
	return mutate.Subject(img, subject).(v1.Image)
}

func descriptorOf(t *testing.T, img v1.Image) v1.Descriptor {
	t.Helper()
	m, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	size, err := img.Size()
	if err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: m, Digest: imagetest.Digest(t, img), Size: size}
}

// TestPullCarriesAttached: the signature and attestation images and the referrers of an image
// are bundled beside it under the bundle's scheme, byte for byte, through the Referrers API
// and through the referrers tag of a registry without it.
func TestPullCarriesAttached(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("referrers API %v", api), func(t *testing.T) {
			v := newVendor(t, api)
			img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 4096))
			d := imagetest.Digest(t, img)
			v.write(t, v.ref(t, "vendor/app:1"), img)
			sig := signatureImage(t, sigLayer{payload(d), v.sign(t, payload(d))})
			v.write(t, v.ref(t, "vendor/app:"+bundle.AttachedTag(d, bundle.Signatures)), sig)
			att := attestationImage(t, v.signer, d)
			v.write(t, v.ref(t, "vendor/app:"+bundle.AttachedTag(d, bundle.Attestations)), att)
			sbom := artifact(t, descriptorOf(t, img), `{"spdxVersion":"SPDX-2.3"}`)
			v.write(t, v.ref(t, "vendor/app@"+imagetest.Digest(t, sbom).String()), sbom)

			p, w, dir := newPullerAt(t, Options{Insecure: []string{v.host}})
			ref := v.host + "/vendor/app:1"
			got, err := p.Pull(context.Background(), w, ref, v.key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.SignedBy != v.key || len(got.Attached) != 3 {
				t.Fatalf("pulled %+v, want the key's signature verified and 3 attached entries", got)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			b, err := bundle.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			as, err := b.Attached(ref, d)
			if err != nil {
				t.Fatal(err)
			}
			want := map[bundle.AttachedKind]string{
				bundle.Signatures:   v.host + "/vendor/app:sha256-" + d.Hex + ".sig",
				bundle.Attestations: v.host + "/vendor/app:sha256-" + d.Hex + ".att",
				bundle.Referrers:    v.host + "/vendor/app:sha256-" + d.Hex + ".ref",
			}
			for _, a := range as {
				if a.Reference != want[a.Kind] {
					t.Errorf("%s stored as %s, want %s", a.Kind, a.Reference, want[a.Kind])
				}
			}
			if len(as) != 3 {
				t.Fatalf("bundle holds %+v, want the three", as)
			}
			if as[0].Descriptor.Digest != imagetest.Digest(t, sig) || as[1].Descriptor.Digest != imagetest.Digest(t, att) {
				t.Errorf("signatures or attestations not kept byte for byte: %+v", as)
			}
			idx, err := b.Index(as[2].Reference)
			if err != nil {
				t.Fatal(err)
			}
			im, _ := idx.IndexManifest()
			if len(im.Manifests) != 1 || im.Manifests[0].Digest != imagetest.Digest(t, sbom) {
				t.Fatalf("referrers stored: %+v, want the SBOM %s", im.Manifests, imagetest.Digest(t, sbom))
			}
			if _, err := idx.Image(im.Manifests[0].Digest); err != nil {
				t.Errorf("the SBOM is not readable from the bundle: %v", err)
			}
		})
	}
}

// TestPullWithoutKeyCarriesNoSignatures: without a key in images.yaml, an image's cosign
// signatures and attestations stay behind (nothing could verify them), and the output says so;
// its referrers travel as with a key.
func TestPullWithoutKeyCarriesNoSignatures(t *testing.T) {
	v := newVendor(t, true)
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 4096))
	d := imagetest.Digest(t, img)
	v.write(t, v.ref(t, "vendor/app:1"), img)
	v.write(t, v.ref(t, "vendor/app:"+bundle.AttachedTag(d, bundle.Signatures)), signatureImage(t, sigLayer{payload(d), v.sign(t, payload(d))}))
	v.write(t, v.ref(t, "vendor/app:"+bundle.AttachedTag(d, bundle.Attestations)), attestationImage(t, v.signer, d))
	sbom := artifact(t, descriptorOf(t, img), `{"spdxVersion":"SPDX-2.3"}`)
	v.write(t, v.ref(t, "vendor/app@"+imagetest.Digest(t, sbom).String()), sbom)

	p, w, dir := newPullerAt(t, Options{Insecure: []string{v.host}})
	ref := v.host + "/vendor/app:1"
	got, err := p.Pull(context.Background(), w, ref, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Attached) != 1 || !strings.HasSuffix(got.Attached[0].Reference, ".ref") {
		t.Errorf("attached %+v, want the referrers only", got.Attached)
	}
	skipped := strings.Join(got.Skipped, "\n")
	for _, s := range []string{"cosign signatures (sha256-" + d.Hex + ".sig): not carried", "cosign attestations (sha256-" + d.Hex + ".att): not carried", "key:"} {
		if !strings.Contains(skipped, s) {
			t.Errorf("skipped %q does not say %q", skipped, s)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := bundle.Open(dir)
	as, err := b.Attached(ref, d)
	if err != nil || len(as) != 1 || as[0].Kind != bundle.Referrers {
		t.Errorf("bundle holds %+v (%v), want the referrers only", as, err)
	}
}

// TestPullWithoutAttached: an image with nothing attached is bundled as before, alone.
func TestPullWithoutAttached(t *testing.T) {
	v := newVendor(t, true)
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))
	v.write(t, v.ref(t, "vendor/plain:1"), img)
	p, w, dir := newPullerAt(t, Options{Insecure: []string{v.host}})
	got, err := p.Pull(context.Background(), w, v.host+"/vendor/plain:1", nil, nil)
	if err != nil || len(got.Attached) != 0 || got.SignedBy != nil {
		t.Fatalf("Pull = %+v, %v; want the image alone", got, err)
	}
	w.Close()
	b, _ := bundle.Open(dir)
	if n := len(b.Entries()); n != 1 {
		t.Errorf("bundle has %d entries, want 1", n)
	}
}

// TestPullReferrersRefused: a registry that refuses the Referrers API endpoint (405) instead
// of answering 404 does not fail the image; the output says none were carried.
func TestPullReferrersRefused(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/referrers/") {
			http.Error(w, `{"errors":[{"code":"UNSUPPORTED"}]}`, http.StatusMethodNotAllowed)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))
	if err := remote.Write(imagetest.Ref(t, host+"/vendor/app:1"), img); err != nil {
		t.Fatal(err)
	}
	p, w := newPuller(t, Options{Insecure: []string{host}})
	got, err := p.Pull(context.Background(), w, host+"/vendor/app:1", nil, nil)
	if err != nil || len(got.Attached) != 0 || len(got.Skipped) != 1 || !strings.Contains(got.Skipped[0], "answers 405 to the Referrers API") {
		t.Errorf("Pull = %+v, %v; want the image, and a note that the referrers were refused", got, err)
	}
}

// TestPullRefusesBadSignatures: with a key named, an image without a valid signature by it
// fails, naming the image and the key, and nothing of it is stored.
func TestPullRefusesBadSignatures(t *testing.T) {
	v := newVendor(t, true)
	other, _ := testKey(t)
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))
	d := imagetest.Digest(t, img)
	elsewhere := imagetest.Digest(t, imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024)))
	otherSig, _ := other.Sign(payload(d))

	for name, tc := range map[string]struct {
		sig  []sigLayer // nil: no signature image
		want string
	}{
		"no signature":        {nil, "no signature by key " + v.key.ID + " (vendor.pub): the registry has no"},
		"another key":         {[]sigLayer{{payload(d), string(otherSig)}}, "no trusted key verifies the signature"},
		"another image":       {[]sigLayer{{payload(elsewhere), v.sign(t, payload(elsewhere))}}, "not this image"},
		"payload changed":     {[]sigLayer{{append(payload(d), ' '), v.sign(t, payload(d))}}, "no trusted key verifies the signature"},
		"annotation missing":  {[]sigLayer{{payload: payload(d)}}, "no " + signatureAnnotation + " annotation"},
		"signature not text":  {[]sigLayer{{payload(d), "%%%"}}, "not base64"},
		"not a simple-signed": {[]sigLayer{{[]byte("plain"), v.sign(t, []byte("plain"))}}, "not a simple-signing payload"},
	} {
		t.Run(name, func(t *testing.T) {
			repo := "vendor/" + strings.ReplaceAll(name, " ", "-")
			v.write(t, v.ref(t, repo+":1"), img)
			if tc.sig != nil {
				v.write(t, v.ref(t, repo+":"+bundle.AttachedTag(d, bundle.Signatures)), signatureImage(t, tc.sig...))
			}
			p, w, dir := newPullerAt(t, Options{Insecure: []string{v.host}})
			ref := v.host + "/" + repo + ":1"
			_, err := p.Pull(context.Background(), w, ref, v.key, nil)
			if err == nil {
				t.Fatal("bundled without a valid signature")
			}
			t.Log(err)
			for _, s := range []string{"verifying signature of " + ref, v.key.ID, tc.want} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			w.Close()
			b, _ := bundle.Open(dir)
			if n := len(b.Entries()); n != 0 {
				t.Errorf("bundle holds %d entries of an image that failed", n)
			}
		})
	}

	// One valid signature among bad ones is enough, as for cosign.
	v.write(t, v.ref(t, "vendor/mixed:1"), img)
	v.write(t, v.ref(t, "vendor/mixed:"+bundle.AttachedTag(d, bundle.Signatures)), signatureImage(t,
		sigLayer{payload(d), string(otherSig)}, sigLayer{payload(d), v.sign(t, payload(d))}))
	p, w := newPuller(t, Options{Insecure: []string{v.host}})
	if _, err := p.Pull(context.Background(), w, v.host+"/vendor/mixed:1", v.key, nil); err != nil {
		t.Errorf("a valid signature beside another key's: %v", err)
	}
}

// TestPullRefusesBadAttestations: with a key named, every attestation carried must be signed
// by it and be about the image.
func TestPullRefusesBadAttestations(t *testing.T) {
	v := newVendor(t, true)
	other, _ := testKey(t)
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))
	d := imagetest.Digest(t, img)
	elsewhere := imagetest.Digest(t, imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024)))
	for name, tc := range map[string]struct {
		att  v1.Image
		want string
	}{
		"another key":      {attestationImage(t, other, d), "no signature by key"},
		"about another":    {attestationImage(t, v.signer, elsewhere), "not about " + d.String()},
		"not an envelope":  {signatureImage(t, sigLayer{payload: []byte("plain")}), "not a DSSE envelope"},
		"a good one, kept": {attestationImage(t, v.signer, d), ""},
	} {
		t.Run(name, func(t *testing.T) {
			repo := "vendor/att-" + strings.ReplaceAll(name, " ", "-")
			repo = strings.TrimSuffix(repo, ",-kept")
			v.write(t, v.ref(t, repo+":1"), img)
			v.write(t, v.ref(t, repo+":"+bundle.AttachedTag(d, bundle.Signatures)), signatureImage(t, sigLayer{payload(d), v.sign(t, payload(d))}))
			v.write(t, v.ref(t, repo+":"+bundle.AttachedTag(d, bundle.Attestations)), tc.att)
			p, w := newPuller(t, Options{Insecure: []string{v.host}})
			_, err := p.Pull(context.Background(), w, v.host+"/"+repo+":1", v.key, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("a valid attestation refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "verifying attestations of") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestPullSignedIndexWithPlatforms: a signed index that --platform would rebuild cannot be
// verified (the signature is over the registry's digest): it fails, saying what to do.
func TestPullSignedIndexWithPlatforms(t *testing.T) {
	v := newVendor(t, true)
	idx := imagetest.Index(t, imagetest.Layer(t, 1024), 1024, "linux/amd64", "linux/arm64")
	d := imagetest.Digest(t, idx)
	if err := remote.WriteIndex(v.ref(t, "vendor/multi:1"), idx); err != nil {
		t.Fatal(err)
	}
	v.write(t, v.ref(t, "vendor/multi:"+bundle.AttachedTag(d, bundle.Signatures)), signatureImage(t, sigLayer{payload(d), v.sign(t, payload(d))}))

	p, w := newPuller(t, Options{Insecure: []string{v.host}, Platforms: []string{"linux/amd64"}})
	_, err := p.Pull(context.Background(), w, v.host+"/vendor/multi:1", v.key, nil)
	if err == nil || !strings.Contains(err.Error(), "--platform rebuilt its index") {
		t.Errorf("filtered signed index: %v", err)
	}
	// Every platform: the index's own signature verifies and travels.
	p, w = newPuller(t, Options{Insecure: []string{v.host}})
	got, err := p.Pull(context.Background(), w, v.host+"/vendor/multi:1", v.key, nil)
	if err != nil || len(got.Attached) != 1 {
		t.Errorf("signed index: %+v, %v", got, err)
	}
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	s, _ := testKey(t)
	pub, _ := s.PublicKeyPEM()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "vendor.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := ParseList([]byte("- {image: a:1, key: keys/vendor.pub}\n- {image: b:1, key: keys/vendor.pub}\n- c:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := list.LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := keys["docker.io/library/a:1"], keys["docker.io/library/b:1"]
	if a == nil || a != b || a.Path != "keys/vendor.pub" || keys["docker.io/library/c:1"] != nil {
		t.Errorf("keys = %v", keys)
	}
	list.Keys["docker.io/library/c:1"] = "keys/missing.pub"
	if _, err := list.LoadKeys(dir); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "key of docker.io/library/c:1") {
		t.Errorf("missing key file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "missing.pub"), []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := list.LoadKeys(dir); err == nil || !strings.Contains(err.Error(), "reading public key") {
		t.Errorf("garbage key file: %v", err)
	}
}
