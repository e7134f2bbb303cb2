package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"airgap-site/bundle"
	"airgap-site/bundle/serve"
)

// testBundle writes a bundle of three images (one of them an index) and returns its directory.
func testBundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := layer(t)
	if _, err := w.AddImage("nginx:1.27", image(t, "linux/amd64", base, layer(t))); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddIndex("ghcr.io/org/app:2", index(t, base, "linux/amd64", "linux/arm64")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage("quay.io/org/other:1", image(t, "linux/amd64", layer(t))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serveBundle serves dir as `airgap serve` does, on 127.0.0.1, and returns its host:port.
func serveBundle(t *testing.T, dir string) string {
	t.Helper()
	b, err := bundle.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.New(b))
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

func do(t *testing.T, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
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

func TestRunServeShutsDown(t *testing.T) {
	dir := testBundle(t)
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	var logs syncBuffer
	go func() { errc <- runServe(ctx, dir, "127.0.0.1:0", &logs, func(a net.Addr) { addrc <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	resp, _ := do(t, "GET", "http://"+addr.String()+"/v2/")
	if resp.StatusCode != 200 {
		t.Errorf("GET /v2/ = %d", resp.StatusCode)
	}
	cancel() // as SIGINT does
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("runServe: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not shut down")
	}
	if out := logs.String(); !strings.Contains(out, "serving 3 images") || !strings.Contains(out, "GET /v2/ 200") {
		t.Errorf("log:\n%s", out)
	}

	if err := runServe(context.Background(), t.TempDir(), "127.0.0.1:0", io.Discard, nil); err == nil {
		t.Error("runServe of a directory that is not a bundle succeeded")
	}
}

// A bundle whose index cannot be read is refused before anything listens.
func TestRunServeChecksBundle(t *testing.T) {
	dir := testBundle(t)
	b, err := bundle.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := b.Lookup("ghcr.io/org/app:2")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", d.Digest.Hex)); err != nil {
		t.Fatal(err)
	}
	err = runServe(context.Background(), dir, "127.0.0.1:0", io.Discard, func(net.Addr) { t.Error("listening") })
	if err == nil || !strings.Contains(err.Error(), "checking bundle") {
		t.Errorf("runServe = %v, want a failed check", err)
	}
}
