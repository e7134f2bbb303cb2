package site

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airgap-site/bundle"
	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/signing"
	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

func TestPinnedImage(t *testing.T) {
	dir := t.TempDir()
	img := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))
	bundletest.Write(t, dir, bundletest.Entry{Ref: "docker.io/library/registry:3.1.2", Image: img})
	key, err := signing.ParseKey([]byte(bundletest.Sign(t, dir)))
	if err != nil {
		t.Fatal(err)
	}
	trust := bundle.Trust{Keys: []signing.Key{key}}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	pinned := "docker.io/library/registry:3.1.2@" + digest.String()
	cases := []struct {
		ref, bundle, want, wantErr string
	}{
		{"docker.io/library/registry:3.1.2", dir, pinned, ""},
		{pinned, "", pinned, ""},
		{"docker.io/library/registry:3.1.2", "", "", "has no digest"},
		{"quay.io/minio/minio:RELEASE.1", dir, "", "is not in the bundle"},
		{"Not A Ref", dir, "", "parsing reference"},
	}
	// A bundle no trusted key signed pins nothing.
	if _, err := PinnedImage("registry.image", "docker.io/library/registry:3.1.2", dir, bundle.Trust{}); err == nil || !strings.Contains(err.Error(), "no trusted keys") {
		t.Errorf("untrusted bundle: %v", err)
	}
	// A missing bundle directory is the bundle's fault (images.bundle), not a signature's.
	if _, err := PinnedImage("registry.image", "docker.io/library/registry:3.1.2", dir+"/missing", trust); err == nil ||
		!strings.HasPrefix(err.Error(), "images.bundle: ") || strings.Contains(err.Error(), "not signed") {
		t.Errorf("missing bundle: %v", err)
	}
	for _, c := range cases {
		got, err := PinnedImage("registry.image", c.ref, c.bundle, trust)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "registry.image") {
				t.Errorf("%s: err = %v, want one naming registry.image and %q", c.ref, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.ref, got, err, c.want)
		}
	}
}

// Decode, validation and pin problems come in one report: each pin is tried unless its field
// already has a problem (then its value is a default, and blaming it would mislead).
func TestPinProblemsJoinTheConfigReport(t *testing.T) {
	src := siteconfigtest.Source(siteconfigtest.ThreeNodes)
	src.Values[siteconfig.KeyObjectStore] = `{"kind":"minio-tenant"}`
	siteconfigtest.SetSecret(src, siteconfig.KeyMinioRootUser, "minio-admin")
	siteconfigtest.SetSecret(src, siteconfig.KeyMinioRootPassword, "minio-root-password")
	delete(src.Values, siteconfig.KeyS3PullAccessKey)
	delete(src.Values, siteconfig.KeyS3PullSecretKey)
	src.Values[siteconfig.KeyTalos] = `{"version":1.1}`
	src.Values[siteconfig.KeyRegistry] = `{"image":"docker.io/library/registry:3.1.2"}`
	cfg, _, err := siteconfig.LoadAll(src, "osaka")
	if err == nil || cfg == nil {
		t.Fatalf("LoadAll = %v, %v; want the config as far as it decoded, and the talos.version error", cfg, err)
	}
	report := siteconfig.WithProblems(err, PinProblems(cfg, t.TempDir(), err)).Error()
	for _, want := range []string{"talos.version: expected text", "registry.image: \"docker.io/library/registry:3.1.2\" has no digest",
		"objectStore.tenant.image: \"quay.io/minio/minio:"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	// registry.image of the wrong kind: reported once, by the decode, not again as a pin.
	src.Values[siteconfig.KeyRegistry] = `{"image":3}`
	cfg, _, err = siteconfig.LoadAll(src, "osaka")
	for _, p := range PinProblems(cfg, t.TempDir(), err) {
		if strings.HasPrefix(p.Error(), "registry.image") {
			t.Errorf("pin tried on a field that did not decode: %v", p)
		}
	}
}

// A missing images.bundle is one problem on images.bundle in the program's report, before any
// resource is declared, even when every pin is by digest (nothing else would read the bundle
// before the provider), and alongside a trusted key that cannot be read.
func TestPinProblemsMissingBundle(t *testing.T) {
	src := siteconfigtest.Source(siteconfigtest.ThreeNodes)
	src.Values[siteconfig.KeyRegistry] = `{"image":"docker.io/library/registry:3.1.2@sha256:ddf754342cfc8acc51a56d5d0ab6af06826461864460636d8bd5c546dab2a7b8"}`
	dir := t.TempDir()
	src.Values[siteconfig.KeyImages] = `{"bundle":"./site-bundle","trustedKeys":["./cosign.pub"],"list":["docker.io/library/alpine:3"]}`
	cfg, _, err := siteconfig.LoadAll(src, "osaka")
	if err != nil {
		t.Fatalf("LoadAll: %v", err)
	}
	problems := PinProblems(cfg, dir, nil)
	if len(problems) != 2 || !strings.HasPrefix(problems[0].Error(), `images.bundle: "`+filepath.Join(dir, "site-bundle")+`" is not a directory`) ||
		!strings.HasPrefix(problems[1].Error(), "images.trustedKeys[0]: reading the public key") {
		t.Errorf("problems = %v; want images.bundle is not a directory, then images.trustedKeys[0]", problems)
	}
	// The bundle there: no problem of the bundle's (the key is still missing).
	if err := os.Mkdir(filepath.Join(dir, "site-bundle"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range PinProblems(cfg, dir, nil) {
		if strings.HasPrefix(p.Error(), "images.bundle") {
			t.Errorf("a bundle directory that exists: %v", p)
		}
	}
}
