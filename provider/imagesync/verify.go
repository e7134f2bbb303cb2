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

// CorruptError is a source blob whose content is not what its digest or size says. No retry
// can fix it.
type CorruptError struct {
	Digest v1.Hash
	Reason string
}

func (e *CorruptError) Error() string { return fmt.Sprintf("blob %s is %s", e.Digest, e.Reason) }

// Permanent tells retry loops (siteregistry.Retryable) not to try again.
func (e *CorruptError) Permanent() bool { return true }

// verifyingReader hashes what it reads and fails at EOF when the content is not what its
// digest says: the upload is then aborted instead of storing a corrupt blob.
type verifyingReader struct {
	rc       io.ReadCloser
	want     v1.Hash
	size     int64
	h        hash.Hash
	n        int64
	counters []*atomic.Int64
	// done, when set, is called at a verified EOF.
	done func()
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.h.Write(p[:n])
		r.n += int64(n)
		for _, c := range r.counters {
			if c != nil {
				c.Add(int64(n))
			}
		}
	}
	if err == io.EOF {
		got := "sha256:" + hex.EncodeToString(r.h.Sum(nil))
		if r.want.Algorithm == "sha256" && got != r.want.String() {
			return n, &CorruptError{Digest: r.want, Reason: "corrupt in the source: its content hashes to " + got}
		}
		if r.size > 0 && r.n != r.size {
			return n, &CorruptError{Digest: r.want, Reason: fmt.Sprintf("truncated in the source: %d of %d bytes", r.n, r.size)}
		}
		if r.done != nil {
			r.done()
		}
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.rc.Close() }
