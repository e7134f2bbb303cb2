package pull

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airgap-site/bundle"
	"airgap-site/internal/imagetest"
)

// push writes an image and a 2-platform index to an in-memory registry and returns its host.
func push(t *testing.T) (host string, img v1.Image, idx v1.ImageIndex) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	img = imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 8192))
	idx = imagetest.Index(t, imagetest.Layer(t, 8192), 8192, "linux/amd64", "linux/arm64")
	for ref, write := range map[string]func(name.Reference) error{
		host + "/team/one:1":   func(r name.Reference) error { return remote.Write(r, img) },
		host + "/multi/arch:2": func(r name.Reference) error { return remote.WriteIndex(r, idx) },
	} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(r); err != nil {
			t.Fatal(err)
		}
	}
	return host, img, idx
}

// newPuller is a Puller with o and no credentials, and a bundle in a temporary directory to
// pull into, closed at the end of the test.
func newPuller(t *testing.T, o Options) (*Puller, *bundle.Writer) {
	t.Helper()
	p, w, _ := newPullerAt(t, o)
	return p, w
}

// newPullerAt is newPuller, with the bundle's directory.
func newPullerAt(t *testing.T, o Options) (*Puller, *bundle.Writer, string) {
	t.Helper()
	o.Keychain = authn.NewMultiKeychain()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return p, w, dir
}

func TestPullCountsLayerBytes(t *testing.T) {
	host, img, idx := push(t)
	p, w := newPuller(t, Options{Insecure: []string{host}})

	var n atomic.Int64
	e, err := p.Pull(context.Background(), w, host+"/team/one:1", nil, func(b int64) { n.Add(b) })
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	if n.Load() != m.Layers[0].Size {
		t.Errorf("counted %d bytes, want the layer's %d", n.Load(), m.Layers[0].Size)
	}
	if d, _ := img.Digest(); e.Digest != d.String() {
		t.Errorf("bundled digest %s, want %s", e.Digest, d)
	}
	// An index keeps its digest; counting is optional.
	e, err = p.Pull(context.Background(), w, host+"/multi/arch:2", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); e.Digest != d.String() || len(e.Platforms) != 2 {
		t.Errorf("index entry %+v, want digest %s and 2 platforms", e, d)
	}
}

func TestPullPlatforms(t *testing.T) {
	host, _, idx := push(t)
	p, w := newPuller(t, Options{Insecure: []string{host}, Platforms: []string{"linux/arm64/v8"}})
	// arm64 and arm64/v8 are the same platform, as containerd sees it.
	e, err := p.Pull(context.Background(), w, host+"/multi/arch:2", nil, nil)
	if d, _ := idx.Digest(); err != nil || e.Digest == d.String() || strings.Join(e.Platforms, ",") != "linux/arm64" {
		t.Errorf("filtered index: %+v, %v", e, err)
	}
	if _, err := p.Pull(context.Background(), w, host+"/team/one:1", nil, nil); err == nil ||
		!strings.Contains(err.Error(), "image is linux/amd64, not linux/arm64/v8") {
		t.Errorf("an amd64 image for arm64: %v", err)
	}
}

func TestNewChecksOptions(t *testing.T) {
	for _, o := range []Options{
		{Platforms: []string{"linux"}},
		{Insecure: []string{"http://registry.local"}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
