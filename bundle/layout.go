package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The on-disk layout of a bundle, as go-containerregistry's layout package writes it. Only
// this file spells these paths; everything else goes through the Bundle and Writer methods.
const (
	layoutFile = "oci-layout"
	indexFile  = "index.json"
	// partialSuffix marks blobs being written; they are renamed into place once verified, so
	// an interrupted run never leaves a truncated blob under its digest.
	partialSuffix = ".partial"
)

// blobsDir holds the blobs of a layout, one file per digest, named by its hex.
var blobsDir = filepath.Join("blobs", "sha256")

// hexRE is the only digest hex that becomes a file name: no path can be smuggled in.
var hexRE = regexp.MustCompile(`^[a-f0-9]{64}$`)

// blobName is where the blob h is stored, relative to its layout. Only a sha256 digest of 64
// lower-case hex becomes a name, checked here before any path is built: a descriptor can
// never name another file.
func blobName(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" || !hexRE.MatchString(h.Hex) {
		return "", fmt.Errorf("blob %s: only sha256 digests of 64 lower-case hex digits are supported", h)
	}
	return filepath.Join(blobsDir, h.Hex), nil
}

// blobPath is where the blob h is stored in the layout at dir (for the writer, which owns the
// directory; readers go through openFile).
func blobPath(dir string, h v1.Hash) (string, error) {
	name, err := blobName(h)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// openFile opens the regular file name inside the layout at dir. os.OpenInRoot refuses a name
// or a symbolic link that leads out of dir, so a bundle can never make its reader open (or
// serve) a file elsewhere on the machine.
func openFile(dir, name string) (*os.File, error) {
	f, err := os.OpenInRoot(dir, name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a file: %w", name, fs.ErrNotExist)
	}
	return f, nil
}

// readFile reads the file name of the layout at dir into memory, refusing one larger than
// limit bytes before reading it.
func readFile(dir, name string, limit int64) ([]byte, error) {
	f, err := openFile(dir, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > limit {
		return nil, fmt.Errorf("larger than %d bytes (%d)", limit, st.Size())
	}
	// Bounded again while reading: the file may grow after the Stat.
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return raw, nil
}

// storedBytes is the size of the blobs stored in the layout at dir; blobs being written
// are not counted.
func storedBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(filepath.Join(dir, blobsDir), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() || strings.HasSuffix(d.Name(), partialSuffix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}

func readIndex(dir string) (*v1.IndexManifest, error) {
	raw, err := readFile(dir, indexFile, maxManifest)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", indexFile, err)
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(raw, &index); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", indexFile, err)
	}
	return &index, nil
}

func readManifest(dir string) (*Manifest, error) {
	raw, err := readFile(dir, ManifestFile, maxManifest)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ManifestFile, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", ManifestFile, err)
	}
	return &m, nil
}
