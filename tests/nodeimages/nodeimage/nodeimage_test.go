package nodeimage_test

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/siteconfig"
	"airgap-site/tests/nodeimages/nodeimage"
)

// fakeBinaries writes three small distinct files standing in for the binaries.
func fakeBinaries(t *testing.T) []nodeimage.Spec {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"registry", "pause", "app"} {
		p := filepath.Join(dir, name)
		// 0600 on disk: the image's mode must not depend on the file's.
		if err := os.WriteFile(p, []byte("#!fake "+name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return nodeimage.All(paths[0], paths[1], paths[2])
}

func build(t *testing.T, s nodeimage.Spec) v1.Image {
	t.Helper()
	img, err := nodeimage.Image(s)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestReferences(t *testing.T) {
	var got []string
	for _, s := range fakeBinaries(t) {
		got = append(got, s.Ref)
	}
	want := []string{"docker.io/library/registry:" + siteconfig.RegistryVersion, "registry.k8s.io/pause:3.10", "docker.io/factory/app:1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("references %v, want %v", got, want)
	}
	// The site deploys this very reference; the node must find it under the same name.
	if got[0] != siteconfig.DefaultRegistryImage {
		t.Errorf("registry image %s, the site deploys %s", got[0], siteconfig.DefaultRegistryImage)
	}
}

func TestConfig(t *testing.T) {
	type want struct {
		entrypoint, cmd []string
		user            string
		ports           []string
	}
	wants := map[string]want{
		nodeimage.RegistryRef: {[]string{"/bin/registry"}, []string{"serve", "/etc/distribution/config.yml"}, "65532:65532", []string{"5000/tcp"}},
		nodeimage.PauseRef:    {[]string{"/pause"}, nil, "65535:65535", nil},
		nodeimage.AppRef:      {[]string{"/app"}, nil, "65532:65532", []string{"8080/tcp"}},
	}
	for _, s := range fakeBinaries(t) {
		w := wants[s.Ref]
		img := build(t, s)
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := cf.Platform().String(); got != "linux/amd64" {
			t.Errorf("%s: platform %q", s.Ref, got)
		}
		if !reflect.DeepEqual(cf.Config.Entrypoint, w.entrypoint) || !reflect.DeepEqual(cf.Config.Cmd, w.cmd) {
			t.Errorf("%s: entrypoint %q cmd %q, want %q %q", s.Ref, cf.Config.Entrypoint, cf.Config.Cmd, w.entrypoint, w.cmd)
		}
		if cf.Config.User != w.user {
			t.Errorf("%s: user %q, want %q", s.Ref, cf.Config.User, w.user)
		}
		var ports []string
		for p := range cf.Config.ExposedPorts {
			ports = append(ports, p)
		}
		if !reflect.DeepEqual(ports, w.ports) {
			t.Errorf("%s: exposed %v, want %v", s.Ref, ports, w.ports)
		}
		if !cf.Created.Time.Equal(nodeimage.Epoch) {
			t.Errorf("%s: created %v, want %v", s.Ref, cf.Created.Time, nodeimage.Epoch)
		}
		if n := len(cf.RootFS.DiffIDs); n != 2 || len(cf.History) != 2 {
			t.Errorf("%s: %d diff IDs and %d history entries, want 2 and 2", s.Ref, n, len(cf.History))
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
			t.Errorf("%s: media types %s / %s, want OCI", s.Ref, m.MediaType, m.Config.MediaType)
		}
		for _, l := range m.Layers {
			if l.MediaType != types.OCILayer {
				t.Errorf("%s: layer media type %s", s.Ref, l.MediaType)
			}
		}
	}
}

// header is what the tests check of a tar entry.
type header struct {
	typ      byte
	mode     int64
	uid, gid int
}

func (h header) String() string {
	return fmt.Sprintf("type %c mode %#o owner %d:%d", h.typ, h.mode, h.uid, h.gid)
}

// files reads every layer of img: name → header, and the content of regular files.
func files(t *testing.T, img v1.Image) (map[string]header, map[string]string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := map[string]header{}, map[string]string{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !h.ModTime.Equal(nodeimage.Epoch) {
				t.Errorf("%s: mtime %v", h.Name, h.ModTime)
			}
			hdrs[h.Name] = header{h.Typeflag, h.Mode, h.Uid, h.Gid}
			if h.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				data[h.Name] = string(b)
			}
		}
		rc.Close()
	}
	return hdrs, data
}

func TestLayers(t *testing.T) {
	specs := fakeBinaries(t)
	root := func(typ byte, mode int64) header { return header{typ, mode, 0, 0} }
	common := map[string]header{
		"etc/":          root(tar.TypeDir, 0o755),
		"etc/passwd":    root(tar.TypeReg, 0o644),
		"etc/group":     root(tar.TypeReg, 0o644),
		"home/nonroot/": {tar.TypeDir, 0o700, 65532, 65532},
		"tmp/":          root(tar.TypeDir, 0o1777), // sticky: anyone writes, none deletes others' files
	}
	own := map[string]map[string]header{
		nodeimage.RegistryRef: {
			"bin/registry":      root(tar.TypeReg, 0o755),
			"etc/distribution/": root(tar.TypeDir, 0o755),
			"var/lib/registry/": {tar.TypeDir, 0o755, 65532, 65532},
			"var/lib/":          root(tar.TypeDir, 0o755),
		},
		nodeimage.PauseRef: {"pause": root(tar.TypeReg, 0o755)},
		nodeimage.AppRef:   {"app": root(tar.TypeReg, 0o755)},
	}
	for _, s := range specs {
		hdrs, data := files(t, build(t, s))
		for name, want := range common {
			if got, ok := hdrs[name]; !ok || got != want {
				t.Errorf("%s: %s is %v, want %v", s.Ref, name, got, want)
			}
		}
		for name, want := range own[s.Ref] {
			if got, ok := hdrs[name]; !ok || got != want {
				t.Errorf("%s: %s is %v, want %v", s.Ref, name, got, want)
			}
		}
		bin := strings.TrimPrefix(s.Path, "/")
		if want, _ := os.ReadFile(s.Binary); data[bin] != string(want) {
			t.Errorf("%s: %s holds %q, want the binary's bytes", s.Ref, bin, data[bin])
		}
		// The user must resolve, or tools reading /etc/passwd (and HOME) break.
		uid := strings.Split(s.User, ":")[0]
		if !strings.Contains(data["etc/passwd"], ":x:"+uid+":") || !strings.Contains(data["etc/group"], ":x:"+uid+":") {
			t.Errorf("%s: user %s missing from /etc/passwd or /etc/group", s.Ref, uid)
		}
	}
}

// TestBaseLayerShared: the three images share their first layer, so a bundle stores it once.
func TestBaseLayerShared(t *testing.T) {
	var base v1.Hash
	for i, s := range fakeBinaries(t) {
		layers, err := build(t, s).Layers()
		if err != nil {
			t.Fatal(err)
		}
		if d := imagetest.Digest(t, layers[0]); i == 0 {
			base = d
		} else if d != base {
			t.Errorf("%s: base layer %s, want %s", s.Ref, d, base)
		}
	}
}

func TestDeterministic(t *testing.T) {
	specs := fakeBinaries(t)
	first, err := nodeimage.WriteBundle(t.TempDir(), specs)
	if err != nil {
		t.Fatal(err)
	}
	second, err := nodeimage.WriteBundle(t.TempDir(), specs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if first[i].Digest != second[i].Digest {
			t.Errorf("%s: digests %s then %s", first[i].Reference, first[i].Digest, second[i].Digest)
		}
	}
	// A different binary is a different image.
	other := specs[2]
	other.Binary = specs[1].Binary
	if d := imagetest.Digest(t, build(t, other)); d.String() == first[2].Digest {
		t.Errorf("app image with the pause binary has the app image's digest %s", d)
	}
}

func TestBundleReadsBack(t *testing.T) {
	specs := fakeBinaries(t)
	dir := t.TempDir()
	entries, err := nodeimage.WriteBundle(dir, specs)
	if err != nil {
		t.Fatal(err)
	}
	b := bundletest.Open(t, dir)
	for i, s := range specs {
		want := imagetest.Digest(t, build(t, s))
		if entries[i].Reference != s.Ref || entries[i].Digest != want.String() {
			t.Errorf("entry %d: %s@%s, want %s@%s", i, entries[i].Reference, entries[i].Digest, s.Ref, want)
		}
		if !reflect.DeepEqual(entries[i].Platforms, []string{"linux/amd64"}) {
			t.Errorf("%s: platforms %v", s.Ref, entries[i].Platforms)
		}
		d, err := b.Lookup(s.Ref)
		if err != nil {
			t.Fatal(err)
		}
		if d.Digest != want {
			t.Errorf("%s: bundle holds %s, built %s", s.Ref, d.Digest, want)
		}
		img, err := b.Image(s.Ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := imagetest.Digest(t, img); got != want {
			t.Errorf("%s: read back as %s, built %s", s.Ref, got, want)
		}
		if _, data := files(t, img); data[strings.TrimPrefix(s.Path, "/")] == "" {
			t.Errorf("%s: binary missing when read back", s.Ref)
		}
	}
	if got := len(b.Entries()); got != len(specs) {
		t.Errorf("bundle.json lists %d images, want %d", got, len(specs))
	}
}

func TestMissingBinary(t *testing.T) {
	s := nodeimage.Pause(filepath.Join(t.TempDir(), "nope"))
	_, err := nodeimage.Image(s)
	if err == nil || !strings.Contains(err.Error(), nodeimage.PauseRef) {
		t.Errorf("Image with a missing binary: %v, want an error naming %s", err, nodeimage.PauseRef)
	}
	if _, err := nodeimage.Image(nodeimage.Pause(t.TempDir())); err == nil {
		t.Error("Image with a directory as binary: no error")
	}
}
