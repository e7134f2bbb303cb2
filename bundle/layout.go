package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
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

// blobPath is where the blob h is stored in the layout at dir.
func blobPath(dir string, h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" || !hexRE.MatchString(h.Hex) {
		return "", fmt.Errorf("blob %s: only sha256 digests are supported", h)
	}
	return filepath.Join(dir, blobsDir, h.Hex), nil
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
	raw, err := os.ReadFile(filepath.Join(dir, indexFile))
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
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", ManifestFile, err)
	}
	return &m, nil
}
