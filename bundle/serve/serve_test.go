package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
)

// serveBundle serves dir with New on 127.0.0.1 and returns the server's host:port.
func serveBundle(t *testing.T, dir string) string {
	t.Helper()
	return bundletest.Serve(t, New(bundletest.Open(t, dir)))
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
	tb := bundletest.New(t)
	host := serveBundle(t, tb.Dir)

	// What containerd asks the mirror endpoint http://laptop:5000/v2/docker.io for.
	got, err := remote.Image(imagetest.Ref(t, host+"/docker.io/library/nginx:1.27"))
	if err != nil {
		t.Fatal(err)
	}
	if imagetest.Digest(t, got) != imagetest.Digest(t, tb.Image) {
		t.Errorf("nginx digest %s, want %s", imagetest.Digest(t, got), imagetest.Digest(t, tb.Image))
	}
	if err := validate.Image(got); err != nil { // reads every blob
		t.Errorf("pulled image is invalid: %v", err)
	}

	idx, err := remote.Index(imagetest.Ref(t, host+"/ghcr.io/org/app:2"))
	if err != nil {
		t.Fatal(err)
	}
	if imagetest.Digest(t, idx) != imagetest.Digest(t, tb.Index) {
		t.Errorf("index digest %s, want %s", imagetest.Digest(t, idx), imagetest.Digest(t, tb.Index))
	}
	if err := validate.Index(idx); err != nil { // children by digest, then their blobs
		t.Errorf("pulled index is invalid: %v", err)
	}
	// A platform's image, as containerd resolves it.
	arm, err := remote.Image(imagetest.Ref(t, host+"/ghcr.io/org/app:2"), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := arm.ConfigFile(); err != nil || cfg.Architecture != "arm64" {
		t.Errorf("arm64 child: %+v, %v", cfg, err)
	}

	pinned, err := remote.Image(imagetest.Ref(t, host+"/"+tb.Pinned))
	if err != nil {
		t.Fatal(err)
	}
	if want := tb.Pinned[strings.Index(tb.Pinned, "@")+1:]; imagetest.Digest(t, pinned).String() != want {
		t.Errorf("pinned digest %s, want %s", imagetest.Digest(t, pinned), want)
	}

	// HEAD answers with the descriptor, as containerd's resolver asks first.
	d, err := remote.Head(imagetest.Ref(t, host+"/docker.io/library/nginx:1.27"))
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := tb.Image.MediaType()
	size, _ := tb.Image.Size()
	if d.Digest != imagetest.Digest(t, tb.Image) || d.MediaType != mt || d.Size != size {
		t.Errorf("HEAD = %+v, want %s %s %d", d, imagetest.Digest(t, tb.Image), mt, size)
	}
}

func TestServerHTTP(t *testing.T) {
	tb := bundletest.New(t)
	base := "http://" + serveBundle(t, tb.Dir)
	imgDigest := imagetest.Digest(t, tb.Image).String()
	m, _ := tb.Image.Manifest()
	layerDigest := m.Layers[0].Digest.String()
	raw, _ := tb.Image.RawManifest()

	resp, body := bundletest.Do(t, "GET", base+"/v2/")
	if resp.StatusCode != 200 || string(body) != "{}" {
		t.Errorf("GET /v2/ = %d %q", resp.StatusCode, body)
	}

	// Manifest by tag: the bytes, digest and media type as stored.
	resp, body = bundletest.Do(t, "GET", base+"/v2/docker.io/library/nginx/manifests/1.27")
	if resp.StatusCode != 200 || !bytes.Equal(body, raw) ||
		resp.Header.Get("Docker-Content-Digest") != imgDigest ||
		resp.Header.Get("Content-Type") != string(m.MediaType) ||
		resp.ContentLength != int64(len(raw)) {
		t.Errorf("GET manifest = %d %v", resp.StatusCode, resp.Header)
	}
	// Un-normalized spellings of the same repository resolve too.
	for _, p := range []string{"/v2/library/nginx/manifests/1.27", "/v2/docker.io/nginx/manifests/1.27"} {
		if resp, _ := bundletest.Do(t, "GET", base+p); resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", p, resp.StatusCode)
		}
	}
	// Child manifests of an index by digest, with the index's media types.
	im, _ := tb.Index.IndexManifest()
	for _, c := range im.Manifests {
		resp, _ := bundletest.Do(t, "HEAD", base+"/v2/ghcr.io/org/app/manifests/"+c.Digest.String())
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != string(c.MediaType) ||
			resp.ContentLength != c.Size {
			t.Errorf("HEAD child %s = %d %v", c.Digest, resp.StatusCode, resp.Header)
		}
	}

	// Blobs: HEAD has the length and no body; GET streams it; Range resumes.
	resp, body = bundletest.Do(t, "HEAD", base+"/v2/docker.io/library/nginx/blobs/"+layerDigest)
	if resp.StatusCode != 200 || resp.ContentLength != m.Layers[0].Size || len(body) != 0 ||
		resp.Header.Get("Docker-Content-Digest") != layerDigest {
		t.Errorf("HEAD blob = %d len %d %v", resp.StatusCode, resp.ContentLength, resp.Header)
	}
	resp, body = bundletest.Do(t, "GET", base+"/v2/docker.io/library/nginx/blobs/"+layerDigest)
	if resp.StatusCode != 200 || int64(len(body)) != m.Layers[0].Size {
		t.Errorf("GET blob = %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, part := bundletest.Do(t, "GET", base+"/v2/docker.io/library/nginx/blobs/"+layerDigest, "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, body[10:20]) {
		t.Errorf("GET blob range = %d %q", resp.StatusCode, part)
	}

	// Read-only.
	for _, method := range []string{"PUT", "POST", "PATCH", "DELETE"} {
		resp, body := bundletest.Do(t, method, base+"/v2/docker.io/library/nginx/manifests/1.27")
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s = %d, want 405", method, resp.StatusCode)
		}
		if strings.TrimSpace(string(body)) != `{"errors":[{"code":"UNSUPPORTED","message":"read-only bundle"}]}` {
			t.Errorf("%s body = %q", method, body)
		}
	}
	if resp, _ := bundletest.Do(t, "POST", base+"/v2/docker.io/library/nginx/blobs/uploads/"); resp.StatusCode != 405 {
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
		resp, body := bundletest.Do(t, "GET", base+p)
		if resp.StatusCode != 404 || errorCode(t, body) != want {
			t.Errorf("GET %s = %d %s, want 404 %s", p, resp.StatusCode, body, want)
		}
	}

	// Nothing outside blobs/sha256 is reachable, however the path is spelt.
	index, _ := os.ReadFile(filepath.Join(tb.Dir, "index.json"))
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
		resp, body := bundletest.Do(t, "GET", base+p)
		if resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 400 or 404", p, resp.StatusCode)
		}
		if bytes.Equal(body, index) {
			t.Errorf("GET %s served index.json", p)
		}
	}
}

func TestServerMissingImageWithRemote(t *testing.T) {
	host := serveBundle(t, bundletest.New(t).Dir)
	_, err := remote.Image(imagetest.Ref(t, host+"/docker.io/library/missing:1"))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != 404 {
		t.Fatalf("pulling a missing image: %v, want a 404", err)
	}
	if len(terr.Errors) == 0 || terr.Errors[0].Code != transport.ManifestUnknownErrorCode {
		t.Errorf("errors = %+v, want MANIFEST_UNKNOWN", terr.Errors)
	}
}

func TestLogRequests(t *testing.T) {
	tb := bundletest.New(t)
	b := bundletest.Open(t, tb.Dir)
	var buf bytes.Buffer
	srv := httptest.NewServer(New(b, Logger(log.New(&buf, "", 0))))
	defer srv.Close()
	raw, _ := tb.Image.RawManifest()
	bundletest.Do(t, "GET", srv.URL+"/v2/docker.io/library/nginx/manifests/1.27")
	bundletest.Do(t, "PUT", srv.URL+"/v2/docker.io/library/nginx/manifests/1.27")
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
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 8192))
	bundletest.Write(t, dir, bundletest.Entry{Ref: "registry.local:5443/factory/mes:7", Image: img})
	base := "http://" + serveBundle(t, dir)
	raw, _ := img.RawManifest()
	resp, body := bundletest.Do(t, "GET", base+"/v2/registry.local_5443/factory/mes/manifests/7")
	if resp.StatusCode != 200 || !bytes.Equal(body, raw) ||
		resp.Header.Get("Docker-Content-Digest") != imagetest.Digest(t, img).String() {
		t.Errorf("GET /v2/registry.local_5443/factory/mes/manifests/7 = %d %s", resp.StatusCode, body)
	}
	// And pulled whole, as a client of the mirror endpoint /v2/registry.local_5443 does.
	got, err := remote.Image(imagetest.Ref(t, strings.TrimPrefix(base, "http://")+"/registry.local_5443/factory/mes:7"))
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
		if resp, body := bundletest.Do(t, "GET", base+p); resp.StatusCode != want {
			t.Errorf("GET %s = %d %s, want %d", p, resp.StatusCode, body, want)
		}
	}
}

func hex64(c string) string { return strings.Repeat(c, 64) }
