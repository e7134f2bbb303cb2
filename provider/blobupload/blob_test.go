package blobupload

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fileLayer is a layer whose Compressed is a file, as a bundle's is; it counts seeks.
type fileLayer struct {
	v1.Layer
	path  string
	seeks *int
}

func (l fileLayer) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	return seekCounter{f, l.seeks}, err
}

type seekCounter struct {
	*os.File
	seeks *int
}

func (s seekCounter) Seek(off int64, whence int) (int64, error) {
	*s.seeks++
	return s.File.Seek(off, whence)
}

func TestFromLayerOpensAtOffset(t *testing.T) {
	data, _ := testBlob(1000, 13)
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var seeks int
	for name, l := range map[string]v1.Layer{
		"seekable": fileLayer{Layer: static.NewLayer(data, types.OCILayer), path: path, seeks: &seeks},
		"stream":   static.NewLayer(data, types.OCILayer),
	} {
		b, err := FromLayer(l)
		if err != nil {
			t.Fatal(err)
		}
		if b.Size != 1000 || b.Digest != digestOf(data) {
			t.Errorf("%s: size %d digest %s", name, b.Size, b.Digest)
		}
		rc, err := b.Open(700)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data[700:]) {
			t.Errorf("%s: Open(700) read %d bytes, not the blob's last 300", name, len(got))
		}
	}
	if seeks != 1 {
		t.Errorf("the file layer was sought %d times, want once (not read from its start)", seeks)
	}
}
