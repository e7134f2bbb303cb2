package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

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

// sourceRegistry is an in-memory registry on 127.0.0.1; it returns host:port.
func sourceRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// syncBuffer is a bytes.Buffer safe for a server goroutine to log into.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
