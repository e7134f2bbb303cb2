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
	"syscall"

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

// openFile opens the regular file name inside the layout at dir. The root refuses a name or a
// symbolic link that leads out of dir, so a bundle can never make its reader open (or serve) a
// file elsewhere on the machine. It is opened without blocking (O_NONBLOCK: opening a FIFO
// for reading otherwise waits for a writer, forever; O_NOCTTY: a terminal never becomes
// ours) and refused unless it is a regular file, so a FIFO, device or socket planted in a
// bundle fails at once instead of hanging its reader. Reads of a regular file do not heed
// O_NONBLOCK.
func openFile(dir, name string) (*os.File, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file (%s): %w", name, fileKind(st.Mode()), errSpecialFile)
	}
	return f, nil
}

// errSpecialFile is why a FIFO, device, socket or directory where a bundle file belongs is
// refused.
var errSpecialFile = errors.New("a bundle holds regular files only")

// fileKind names a file's type for an error.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
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

// strays lists, relative to the layout at dir, every file or directory in it that is not
// part of the layout (oci-layout, index.json, bundle.json and its signature, blobs/sha256)
// and every blob that ours does not claim, sorted.
func strays(dir string, ours func(hex string) bool) ([]string, error) {
	var out []string
	top, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range top {
		switch e.Name() {
		case layoutFile, indexFile, ManifestFile, SignatureFile:
			if !e.Type().IsRegular() {
				out = append(out, e.Name())
			}
		case filepath.Dir(blobsDir):
		default:
			out = append(out, e.Name())
		}
	}
	algs, err := os.ReadDir(filepath.Join(dir, filepath.Dir(blobsDir)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range algs {
		if e.Name() != filepath.Base(blobsDir) || !e.IsDir() {
			out = append(out, filepath.Join(filepath.Dir(blobsDir), e.Name()))
		}
	}
	blobs, err := os.ReadDir(filepath.Join(dir, blobsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range blobs {
		if !e.Type().IsRegular() || !hexRE.MatchString(e.Name()) || !ours(e.Name()) {
			out = append(out, filepath.Join(blobsDir, e.Name()))
		}
	}
	return out, nil
}
