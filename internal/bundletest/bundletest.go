// Package bundletest writes, opens and serves bundles for tests, and requests what they serve.
// It may import package bundle, never bundle/serve: serve's own tests use it.
package bundletest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/bundle"
	"airgap-site/internal/imagetest"
	"airgap-site/signing"
)

// Entry is what Write puts in a bundle under Ref: Image, or else Index.
type Entry struct {
	Ref   string
	Image v1.Image
	Index v1.ImageIndex
}

// Write writes a bundle into dir holding entries, in order.
func Write(t testing.TB, dir string, entries ...Entry) {
	t.Helper()
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Image != nil {
			_, err = w.AddImage(e.Ref, e.Image)
		} else {
			_, err = w.AddIndex(e.Ref, e.Index)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// Fixture is a bundle with a single image, a 2-platform index and an image pinned by digest,
// under the names containerd asks for through the mirrors.
type Fixture struct {
	Dir    string
	Image  v1.Image      // nginx:1.27
	Index  v1.ImageIndex // ghcr.io/org/app:2, on the image's base layer
	Pinned string        // quay.io/org/pinned@sha256:...
}

// New writes a Fixture into a temporary directory.
func New(t testing.TB) *Fixture {
	t.Helper()
	base := imagetest.Layer(t, 8192)
	f := &Fixture{
		Dir:   t.TempDir(),
		Image: imagetest.Image(t, "linux/amd64", base, imagetest.Layer(t, 8192)),
		Index: imagetest.Index(t, base, 8192, "linux/amd64", "linux/arm64"),
	}
	pinned := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 8192))
	f.Pinned = "quay.io/org/pinned@" + imagetest.Digest(t, pinned).String()
	Write(t, f.Dir,
		Entry{Ref: "nginx:1.27", Image: f.Image},
		Entry{Ref: "ghcr.io/org/app:2", Index: f.Index},
		Entry{Ref: f.Pinned, Image: pinned})
	return f
}

// Open opens the bundle in dir.
func Open(t testing.TB, dir string) *bundle.Bundle {
	t.Helper()
	b, err := bundle.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Serve serves h (a bundle's registry API) on 127.0.0.1 until the end of the test and returns
// its host:port.
func Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Do sends a request without a body, with the headers hdr (name, value, ...), and returns the
// response and its body.
func Do(t testing.TB, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// Sign signs the bundle at dir with a new key and returns its public key (PEM), as the
// site's images.trustedKeys lists it.
func Sign(t testing.TB, dir string) string {
	t.Helper()
	s, pub, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	if err := bundle.Sign(dir, s); err != nil {
		t.Fatal(err)
	}
	return string(pub)
}

// EditJSON changes the JSON file at path (a bundle's index.json or bundle.json) in place, as
// another tool, or an attacker, would.
func EditJSON(t testing.TB, path string, change func(map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	change(doc)
	if b, err = json.MarshalIndent(doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
