package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"airgap-site/bundle"
	"airgap-site/internal/imagetest"
)

// layer is a small random gzip layer.
func layer(t *testing.T) v1.Layer { return imagetest.Layer(t, 8192) }

// image builds an image for platform ("linux/amd64") from the given layers.
func image(t *testing.T, platform string, layers ...v1.Layer) v1.Image {
	return imagetest.Image(t, platform, layers...)
}

// index builds an OCI index with one child per platform, all on base.
func index(t *testing.T, base v1.Layer, platforms ...string) v1.ImageIndex {
	return imagetest.Index(t, base, 8192, platforms...)
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// testBundle writes a bundle with a single image, a 2-platform index and an image pinned by
// digest, under the names containerd asks for through the mirrors.
type testBundle struct {
	dir    string
	img    v1.Image
	idx    v1.ImageIndex
	pinned string // digest reference
}

func newTestBundle(t *testing.T) *testBundle {
	t.Helper()
	base := layer(t)
	tb := &testBundle{
		dir: t.TempDir(),
		img: image(t, "linux/amd64", base, layer(t)),
		idx: index(t, base, "linux/amd64", "linux/arm64"),
	}
	pinned := image(t, "linux/amd64", layer(t))
	tb.pinned = "quay.io/org/pinned@" + digestOf(t, pinned).String()

	w, err := bundle.Create(tb.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage("nginx:1.27", tb.img); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddIndex("ghcr.io/org/app:2", tb.idx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(tb.pinned, pinned); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return tb
}

// serveBundle serves dir with New on 127.0.0.1 and returns the server's host:port.
func serveBundle(t *testing.T, dir string) string {
	t.Helper()
	b, err := bundle.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(b))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func do(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
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

// errorCode is the first OCI error code of a body.
func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e regError
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
		t.Errorf("not an OCI error body: %q (%v)", body, err)
		return ""
	}
	return e.Errors[0].Code
}

func TestServerPull(t *testing.T) {
	tb := newTestBundle(t)
	host := serveBundle(t, tb.dir)

	// What containerd asks the mirror endpoint http://laptop:5000/v2/docker.io for.
	got, err := remote.Image(ref(t, host+"/docker.io/library/nginx:1.27"))
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, got) != digestOf(t, tb.img) {
		t.Errorf("nginx digest %s, want %s", digestOf(t, got), digestOf(t, tb.img))
	}
	if err := validate.Image(got); err != nil { // reads every blob
		t.Errorf("pulled image is invalid: %v", err)
	}

	idx, err := remote.Index(ref(t, host+"/ghcr.io/org/app:2"))
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, idx) != digestOf(t, tb.idx) {
		t.Errorf("index digest %s, want %s", digestOf(t, idx), digestOf(t, tb.idx))
	}
	if err := validate.Index(idx); err != nil { // children by digest, then their blobs
		t.Errorf("pulled index is invalid: %v", err)
	}
	// A platform's image, as containerd resolves it.
	arm, err := remote.Image(ref(t, host+"/ghcr.io/org/app:2"), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := arm.ConfigFile(); err != nil || cfg.Architecture != "arm64" {
		t.Errorf("arm64 child: %+v, %v", cfg, err)
	}

	pinned, err := remote.Image(ref(t, host+"/"+tb.pinned))
	if err != nil {
		t.Fatal(err)
	}
	if want := tb.pinned[strings.Index(tb.pinned, "@")+1:]; digestOf(t, pinned).String() != want {
		t.Errorf("pinned digest %s, want %s", digestOf(t, pinned), want)
	}

	// HEAD answers with the descriptor, as containerd's resolver asks first.
	d, err := remote.Head(ref(t, host+"/docker.io/library/nginx:1.27"))
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := tb.img.MediaType()
	size, _ := tb.img.Size()
	if d.Digest != digestOf(t, tb.img) || d.MediaType != mt || d.Size != size {
		t.Errorf("HEAD = %+v, want %s %s %d", d, digestOf(t, tb.img), mt, size)
	}
}

func TestServerHTTP(t *testing.T) {
	tb := newTestBundle(t)
	base := "http://" + serveBundle(t, tb.dir)
	imgDigest := digestOf(t, tb.img).String()
	m, _ := tb.img.Manifest()
	layerDigest := m.Layers[0].Digest.String()
	raw, _ := tb.img.RawManifest()

	resp, body := do(t, "GET", base+"/v2/")
	if resp.StatusCode != 200 || string(body) != "{}" {
		t.Errorf("GET /v2/ = %d %q", resp.StatusCode, body)
	}

	// Manifest by tag: the bytes, digest and media type as stored.
	resp, body = do(t, "GET", base+"/v2/docker.io/library/nginx/manifests/1.27")
	if resp.StatusCode != 200 || !bytes.Equal(body, raw) ||
		resp.Header.Get("Docker-Content-Digest") != imgDigest ||
		resp.Header.Get("Content-Type") != string(m.MediaType) ||
		resp.ContentLength != int64(len(raw)) {
		t.Errorf("GET manifest = %d %v", resp.StatusCode, resp.Header)
	}
	// Un-normalized spellings of the same repository resolve too.
	for _, p := range []string{"/v2/library/nginx/manifests/1.27", "/v2/docker.io/nginx/manifests/1.27"} {
		if resp, _ := do(t, "GET", base+p); resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", p, resp.StatusCode)
		}
	}
	// Child manifests of an index by digest, with the index's media types.
	im, _ := tb.idx.IndexManifest()
	for _, c := range im.Manifests {
		resp, _ := do(t, "HEAD", base+"/v2/ghcr.io/org/app/manifests/"+c.Digest.String())
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != string(c.MediaType) ||
			resp.ContentLength != c.Size {
			t.Errorf("HEAD child %s = %d %v", c.Digest, resp.StatusCode, resp.Header)
		}
	}

	// Blobs: HEAD has the length and no body; GET streams it; Range resumes.
	resp, body = do(t, "HEAD", base+"/v2/docker.io/library/nginx/blobs/"+layerDigest)
	if resp.StatusCode != 200 || resp.ContentLength != m.Layers[0].Size || len(body) != 0 ||
		resp.Header.Get("Docker-Content-Digest") != layerDigest {
		t.Errorf("HEAD blob = %d len %d %v", resp.StatusCode, resp.ContentLength, resp.Header)
	}
	resp, body = do(t, "GET", base+"/v2/docker.io/library/nginx/blobs/"+layerDigest)
	if resp.StatusCode != 200 || int64(len(body)) != m.Layers[0].Size {
		t.Errorf("GET blob = %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, part := do(t, "GET", base+"/v2/docker.io/library/nginx/blobs/"+layerDigest, "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, body[10:20]) {
		t.Errorf("GET blob range = %d %q", resp.StatusCode, part)
	}

	// Read-only.
	for _, method := range []string{"PUT", "POST", "PATCH", "DELETE"} {
		resp, body := do(t, method, base+"/v2/docker.io/library/nginx/manifests/1.27")
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s = %d, want 405", method, resp.StatusCode)
		}
		if strings.TrimSpace(string(body)) != `{"errors":[{"code":"UNSUPPORTED","message":"read-only bundle"}]}` {
			t.Errorf("%s body = %q", method, body)
		}
	}
	if resp, _ := do(t, "POST", base+"/v2/docker.io/library/nginx/blobs/uploads/"); resp.StatusCode != 405 {
		t.Errorf("POST upload = %d, want 405", resp.StatusCode)
	}

	// Missing things.
	for p, want := range map[string]string{
		"/v2/docker.io/library/nginx/manifests/1.28":                 "MANIFEST_UNKNOWN",
		"/v2/docker.io/library/missing/manifests/1":                  "MANIFEST_UNKNOWN",
		"/v2/docker.io/library/nginx/manifests/" + layerDigest:       "MANIFEST_UNKNOWN", // a blob, not a manifest
		"/v2/docker.io/library/nginx/blobs/sha256:" + hex64("0"):     "BLOB_UNKNOWN",
		"/v2/docker.io/library/nginx/manifests/sha256:" + hex64("0"): "MANIFEST_UNKNOWN",
	} {
		resp, body := do(t, "GET", base+p)
		if resp.StatusCode != 404 || errorCode(t, body) != want {
			t.Errorf("GET %s = %d %s, want 404 %s", p, resp.StatusCode, body, want)
		}
	}

	// Nothing outside blobs/sha256 is reachable, however the path is spelt.
	index, _ := os.ReadFile(filepath.Join(tb.dir, "index.json"))
	for _, p := range []string{
		"/v2/docker.io/library/nginx/blobs/sha256:../../index.json",
		"/v2/docker.io/library/nginx/blobs/sha256:..%2F..%2Findex.json",
		"/v2/docker.io/library/nginx/blobs/..%2F..%2Findex.json",
		"/v2/docker.io/library/nginx/blobs/sha256:" + hex64("0")[:63],
		"/v2/docker.io/library/nginx/blobs/sha256:" + strings.ToUpper(hex64("a")),
		"/v2/docker.io/library/nginx/blobs/sha512:" + hex64("0") + hex64("0"),
		"/v2/docker.io/library/nginx/manifests/sha256:..%2Findex.json",
		"/v2/docker.io/library/nginx/manifests/..%2F..%2Findex.json",
		"/v2/../../../etc/blobs/" + layerDigest,
		"/v2/docker.io/../../blobs/" + layerDigest,
		"/v2/docker.io/library/nginx/manifests/bad:tag",
		"/v2/docker.io/library/nginx/tags/list",
		"/v2/_catalog",
		"/index.json",
		"/../index.json",
	} {
		resp, body := do(t, "GET", base+p)
		if resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 400 or 404", p, resp.StatusCode)
		}
		if bytes.Equal(body, index) {
			t.Errorf("GET %s served index.json", p)
		}
	}
}

func TestServerMissingImageWithRemote(t *testing.T) {
	host := serveBundle(t, newTestBundle(t).dir)
	_, err := remote.Image(ref(t, host+"/docker.io/library/missing:1"))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != 404 {
		t.Fatalf("pulling a missing image: %v, want a 404", err)
	}
	if len(terr.Errors) == 0 || terr.Errors[0].Code != transport.ManifestUnknownErrorCode {
		t.Errorf("errors = %+v, want MANIFEST_UNKNOWN", terr.Errors)
	}
}

func TestLogRequests(t *testing.T) {
	tb := newTestBundle(t)
	b, err := bundle.Open(tb.dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	srv := httptest.NewServer(New(b, Logger(log.New(&buf, "", 0))))
	defer srv.Close()
	raw, _ := tb.img.RawManifest()
	do(t, "GET", srv.URL+"/v2/docker.io/library/nginx/manifests/1.27")
	do(t, "PUT", srv.URL+"/v2/docker.io/library/nginx/manifests/1.27")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 ||
		!strings.Contains(lines[0], "GET /v2/docker.io/library/nginx/manifests/1.27 200 "+strconv.Itoa(len(raw))+"B") ||
		!strings.Contains(lines[1], "PUT /v2/docker.io/library/nginx/manifests/1.27 405 ") {
		t.Errorf("log:\n%s", buf.String())
	}
}

// An upstream with a port is a repository host_port by the mirror scheme (package mirror):
// containerd asks for /v2/registry.local_5443/factory/mes/... what the bundle holds as
// registry.local:5443/factory/mes:7.
func TestServerUpstreamPort(t *testing.T) {
	dir := t.TempDir()
	img := image(t, "linux/amd64", layer(t))
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage("registry.local:5443/factory/mes:7", img); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + serveBundle(t, dir)
	raw, _ := img.RawManifest()
	resp, body := do(t, "GET", base+"/v2/registry.local_5443/factory/mes/manifests/7")
	if resp.StatusCode != 200 || !bytes.Equal(body, raw) ||
		resp.Header.Get("Docker-Content-Digest") != digestOf(t, img).String() {
		t.Errorf("GET /v2/registry.local_5443/factory/mes/manifests/7 = %d %s", resp.StatusCode, body)
	}
	// And pulled whole, as a client of the mirror endpoint /v2/registry.local_5443 does.
	got, err := remote.Image(ref(t, strings.TrimPrefix(base, "http://")+"/registry.local_5443/factory/mes:7"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("pulled image is invalid: %v", err)
	}
	for p, want := range map[string]int{
		"/v2/registry.local_5443/factory/mes/manifests/8":  404, // another tag
		"/v2/registry.local_5444/factory/mes/manifests/7":  404, // another port
		"/v2/registry.local/factory/mes/manifests/7":       404, // no port
		"/v2/registry.local_5443/factory/mes2/manifests/7": 404,
	} {
		if resp, body := do(t, "GET", base+p); resp.StatusCode != want {
			t.Errorf("GET %s = %d %s, want %d", p, resp.StatusCode, body, want)
		}
	}
}

func hex64(c string) string { return strings.Repeat(c, 64) }
