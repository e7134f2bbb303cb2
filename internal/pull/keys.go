package pull

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"airgap-site/signing"
)

// Key is a cosign public key an image must be signed by.
type Key struct {
	// Path names the key as the images file does.
	Path string
	signing.Key
}

// String names the key in messages: its ID and where it was read from.
func (k *Key) String() string { return fmt.Sprintf("%s (%s)", k.ID, k.Path) }

// LoadKeys reads the keys the list names, by reference. Relative paths are relative to dir,
// the images file's directory, so the file means the same from wherever it is used. A key
// that cannot be read fails here, before anything is pulled.
func (l *List) LoadKeys(dir string) (map[string]*Key, error) {
	byPath := map[string]*Key{}
	out := map[string]*Key{}
	for _, ref := range slices.Sorted(maps.Keys(l.Keys)) {
		path := l.Keys[ref]
		k, ok := byPath[path]
		if !ok {
			file := path
			if !filepath.IsAbs(file) {
				file = filepath.Join(dir, file)
			}
			pem, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("key of %s: %w", ref, err)
			}
			sk, err := signing.ParseKey(pem)
			if err != nil {
				return nil, fmt.Errorf("key of %s: %s: %w", ref, file, err)
			}
			k = &Key{Path: path, Key: sk}
			byPath[path] = k
		}
		out[ref] = k
	}
	return out, nil
}
