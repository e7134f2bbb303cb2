package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airgap-site/bundle"
	"airgap-site/internal/imagetest"
	"airgap-site/signing"
)

// countingRegistry is an in-memory registry on 127.0.0.1 that remembers every path it was
// asked for.
type countingRegistry struct {
	host  string
	mu    sync.Mutex
	paths []string
}

func newCountingRegistry(t *testing.T) *countingRegistry {
	t.Helper()
	c := &countingRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.paths = append(c.paths, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.host = strings.TrimPrefix(srv.URL, "http://")
	return c
}

// fetched reports whether the blob h was read (GET) from the registry.
func (c *countingRegistry) fetched(h v1.Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.paths {
		if strings.HasPrefix(p, "GET ") && strings.HasSuffix(p, "/blobs/"+h.String()) {
			return true
		}
	}
	return false
}

// imageInventory is the inventory output provider 0.5.0 records for img: its manifest, config
// and layers, digest -> size.
func imageInventory(t *testing.T, img v1.Image) map[string]int64 {
	t.Helper()
	return imagetest.Contents(t, img)
}

// stateWith is a `pulumi stack export` of a site stack holding one Image of repository
// repo with the given inventory (none: a state of provider 0.4).
func stateWith(t *testing.T, repo string, inv map[string]int64) []byte {
	t.Helper()
	outputs := map[string]any{
		"sourceLayout": "/site/site-bundle", "sourceRef": repo + ":1", "endpoints": []string{"10.20.0.11:32001"},
		"password":   map[string]string{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"},
		"repository": repo, "tag": "1", "digest": "sha256:" + strings.Repeat("0", 64),
	}
	if inv != nil {
		outputs["inventory"] = inv
	}
	raw, err := json.MarshalIndent(map[string]any{"version": 3, "deployment": map[string]any{
		"manifest":          map[string]string{"version": "v3.274.1"},
		"secrets_providers": map[string]any{"type": "passphrase", "state": map[string]string{"salt": "v1:x"}},
		"resources": []map[string]any{
			{"urn": "urn:pulumi:osaka::airgap-site::pulumi:pulumi:Stack::airgap-site-osaka", "type": "pulumi:pulumi:Stack"},
			{"urn": "urn:pulumi:osaka::airgap-site::airgap-site:index:Images$airgap:index:Image::" + repo + ":1",
				"custom": true, "type": "airgap:index:Image", "id": repo + ":1", "outputs": outputs},
		},
	}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestBundleAgainst: against a site holding one:1, a delta bundle of one:1 and two:2 (which
// shares one's base) carries both images' manifests and configs and two's own layer only; the
// layers the site holds are neither fetched nor stored but assumed, with the repository holding
// them, under the bundle's signature; the output says what each image and the bundle carry.
func TestBundleAgainst(t *testing.T) {
	src := newCountingRegistry(t)
	base, top1, top2 := imagetest.Layer(t, 8192), imagetest.Layer(t, 8192), imagetest.Layer(t, 8192)
	one := imagetest.Image(t, "linux/amd64", base, top1)
	two := imagetest.Image(t, "linux/amd64", base, top2)
	if err := remote.Write(imagetest.Ref(t, src.host+"/library/one:1"), one); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(imagetest.Ref(t, src.host+"/team/two:2"), two); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "osaka.json")
	if err := os.WriteFile(state, stateWith(t, "src.test/library/one", imageInventory(t, one)), 0o644); err != nil {
		t.Fatal(err)
	}
	priv, pub, err := signing.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "office.key")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	office, _ := signing.ParseKey(pub)
	images := writeFile(t, fmt.Sprintf("- %[1]s/library/one:1\n- %[1]s/team/two:2\n", src.host))
	out := filepath.Join(t.TempDir(), "delta")
	var stderr bytes.Buffer
	err = runBundle(context.Background(), bundleOptions{
		Images: images, Out: out, Insecure: []string{src.host}, Concurrency: 2, SignKey: keyFile,
		AgainstState: state, Stderr: &stderr, Keychain: authn.NewMultiKeychain(),
	})
	log := stderr.String()
	if err != nil {
		t.Fatalf("runBundle --against-state: %v\n%s", err, log)
	}
	t.Log(log)

	b, _, err := bundle.OpenVerified(out, bundle.Trust{Keys: []signing.Key{office}})
	if err != nil {
		t.Fatalf("the delta bundle does not verify: %v", err)
	}
	hBase, hTop1, hTop2 := imagetest.Digest(t, base), imagetest.Digest(t, top1), imagetest.Digest(t, top2)
	size := func(l v1.Layer) int64 {
		n, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	want := map[v1.Hash]bundle.AssumedBlob{
		hBase: {Digest: hBase, Size: size(base), Repository: "src.test/library/one"},
		hTop1: {Digest: hTop1, Size: size(top1), Repository: "src.test/library/one"},
	}
	got := b.Assumes()
	if len(got) != 2 || got[0] != want[got[0].Digest] || got[1] != want[got[1].Digest] {
		t.Errorf("assumes = %+v, want %+v", got, want)
	}
	for _, h := range []v1.Hash{hBase, hTop1} {
		if src.fetched(h) {
			t.Errorf("blob %s, which the site holds, was fetched from the source", h)
		}
	}
	if !src.fetched(hTop2) {
		t.Errorf("two's own layer %s was not fetched", hTop2)
	}
	for ref, wantAssumed := range map[string]int{src.host + "/library/one:1": 2, src.host + "/team/two:2": 1} {
		if err := b.CheckBlobs(ref, nil); err != nil {
			t.Errorf("CheckBlobs(%s): %v", ref, err)
		}
		if a, err := b.Assumed(ref); err != nil || len(a) != wantAssumed {
			t.Errorf("Assumed(%s) = %v, %v; want %d layers", ref, a, err, wantAssumed)
		}
	}
	for _, line := range []string{
		"delta against the state in " + state + ": the site holds 4 blobs and manifests",
		src.host + "/team/two:2: carries ",
		"the bundle carries ",
		"(2 blobs, ",
	} {
		if !strings.Contains(log, line) {
			t.Errorf("output lacks %q", line)
		}
	}
}

// TestBundleAgainstStack: --against runs pulumi stack export in the project directory, and a
// failure says what to set; a state of an older provider assumes nothing and says so.
func TestBundleAgainstStack(t *testing.T) {
	host, _ := source(t)
	images := writeFile(t, fmt.Sprintf("- %s/library/one:1\n", host))
	project := t.TempDir()
	bin := t.TempDir()
	state := filepath.Join(bin, "state.json")
	if err := os.WriteFile(state, stateWith(t, "src.test/library/one", nil), 0o644); err != nil {
		t.Fatal(err)
	}
	// A stand-in for pulumi: records its arguments and directory, prints the state.
	fake := func(t *testing.T, body string) string {
		p := filepath.Join(t.TempDir(), "pulumi")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	args := filepath.Join(bin, "args")
	pulumi := fake(t, fmt.Sprintf("echo \"$PWD $*\" > %s\ncat %s\n", args, state))
	var stderr bytes.Buffer
	out := filepath.Join(t.TempDir(), "delta")
	err := runBundle(context.Background(), bundleOptions{
		Images: images, Out: out, Insecure: []string{host}, Concurrency: 1,
		Against: "osaka", Project: project, Pulumi: pulumi, Stderr: &stderr, Keychain: authn.NewMultiKeychain(),
	})
	if err != nil {
		t.Fatalf("runBundle --against: %v\n%s", err, stderr.String())
	}
	if got, _ := os.ReadFile(args); strings.TrimSpace(string(got)) != project+" stack export --stack osaka" {
		t.Errorf("pulumi ran as %q, want %q", got, project+" stack export --stack osaka")
	}
	if want := "this stack's state predates inventories (provider before 0.5.0); the delta would carry everything for src.test/library/one:1"; !strings.Contains(stderr.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, stderr.String())
	}
	b, err := bundle.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Assumes()) != 0 || b.IsDelta() {
		t.Errorf("a delta against a state without inventories assumes %v", b.Assumes())
	}

	pulumi = fake(t, "echo 'error: constructing secrets manager of type \"passphrase\": passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables' >&2\nexit 255\n")
	err = runBundle(context.Background(), bundleOptions{
		Images: images, Out: filepath.Join(t.TempDir(), "delta"), Against: "osaka", Project: project, Pulumi: pulumi,
		Concurrency: 1, Keychain: authn.NewMultiKeychain(),
	})
	if err == nil || !strings.Contains(err.Error(), "--against") || !strings.Contains(err.Error(), "set PULUMI_CONFIG_PASSPHRASE") || !strings.Contains(err.Error(), "--against-state") {
		t.Errorf("pulumi asking for a passphrase: %v", err)
	}
	err = runBundle(context.Background(), bundleOptions{
		Images: images, Out: t.TempDir(), Against: "osaka", AgainstState: state, Concurrency: 1,
	})
	if err == nil || !strings.Contains(err.Error(), "give one") {
		t.Errorf("--against with --against-state: %v", err)
	}
}

// TestServeDeltaWarns: airgap serve verifies a delta bundle like any other but warns that it
// cannot serve the layers the delta assumes, so nobody bootstraps a new site from it.
func TestServeDeltaWarns(t *testing.T) {
	base, top := imagetest.Layer(t, 4096), imagetest.Layer(t, 4096)
	size, _ := base.Size()
	h := imagetest.Digest(t, base)
	dir := filepath.Join(t.TempDir(), "delta")
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.AssumePresent(map[v1.Hash]bundle.AssumedBlob{h: {Size: size, Repository: "docker.io/library/app"}})
	if _, err := w.AddImage("app:2", imagetest.Image(t, "linux/amd64", base, top)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, logs := startServe(t, serveOptions{dir: dir, addr: "127.0.0.1:0", allowUnsigned: true, plainHTTP: true})
	if out := logs.String(); !strings.Contains(out, "is a delta bundle") || !strings.Contains(out, "does not carry 1 layers") {
		t.Errorf("no delta warning:\n%s", out)
	}
}
