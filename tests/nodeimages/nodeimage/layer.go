package nodeimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Epoch is every timestamp in the images, in tar headers and in the config, so a rebuild
// from the same binaries gives the same digests.
var Epoch = time.Unix(0, 0).UTC()

// passwd and group name root and the images' users; /etc/passwd also gives each its home.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n" +
		"pause:x:65535:65535:pause:/:/sbin/nologin\n"
	group = "root:x:0:\nnonroot:x:65532:\npause:x:65535:\n"
)

// entry is one file or directory of a layer.
type entry struct {
	hdr  tar.Header
	data []byte
}

func dir(p string, mode int64, uid, gid int) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: mode, Uid: uid, Gid: gid}}
}

func file(p string, mode int64, data []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(data))}, data: data}
}

// baseLayer is shared by all the images (so a bundle stores it once): the users and a /tmp
// anyone can write, as programs expect.
func baseLayer() (v1.Layer, error) {
	return layer([]entry{
		dir("/etc", 0o755, 0, 0),
		file("/etc/group", 0o644, []byte(group)),
		file("/etc/passwd", 0o644, []byte(passwd)),
		dir("/home", 0o755, 0, 0),
		dir("/home/nonroot", 0o700, 65532, 65532),
		dir("/tmp", 0o1777, 0, 0),
	})
}

// binaryLayer holds the spec's binary, owned by root and not writable by the image's user,
// and its directories.
func binaryLayer(s Spec) (v1.Layer, error) {
	data, err := readBinary(s.Binary)
	if err != nil {
		return nil, err
	}
	var ents []entry
	seen := map[string]bool{}
	// parents adds the missing parent directories of p, root-owned, outermost first.
	parents := func(p string) {
		var missing []string
		for d := path.Dir(p); d != "/" && !seen[d]; d = path.Dir(d) {
			missing = append(missing, d)
		}
		for i := len(missing) - 1; i >= 0; i-- {
			seen[missing[i]] = true
			ents = append(ents, dir(missing[i], 0o755, 0, 0))
		}
	}
	for _, d := range s.Dirs {
		parents(d.Path)
		seen[d.Path] = true
		ents = append(ents, dir(d.Path, d.Mode, d.UID, d.GID))
	}
	parents(s.Path)
	ents = append(ents, file(s.Path, 0o755, data))
	return layer(ents)
}

// readBinary reads a regular file; a directory or a missing path is a mistake in the flags.
func readBinary(p string) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return os.ReadFile(p)
}

// layer writes ents as a gzipped tar once, in memory: the binaries are tens of MB at most,
// and compressing here (not in go-containerregistry on every read) keeps the digest computed
// once from fixed bytes.
func layer(ents []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf) // no name or mtime in the gzip header
	tw := tar.NewWriter(zw)
	for _, e := range ents {
		h := e.hdr
		h.ModTime = Epoch
		h.Format = tar.FormatUSTAR
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("writing %s: %w", h.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("writing %s: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	gz := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gz)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
