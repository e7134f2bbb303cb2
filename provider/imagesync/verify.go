package imagesync

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func newHasher() hash.Hash { return sha256.New() }

// verifyingReader hashes what it reads and fails at EOF when the content is not what its
// digest says: the upload is then aborted instead of storing a corrupt blob.
type verifyingReader struct {
	rc   io.ReadCloser
	want v1.Hash
	size int64
	h    hash.Hash
	n    int64
	sent *atomic.Int64
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.h.Write(p[:n])
		r.n += int64(n)
		if r.sent != nil {
			r.sent.Add(int64(n))
		}
	}
	if err == io.EOF {
		got := "sha256:" + hex.EncodeToString(r.h.Sum(nil))
		if r.want.Algorithm == "sha256" && got != r.want.String() {
			return n, fmt.Errorf("blob %s is corrupt in the source: its content hashes to %s", r.want, got)
		}
		if r.size > 0 && r.n != r.size {
			return n, fmt.Errorf("blob %s is truncated in the source: %d of %d bytes", r.want, r.n, r.size)
		}
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.rc.Close() }
