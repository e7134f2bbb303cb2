package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"airgap-site/bundle"
	"airgap-site/bundle/serve"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/signing"
)

// source pushes two images sharing a base layer and a 2-platform index to an in-memory
// registry and returns its host and the references with their digests.
func source(t *testing.T) (host string, digests map[string]string) {
	t.Helper()
	host = sourceRegistry(t)
	base := imagetest.Layer(t, 8192)
	one := imagetest.Image(t, "linux/amd64", base, imagetest.Layer(t, 8192))
	two := imagetest.Image(t, "linux/amd64", base, imagetest.Layer(t, 8192))
	multi := imagetest.Index(t, imagetest.Layer(t, 8192), 8192, "linux/amd64", "linux/arm64")
	digests = map[string]string{
		host + "/library/one:1": imagetest.Digest(t, one).String(),
		host + "/team/two:2":    imagetest.Digest(t, two).String(),
		host + "/multi/arch:3":  imagetest.Digest(t, multi).String(),
	}
	if err := remote.Write(imagetest.Ref(t, host+"/library/one:1"), one); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(imagetest.Ref(t, host+"/team/two:2"), two); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(imagetest.Ref(t, host+"/multi/arch:3"), multi); err != nil {
		t.Fatal(err)
	}
	return host, digests
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "images.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rewrite sends requests for /v2/<from>/... to /v2/<to>/...: go-containerregistry cannot
// name a repository with a port in it (<server>/127.0.0.1:port/x), which is what containerd
// asks a mirror for when the upstream has a port.
type rewrite struct{ from, to string }

func (rw rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Path = strings.Replace(r.URL.Path, "/v2/"+rw.from+"/", "/v2/"+rw.to+"/", 1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestBundleAndServe(t *testing.T) {
	host, digests := source(t)
	images := writeFile(t, fmt.Sprintf(`images:
  - %[1]s/library/one:1
  - image: %[1]s/team/two:2
  - %[1]s/multi/arch:3
  - image: factory/scanner:1
    build: {context: ./scanner}
`, host))
	out := filepath.Join(t.TempDir(), "bundle")
	var stderr bytes.Buffer
	err := runBundle(context.Background(), bundleOptions{
		Images: images, Out: out, Insecure: []string{host}, Concurrency: 2,
		Stderr: &stderr, Keychain: authn.NewMultiKeychain(), Interval: time.Millisecond,
	})
	if err != nil {
		t.Fatalf("runBundle: %v\n%s", err, stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{"skipping docker.io/factory/scanner:1: built at the site", "[1/3] ", "[3/3] ",
		host + "/multi/arch:3 ... ", "bundled 3 of 3 images"} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, log)
		}
	}

	b := bundletest.Open(t, out)
	for r, want := range digests {
		d, err := b.Lookup(r)
		if err != nil {
			t.Fatal(err)
		}
		if d.Digest.String() != want {
			t.Errorf("%s: bundled digest %s, want %s", r, d.Digest, want)
		}
	}
	if n := len(b.Entries()); n != 3 {
		t.Errorf("bundle.json has %d entries, want 3", n)
	}
	if _, err := b.Lookup("factory/scanner:1"); err == nil {
		t.Error("a site-built image was bundled")
	}

	// Serve the bundle and pull every image back by its mirror-scheme name.
	served := bundletest.Serve(t, serve.New(bundletest.Open(t, out)))
	opt := remote.WithTransport(rewrite{from: "src.test", to: host})
	for r, want := range digests {
		mirrored := served + "/src.test/" + strings.TrimPrefix(r, host+"/")
		if strings.HasSuffix(r, "/multi/arch:3") {
			idx, err := remote.Index(imagetest.Ref(t, mirrored), opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := imagetest.Digest(t, idx).String(); got != want {
				t.Errorf("%s: served digest %s, want %s", r, got, want)
			}
			if err := validate.Index(idx); err != nil {
				t.Errorf("%s: %v", r, err)
			}
			continue
		}
		img, err := remote.Image(imagetest.Ref(t, mirrored), opt)
		if err != nil {
			t.Fatal(err)
		}
		if got := imagetest.Digest(t, img).String(); got != want {
			t.Errorf("%s: served digest %s, want %s", r, got, want)
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
	// The literal path containerd sends, port and all.
	resp, _ := bundletest.Do(t, "HEAD", "http://"+served+"/v2/"+host+"/team/two/manifests/2")
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != digests[host+"/team/two:2"] {
		t.Errorf("HEAD /v2/%s/team/two/manifests/2 = %d %v", host, resp.StatusCode, resp.Header)
	}
	if resp, _ := bundletest.Do(t, "PUT", "http://"+served+"/v2/"+host+"/team/two/manifests/2"); resp.StatusCode != 405 {
		t.Errorf("PUT = %d, want 405", resp.StatusCode)
	}
	if resp, _ := bundletest.Do(t, "GET", "http://"+served+"/v2/"+host+"/team/missing/manifests/2"); resp.StatusCode != 404 {
		t.Errorf("GET missing = %d, want 404", resp.StatusCode)
	}
}

func TestBundlePlatformsAndFailures(t *testing.T) {
	host, digests := source(t)
	pinned := host + "/multi/arch@" + digests[host+"/multi/arch:3"]
	images := writeFile(t, fmt.Sprintf("- %[1]s/library/one:1\n- %[1]s/multi/arch:3\n- %[1]s/library/missing:1\n- %[2]s\n", host, pinned))
	out := t.TempDir()
	var stderr bytes.Buffer
	err := runBundle(context.Background(), bundleOptions{
		Images: images, Out: out, Insecure: []string{host}, Platforms: []string{"linux/arm64"},
		Concurrency: 1, Stderr: &stderr, Keychain: authn.NewMultiKeychain(),
	})
	// one:1 is amd64 only and missing:1 does not exist; both are named, the others are kept.
	if err == nil {
		t.Fatalf("runBundle succeeded:\n%s", stderr.String())
	}
	for _, want := range []string{"2 of 4 images failed", host + "/library/one:1", host + "/library/missing:1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !strings.Contains(stderr.String(), "image is linux/amd64, not linux/arm64") {
		t.Errorf("output does not explain the platform mismatch:\n%s", stderr.String())
	}

	b := bundletest.Open(t, out)
	entries := b.Entries()
	if len(entries) != 2 || entries[0].Reference != host+"/multi/arch:3" || entries[1].Reference != pinned {
		t.Fatalf("entries = %+v, want the index by digest and by tag", entries)
	}
	// By digest it is kept as-is: filtering would break the digest.
	if e := entries[1]; e.Digest != digests[host+"/multi/arch:3"] || len(e.Platforms) != 2 {
		t.Errorf("pinned entry = %+v", e)
	}
	// By tag, filtered to arm64: a new index (new digest) with the one child.
	e := entries[0]
	if fmt.Sprint(e.Platforms) != "[linux/arm64]" || e.Digest == digests[host+"/multi/arch:3"] {
		t.Errorf("filtered entry = %+v", e)
	}
	idx, err := b.Index(e.Reference)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Error(err)
	}
	if _, err := b.Lookup(host + "/library/one:1"); err == nil {
		t.Error("the failed image is in the bundle")
	}

	// Bad flags fail before anything is pulled.
	for _, o := range []bundleOptions{
		{Images: images, Out: t.TempDir(), Concurrency: 0},
		{Images: images, Out: t.TempDir(), Concurrency: 1, Platforms: []string{"linux"}},
		{Images: filepath.Join(t.TempDir(), "none.yaml"), Out: t.TempDir(), Concurrency: 1},
	} {
		if err := runBundle(context.Background(), o); err == nil {
			t.Errorf("runBundle(%+v) succeeded", o)
		}
	}
}

// cosignSign writes, beside the image at ref (digest d), a signature image as `cosign sign
// --key` does: the tag sha256-<hex>.sig, one simple-signing layer with its signature in the
// dev.cosignproject.cosign/signature annotation.
func cosignSign(t *testing.T, s *signing.Signer, repo string, d v1.Hash) {
	t.Helper()
	payload := fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, repo, d)
	sig, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), mutate.Addendum{
		Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": string(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(imagetest.Ref(t, repo+":"+bundle.AttachedTag(d, bundle.Signatures)), img); err != nil {
		t.Fatal(err)
	}
}

// TestBundleVendorSignatures: images.yaml names a key (relative to itself) for two images; the
// signed one is bundled with its signature, the unsigned one fails naming the image and the key.
func TestBundleVendorSignatures(t *testing.T) {
	host, digests := source(t)
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	signer, err := signing.LoadSigner(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := signer.PublicKeyPEM()
	key, _ := signing.ParseKey(pub)
	one, _ := v1.NewHash(digests[host+"/library/one:1"])
	cosignSign(t, signer, host+"/library/one", one)

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "vendor.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(dir, "images.yaml")
	if err := os.WriteFile(images, fmt.Appendf(nil, "- {image: %[1]s/library/one:1, key: keys/vendor.pub}\n- {image: %[1]s/team/two:2, key: keys/vendor.pub}\n", host), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bundle")
	var stderr bytes.Buffer
	err = runBundle(context.Background(), bundleOptions{
		Images: images, Out: out, Insecure: []string{host}, Concurrency: 2,
		Stderr: &stderr, Keychain: authn.NewMultiKeychain(),
	})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 images failed: "+host+"/team/two:2") {
		t.Fatalf("runBundle: %v\n%s", err, stderr.String())
	}
	log := stderr.String()
	sigRef := host + "/library/one:sha256-" + one.Hex + ".sig"
	for _, want := range []string{
		host + "/library/one:1: signature by key " + key.ID + " (keys/vendor.pub) verified",
		host + "/library/one:1: bundled " + sigRef,
		"verifying signature of " + host + "/team/two:2: no signature by key " + key.ID + " (keys/vendor.pub)",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, log)
		}
	}
	b := bundletest.Open(t, out)
	if _, err := b.Lookup(sigRef); err != nil {
		t.Errorf("the signature is not in the bundle: %v", err)
	}
	if _, err := b.Lookup(host + "/team/two:2"); err == nil {
		t.Error("the unsigned image was bundled")
	}

	// A key that cannot be read fails before anything is pulled.
	if err := os.WriteFile(images, fmt.Appendf(nil, "- {image: %s/library/one:1, key: keys/none.pub}\n", host), 0o644); err != nil {
		t.Fatal(err)
	}
	err = runBundle(context.Background(), bundleOptions{Images: images, Out: t.TempDir(), Concurrency: 1, Keychain: authn.NewMultiKeychain()})
	if err == nil || !strings.Contains(err.Error(), "keys/none.pub") {
		t.Errorf("missing key file: %v", err)
	}
}

// TestBundleSignsOnlyThisRun: --sign-key signs only what the run wrote. A second run into the
// directory of a first, in which one image fails its vendor signature check, would otherwise
// sign the image the first run left there: it is refused by name and nothing is signed. Into a
// new directory the same run signs what it pulled, with the sequence it was given.
func TestBundleSignsOnlyThisRun(t *testing.T) {
	host, digests := source(t)
	dir := t.TempDir()
	priv, pub, err := signing.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "office.key")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	office, _ := signing.ParseKey(pub)
	vendor, vendorPub, _ := signing.NewSigner()
	if err := os.WriteFile(filepath.Join(dir, "vendor.pub"), vendorPub, 0o644); err != nil {
		t.Fatal(err)
	}
	one, _ := v1.NewHash(digests[host+"/library/one:1"])
	cosignSign(t, vendor, host+"/library/one", one)
	bundleRun := func(t *testing.T, out, list string, seq int64) (string, error) {
		t.Helper()
		images := filepath.Join(dir, "images.yaml")
		if err := os.WriteFile(images, []byte(list), 0o644); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		err := runBundle(context.Background(), bundleOptions{
			Images: images, Out: out, Insecure: []string{host}, Concurrency: 2, SignKey: keyFile, Sequence: seq,
			Stderr: &stderr, Keychain: authn.NewMultiKeychain(),
		})
		return stderr.String(), err
	}
	trust := bundle.Trust{Keys: []signing.Key{office}}

	out := filepath.Join(t.TempDir(), "bundle")
	if log, err := bundleRun(t, out, fmt.Sprintf("- %[1]s/library/one:1\n- %[1]s/team/two:2\n", host), 7); err != nil {
		t.Fatalf("first run: %v\n%s", err, log)
	}
	b, _, err := bundle.OpenVerified(out, trust)
	if err != nil {
		t.Fatalf("the first run's bundle: %v", err)
	}
	if got := b.Stamp().Sequence; got != 7 {
		t.Errorf("sequence = %d, want 7 (--sequence)", got)
	}
	sigBefore, _ := os.ReadFile(filepath.Join(out, bundle.SignatureFile))

	// The second run requires the vendor's signature; two has none.
	second := fmt.Sprintf("- {image: %[1]s/library/one:1, key: vendor.pub}\n- {image: %[1]s/team/two:2, key: vendor.pub}\n", host)
	log, err := bundleRun(t, out, second, 8)
	if err == nil || !strings.Contains(err.Error(), "refusing to sign") || !strings.Contains(err.Error(), "an image not written by this run: "+host+"/team/two:2") {
		t.Fatalf("second run into the same directory: %v\n%s", err, log)
	}
	if strings.Contains(err.Error(), "library/one:1,") || strings.Contains(err.Error(), "library/one:1;") {
		t.Errorf("the refusal names one:1, which this run wrote: %v", err)
	}
	if sig, _ := os.ReadFile(filepath.Join(out, bundle.SignatureFile)); !bytes.Equal(sig, sigBefore) {
		t.Errorf("a signature was written")
	}
	if _, _, err := bundle.OpenVerified(out, trust); err == nil {
		t.Errorf("the bundle holding an image whose vendor check failed verifies")
	}

	// The same run into a new directory signs what it wrote: one, and its vendor signature.
	fresh := filepath.Join(t.TempDir(), "bundle")
	if _, err := bundleRun(t, fresh, second, 9); err == nil || !strings.Contains(err.Error(), "1 of 2 images failed") {
		t.Fatalf("run into a new directory: %v", err)
	}
	b, _, err = bundle.OpenVerified(fresh, trust)
	if err != nil {
		t.Fatalf("the new directory's bundle is not signed: %v", err)
	}
	if _, err := b.Lookup(host + "/team/two:2"); err == nil {
		t.Errorf("two:2 is in the signed bundle")
	}
	if got := b.Stamp().Sequence; got != 9 {
		t.Errorf("sequence = %d, want 9", got)
	}
}
