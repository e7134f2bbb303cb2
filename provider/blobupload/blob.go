package blobupload

import (
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Blob is what Upload sends.
type Blob struct {
	Digest v1.Hash
	Size   int64
	// Open returns the blob's bytes from offset to its end. It is called for every chunk, and
	// again when a chunk is resent (after a cut, or when authentication makes the transport
	// send a request twice).
	Open func(offset int64) (io.ReadCloser, error)
}

// FromReaderAt is the blob of size bytes at r (an *os.File, a bytes.Reader).
func FromReaderAt(r io.ReaderAt, size int64, digest v1.Hash) Blob {
	return Blob{Digest: digest, Size: size, Open: func(offset int64) (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(r, offset, size-offset)), nil
	}}
}

// FromLayer is a layer's compressed bytes. Opening it at an offset seeks there when the
// layer's reader can seek (a file: a bundle's or an OCI layout's layer); otherwise it reads
// the layer from its start and skips offset bytes, which costs a read of the blob per chunk.
func FromLayer(l v1.Layer) (Blob, error) {
	d, err := l.Digest()
	if err != nil {
		return Blob{}, fmt.Errorf("reading layer digest: %w", err)
	}
	size, err := l.Size()
	if err != nil {
		return Blob{}, fmt.Errorf("reading size of layer %s: %w", d, err)
	}
	return Blob{Digest: d, Size: size, Open: func(offset int64) (io.ReadCloser, error) {
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		if sk, ok := rc.(io.Seeker); ok {
			if _, err := sk.Seek(offset, io.SeekStart); err != nil {
				rc.Close()
				return nil, fmt.Errorf("seeking to offset %d: %w", offset, err)
			}
			return rc, nil
		}
		if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
			rc.Close()
			return nil, fmt.Errorf("skipping to offset %d: %w", offset, err)
		}
		return rc, nil
	}}, nil
}

func (b Blob) check() error {
	switch {
	case b.Digest.Algorithm == "" || b.Digest.Hex == "":
		return errors.New("blob digest: required")
	case b.Size < 0:
		return fmt.Errorf("blob size: %d is negative", b.Size)
	case b.Open == nil:
		return errors.New("blob Open: required")
	}
	return nil
}

// SourceError is a blob that could not be read as declared (shorter than its size, a read
// error): no retry helps.
type SourceError struct {
	Digest v1.Hash
	Err    error
}

func (e *SourceError) Error() string   { return fmt.Sprintf("reading blob %s: %v", e.Digest, e.Err) }
func (e *SourceError) Unwrap() error   { return e.Err }
func (e *SourceError) Permanent() bool { return true }
