package bundle_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/signing"
)

func newSigner(t *testing.T) (*signing.Signer, signing.Key) {
	t.Helper()
	s, pub, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.ParseKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

func signedBundle(t *testing.T, s *signing.Signer) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	bundletest.Write(t, dir,
		bundletest.Entry{Ref: "docker.io/library/alpha:1", Image: imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 2048))},
		bundletest.Entry{Ref: "ghcr.io/org/beta:2", Image: imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 2048))})
	if err := bundle.Sign(dir, s); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVerifySignedBundle(t *testing.T) {
	s, k := newSigner(t)
	_, other := newSigner(t)
	dir := signedBundle(t, s)
	got, err := bundle.Verify(dir, bundle.Trust{Keys: []signing.Key{other, k}})
	if err != nil || got.ID != k.ID {
		t.Fatalf("Verify = %s, %v; want key %s", got.ID, err, k.ID)
	}
	// The signature is cosign's sign-blob format: base64 text over bundle.json's bytes.
	sig, _ := os.ReadFile(filepath.Join(dir, bundle.SignatureFile))
	raw, _ := os.ReadFile(filepath.Join(dir, bundle.ManifestFile))
	if _, err := signing.Verify([]signing.Key{k}, raw, sig); err != nil {
		t.Errorf("bundle.json.sig does not verify over bundle.json alone: %v", err)
	}
}

// TestVerifyRefusesTampering: each way a bundle can change between the office and the site
// is refused, with an error that says what.
func TestVerifyRefusesTampering(t *testing.T) {
	s, k := newSigner(t)
	_, other := newSigner(t)
	trust := bundle.Trust{Keys: []signing.Key{k}}
	edit := func(t *testing.T, dir, file string, change func(map[string]any)) {
		t.Helper()
		bundletest.EditJSON(t, filepath.Join(dir, file), change)
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		trust  bundle.Trust
		want   string
	}{
		{"unsigned", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, bundle.SignatureFile)) }, trust, "not signed"},
		{"wrong key", func(*testing.T, string) {}, bundle.Trust{Keys: []signing.Key{other}}, "no trusted key"},
		{"bundle.json edited", func(t *testing.T, dir string) {
			edit(t, dir, bundle.ManifestFile, func(m map[string]any) { m["createdAt"] = "2020-01-01T00:00:00Z" })
		}, trust, "no trusted key"},
		{"image added without re-signing", func(t *testing.T, dir string) {
			w, err := bundle.Create(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.AddImage("docker.io/library/gamma:3", imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}, trust, "no trusted key"},
		{"index.json changed", func(t *testing.T, dir string) {
			edit(t, dir, "index.json", func(m map[string]any) { m["annotations"] = map[string]any{"x": "y"} })
		}, trust, "index.json is sha256:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := signedBundle(t, s)
			tc.tamper(t, dir)
			_, err := bundle.Verify(dir, tc.trust)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("unsigned allowed by the opt-out", func(t *testing.T) {
		dir := signedBundle(t, s)
		os.Remove(filepath.Join(dir, bundle.SignatureFile))
		if _, err := bundle.Verify(dir, bundle.Trust{AllowUnsigned: true}); err != nil {
			t.Errorf("unsigned bundle with AllowUnsigned: %v", err)
		}
		if _, err := bundle.Verify(dir, trust); !errors.Is(err, bundle.ErrUnsigned) {
			t.Errorf("unsigned bundle: %v, want ErrUnsigned", err)
		}
	})
	t.Run("signed bundle.json and index.json that disagree", func(t *testing.T) {
		dir := signedBundle(t, s)
		// bundle.json re-signed (by the trusted key) but listing another digest: the two files
		// must agree, whoever signed.
		edit(t, dir, bundle.ManifestFile, func(m map[string]any) {
			m["images"].([]any)[0].(map[string]any)["digest"] = "sha256:" + strings.Repeat("0", 64)
		})
		if err := bundle.Sign(dir, s); err != nil {
			t.Fatal(err)
		}
		if _, err := bundle.Verify(dir, trust); err == nil || !strings.Contains(err.Error(), "disagree") {
			t.Fatalf("Verify = %v, want bundle.json and index.json disagreeing", err)
		}
	})
}
