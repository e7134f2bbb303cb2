package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Checked remembers the blobs a process has hashed, so that a base layer shared by many
// images of a bundle is read once. The zero value is ready to use.
type Checked struct {
	mu sync.Mutex
	ok map[string]bool // dir + digest
}

func (c *Checked) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok[key]
}

func (c *Checked) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok == nil {
		c.ok = map[string]bool{}
	}
	c.ok[key] = true
}

// CheckBlobs reads every blob of ref's image (each config and layer, below every index) and
// checks its size and digest: with Lookup, which checks the manifests, every byte of the
// image is checked before anything is copied. A layer the bundle does not carry passes only
// when bundle.json assumes the site holds it (a delta bundle, Assumed), with the same size;
// a blob that is carried is checked, assumed or not. checked may be nil.
func (b *Bundle) CheckBlobs(ref string, checked *Checked) error {
	norm, d, err := b.top(ref)
	if err != nil {
		return err
	}
	if checked == nil {
		checked = &Checked{}
	}
	err = newWalker(b.dir, func(n *node) error {
		if n.image == nil {
			return nil
		}
		for i, blob := range append([]v1.Descriptor{n.image.Config}, n.image.Layers...) {
			key := b.dir + "\x00" + blob.Digest.String()
			if checked.has(key) {
				continue
			}
			err := checkBlob(b.dir, blob)
			if errors.Is(err, fs.ErrNotExist) {
				// A delta bundle leaves out the layers bundle.json assumes the site holds;
				// any other blob must be there. Not remembered as checked: nothing was hashed.
				if err = b.missingAssumed(blob, i == 0, err); err == nil {
					continue
				}
			}
			if err != nil {
				return fmt.Errorf("blob %s of manifest %s: %w", blob.Digest, n.desc.Digest, err)
			}
			checked.add(key)
		}
		return nil
	}).walk(d)
	if err != nil {
		return fmt.Errorf("checking the blobs of %s in bundle %s: %w", norm, b.dir, err)
	}
	return nil
}

// checkBlob hashes the blob d of the layout at dir.
func checkBlob(dir string, d v1.Descriptor) error {
	f, err := openBlob(dir, d.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, d.Size+1))
	if err != nil {
		return err
	}
	if n != d.Size {
		return fmt.Errorf("corrupt: %d bytes, the manifest says %d", n, d.Size)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != d.Digest.String() {
		return fmt.Errorf("corrupt: its content hashes to %s", got)
	}
	return nil
}
