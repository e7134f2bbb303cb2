package bundle_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/signing"
)

// TestStampAccept: the site's rules for a bundle's stamp, each a test that fails without it.
func TestStampAccept(t *testing.T) {
	now := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		st      bundle.Stamp
		highest int64
		want    string // "" accepted
	}{
		{"first bundle", bundle.Stamp{Sequence: 100}, 0, ""},
		{"same sequence", bundle.Stamp{Sequence: 100}, 100, ""},
		{"newer", bundle.Stamp{Sequence: 101}, 100, ""},
		{"older", bundle.Stamp{Sequence: 99}, 100, "sequence 99, lower than 100"},
		{"old format after a sequenced one", bundle.Stamp{}, 100, "sequence 0, lower than 100"},
		{"expired", bundle.Stamp{Sequence: 100, Expires: now.Add(-time.Second)}, 0, "expired at 2026-12-02T03:59:59Z"},
		{"not yet expired", bundle.Stamp{Sequence: 100, Expires: now.Add(time.Hour)}, 0, ""},
		{"for this site", bundle.Stamp{Sequence: 100, Sites: []string{"osaka", "kobe"}}, 0, ""},
		{"for other sites", bundle.Stamp{Sequence: 100, Sites: []string{"kobe", "nagoya"}}, 0, `for the sites kobe, nagoya, not "osaka"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.st.Accept("osaka", tc.highest, now)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Accept = %v, want accepted", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Accept = %v, want %q", err, tc.want)
			}
		})
	}
	var de *bundle.DowngradeError
	if err := (bundle.Stamp{Sequence: 1}).Accept("osaka", 2, now); !errors.As(err, &de) || de.Sequence != 1 || de.Highest != 2 {
		t.Errorf("a downgrade is %v, want a *DowngradeError{1, 2}", err)
	}
}

// TestWriterStamp: bundle.json carries the sequence, expiry and sites; a bundle added to
// without a sequence gets a higher one than it had, and the signature covers the stamp.
func TestWriterStamp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.SetStamp(bundle.Stamp{Sequence: 4_000_000_000, Expires: expires, Sites: []string{"osaka"}})
	if _, err := w.AddImage("docker.io/library/alpha:1", img); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s, pub, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Sign(s); err != nil {
		t.Fatal(err)
	}
	k, _ := signing.ParseKey(pub)
	b, _, err := bundle.OpenVerified(dir, bundle.Trust{Keys: []signing.Key{k}})
	if err != nil {
		t.Fatal(err)
	}
	st := b.Stamp()
	if st.Sequence != 4_000_000_000 || !st.Expires.Equal(expires) || len(st.Sites) != 1 || st.Sites[0] != "osaka" || st.CreatedAt.IsZero() {
		t.Errorf("stamp = %+v", st)
	}

	// Added to without a sequence: above the one it had, though the clock is lower.
	w, err = bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := bundletest.Open(t, dir).Stamp().Sequence; got != 4_000_000_001 {
		t.Errorf("sequence after adding to the bundle = %d, want 4000000001", got)
	}
	// A new bundle without a sequence: the Unix time.
	fresh := filepath.Join(t.TempDir(), "c")
	before := time.Now().Unix()
	bundletest.Write(t, fresh)
	if got := bundletest.Open(t, fresh).Stamp().Sequence; got < before || got > time.Now().Unix() {
		t.Errorf("default sequence = %d, want the Unix time (%d)", got, before)
	}
	if got := bundle.NextSequence(10, time.Unix(5, 0)); got != 11 {
		t.Errorf("NextSequence(10, 5s) = %d, want 11", got)
	}
}

// TestOpenVerifiedSameBytes: the bundle is opened from the index.json that was verified. A
// medium that swaps index.json after the verification changes nothing the process reads;
// and a process verifies a given content once.
func TestOpenVerifiedSameBytes(t *testing.T) {
	s, k := newSigner(t)
	dir := signedBundle(t, s)
	trust := bundle.Trust{Keys: []signing.Key{k}}
	b1, key, err := bundle.OpenVerified(dir, trust)
	if err != nil || key.ID != k.ID {
		t.Fatalf("OpenVerified = %v, %v", key.ID, err)
	}
	if _, err := b1.Lookup("docker.io/library/alpha:1"); err != nil {
		t.Fatal(err)
	}
	// The attacker's medium now answers another index.json, listing only a planted image.
	bundletest.EditJSON(t, filepath.Join(dir, "index.json"), func(m map[string]any) {
		m["manifests"] = m["manifests"].([]any)[1:]
	})
	b2, _, err := bundle.OpenVerified(dir, trust)
	if err != nil {
		t.Fatalf("second OpenVerified: %v", err)
	}
	if b2 != b1 {
		t.Errorf("a second verified open of the same content opened the bundle again")
	}
	if _, err := b2.Lookup("docker.io/library/alpha:1"); err != nil {
		t.Errorf("the verified index lost an image after index.json changed on disk: %v", err)
	}
	// The trust is checked at every call, cached or not.
	_, other := newSigner(t)
	if _, _, err := bundle.OpenVerified(dir, bundle.Trust{Keys: []signing.Key{other}}); err == nil {
		t.Errorf("a cached bundle was returned under a trust that does not accept it")
	}
	// In a new directory (a new process's view), the changed index.json is refused.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bundle.OpenVerified(moved, trust); err == nil || !strings.Contains(err.Error(), "index.json is sha256:") {
		t.Errorf("OpenVerified of a changed index.json = %v, want refused", err)
	}
}

// TestSpecialFilesDoNotBlock: a FIFO where a bundle file belongs (index.json, bundle.json, its
// signature, a blob) fails at once with an error, instead of waiting forever for a writer.
func TestSpecialFilesDoNotBlock(t *testing.T) {
	s, k := newSigner(t)
	trust := bundle.Trust{Keys: []signing.Key{k}}
	fifo := func(t *testing.T, path string) {
		t.Helper()
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	within := func(t *testing.T, what string, f func() error) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- f() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "a FIFO") {
				t.Errorf("%s = %v, want an error naming a FIFO", what, err)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s still blocked after a second", what)
		}
	}
	for _, file := range []string{"index.json", bundle.ManifestFile, bundle.SignatureFile} {
		t.Run(file, func(t *testing.T) {
			dir := signedBundle(t, s)
			fifo(t, filepath.Join(dir, file))
			within(t, "OpenVerified", func() error { _, _, err := bundle.OpenVerified(dir, trust); return err })
			if file == "index.json" {
				within(t, "Open", func() error { _, err := bundle.Open(dir); return err })
			}
		})
	}
	t.Run("a blob", func(t *testing.T) {
		dir := signedBundle(t, s)
		b, _, err := bundle.OpenVerified(dir, trust)
		if err != nil {
			t.Fatal(err)
		}
		img, err := b.Image("docker.io/library/alpha:1")
		if err != nil {
			t.Fatal(err)
		}
		layers, _ := img.Layers()
		d, _ := layers[0].Digest()
		fifo(t, filepath.Join(dir, "blobs", "sha256", d.Hex))
		within(t, "CheckBlobs", func() error { return b.CheckBlobs("docker.io/library/alpha:1", nil) })
		within(t, "Blob", func() error { _, err := b.Blob(d); return err })
		m, _ := img.Manifest()
		fifo(t, filepath.Join(dir, "blobs", "sha256", m.Config.Digest.Hex))
		within(t, "Lookup+config", func() error { _, err := img.RawConfigFile(); return err })
	})
}

// TestWriterSignsOnlyItsOwn: a writer signs a bundle only when everything in the directory is
// what it wrote; an entry or file left by an earlier run is refused by name, nothing signed.
func TestWriterSignsOnlyItsOwn(t *testing.T) {
	s, _ := newSigner(t)
	alpha := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))
	beta := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))
	run := func(t *testing.T, dir string, imgs map[string]bundletest.Entry) error {
		t.Helper()
		w, err := bundle.Create(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range imgs {
			if _, err := w.AddImage(e.Ref, e.Image); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return w.Sign(s)
	}
	a := bundletest.Entry{Ref: "docker.io/library/alpha:1", Image: alpha}
	b := bundletest.Entry{Ref: "docker.io/library/beta:1", Image: beta}
	sigOf := func(dir string) string {
		raw, _ := os.ReadFile(filepath.Join(dir, bundle.SignatureFile))
		return string(raw)
	}

	t.Run("a fresh directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "b")
		if err := run(t, dir, map[string]bundletest.Entry{"a": a, "b": b}); err != nil {
			t.Fatal(err)
		}
		// The same images again into it: every entry and blob is this run's too.
		if err := run(t, dir, map[string]bundletest.Entry{"a": a, "b": b}); err != nil {
			t.Errorf("the same images into the same directory: %v", err)
		}
	})
	t.Run("an entry of an earlier run", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "b")
		bundletest.Write(t, dir, a, b) // beta's pull fails in the next run, or it left the list
		before := sigOf(dir)
		err := run(t, dir, map[string]bundletest.Entry{"a": a})
		if err == nil || !strings.Contains(err.Error(), "an image not written by this run: docker.io/library/beta:1") {
			t.Fatalf("Sign = %v, want beta refused by name", err)
		}
		if strings.Contains(err.Error(), "alpha") {
			t.Errorf("Sign names alpha, which this run wrote: %v", err)
		}
		if sigOf(dir) != before {
			t.Errorf("a signature was written")
		}
	})
	t.Run("files of another tool", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "b")
		if err := run(t, dir, map[string]bundletest.Entry{"a": a}); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o644)
		stale := filepath.Join(dir, "blobs", "sha256", strings.Repeat("ab", 32))
		os.WriteFile(stale, []byte("x"), 0o644)
		err := run(t, dir, map[string]bundletest.Entry{"a": a})
		for _, want := range []string{"README", filepath.Join("blobs", "sha256", strings.Repeat("ab", 32))} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Sign = %v, want %s refused by name", err, want)
			}
		}
	})
	t.Run("not closed", func(t *testing.T) {
		w, err := bundle.Create(filepath.Join(t.TempDir(), "b"))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Sign(s); err == nil {
			t.Errorf("signed an open writer")
		}
	})
}
