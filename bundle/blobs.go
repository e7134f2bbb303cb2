package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// blobStore writes blobs/sha256 of a layout. Each digest is fetched once even when several
// images sharing a base layer are added concurrently.
type blobStore struct {
	layout string // the layout's directory

	mu       sync.Mutex
	inflight map[string]*flight
	// used are the blobs this store wrote or found already there, by hex: what this run's
	// images are made of.
	used map[string]bool
	// present are the layers a delta writer may leave out (Writer.AssumePresent); assumed are
	// those it left out.
	present map[v1.Hash]AssumedBlob
	assumed map[v1.Hash]AssumedBlob
}

type flight struct {
	done chan struct{}
	err  error
}

func newBlobStore(layout string) (*blobStore, error) {
	dir := filepath.Join(layout, blobsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	// Leftovers of an interrupted run; a bundle has one writer at a time.
	stale, _ := filepath.Glob(filepath.Join(dir, "*"+partialSuffix))
	for _, f := range stale {
		_ = os.Remove(f)
	}
	return &blobStore{layout: layout, inflight: map[string]*flight{}, used: map[string]bool{}}, nil
}

// write stores the blob h of the given size (-1: unknown) unless it is already there.
func (s *blobStore) write(h v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
	final, err := blobPath(s.layout, h)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.used[h.Hex] = true
	s.mu.Unlock()
	if present(final, size) {
		return nil
	}
	s.mu.Lock()
	if f, ok := s.inflight[h.Hex]; ok {
		s.mu.Unlock()
		<-f.done
		return f.err
	}
	f := &flight{done: make(chan struct{})}
	s.inflight[h.Hex] = f
	s.mu.Unlock()

	f.err = s.fetch(h, size, final, open)

	s.mu.Lock()
	delete(s.inflight, h.Hex)
	s.mu.Unlock()
	close(f.done)
	return f.err
}

func (s *blobStore) fetch(h v1.Hash, size int64, final string, open func() (io.ReadCloser, error)) (err error) {
	rc, err := open()
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", h, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(final), h.Hex+".*"+partialSuffix)
	if err != nil {
		return fmt.Errorf("writing blob %s: %w", h, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), rc)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", h, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("blob %s: got %d bytes, want %d", h, n, size)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h.Hex {
		return fmt.Errorf("blob %s: content has digest sha256:%s", h, got)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing blob %s: %w", h, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing blob %s: %w", h, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("writing blob %s: %w", h, err)
	}
	return nil
}

func (s *blobStore) writeBytes(h v1.Hash, b []byte) error {
	return s.write(h, int64(len(b)), func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
}

// image writes an image's layers, config and manifest, in that order so a manifest is never
// present without what it references.
func (s *blobStore) image(img v1.Image) error {
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	for _, l := range m.Layers {
		if s.assume(l.Digest, l.Size) {
			continue // a delta bundle: the site holds it, so it is neither fetched nor stored
		}
		err := s.write(l.Digest, l.Size, func() (io.ReadCloser, error) {
			layer, err := img.LayerByDigest(l.Digest)
			if err != nil {
				return nil, err
			}
			return layer.Compressed()
		})
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.Digest, err)
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	if err := s.writeBytes(m.Config.Digest, cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return s.manifest(img)
}

// index writes an index's children (recursively), then the index itself. path lists the
// indexes it is listed in (outermost first), for the same bound on nesting as readers (below).
func (s *blobStore) index(idx v1.ImageIndex, path []v1.Hash) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("reading index: %w", err)
	}
	self, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	path = append(path[:len(path):len(path)], self)
	for _, child := range im.Manifests {
		switch {
		case child.MediaType.IsIndex():
			if err := below(path, child); err != nil {
				return err
			}
			ci, err := idx.ImageIndex(child.Digest)
			if err != nil {
				return fmt.Errorf("child index %s: %w", child.Digest, err)
			}
			if err := s.index(ci, path); err != nil {
				return fmt.Errorf("child index %s: %w", child.Digest, err)
			}
		case child.MediaType.IsImage():
			img, err := idx.Image(child.Digest)
			if err != nil {
				return fmt.Errorf("child image %s: %w", child.Digest, err)
			}
			if err := s.image(img); err != nil {
				return fmt.Errorf("child image %s (%s): %w", child.Digest, platformString(child.Platform), err)
			}
		default:
			return fmt.Errorf("child %s: unsupported media type %s", child.Digest, child.MediaType)
		}
	}
	return s.manifest(idx)
}

// rawManifest is what images and indexes have in common.
type rawManifest interface {
	Digest() (v1.Hash, error)
	RawManifest() ([]byte, error)
}

func (s *blobStore) manifest(m rawManifest) error {
	d, err := m.Digest()
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	raw, err := m.RawManifest()
	if err != nil {
		return fmt.Errorf("reading manifest %s: %w", d, err)
	}
	return s.writeBytes(d, raw)
}

// present reports whether a complete blob is already stored.
func present(path string, size int64) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && (size < 0 || st.Size() == size)
}

func platformString(p *v1.Platform) string {
	if p == nil || p.String() == "" {
		return "no platform"
	}
	return p.String()
}

// wasUsed reports whether this store wrote the blob with digest hex hex, or found it there.
func (s *blobStore) wasUsed(hex string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used[hex]
}
