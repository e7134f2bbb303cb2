package imagesync

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"airgap-site/bundle"
	"airgap-site/internal/imagetest"
)

// repoBlobs keeps blobs per repository, as distribution does (a blob is in a repository only
// once pushed or mounted there): go-containerregistry's in-memory registry shares them all.
type repoBlobs struct {
	mu sync.Mutex
	m  map[string][]byte // repo@digest
}

func (b *repoBlobs) get(repo string, h v1.Hash) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[repo+"@"+h.String()]
	return v, ok
}

func (b *repoBlobs) Get(_ context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	if v, ok := b.get(repo, h); ok {
		return io.NopCloser(bytes.NewReader(v)), nil
	}
	return nil, registry.ErrNotFound
}

func (b *repoBlobs) Stat(_ context.Context, repo string, h v1.Hash) (int64, error) {
	if v, ok := b.get(repo, h); ok {
		return int64(len(v)), nil
	}
	return 0, registry.ErrNotFound
}

func (b *repoBlobs) Put(_ context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	// The in-memory registry names the repository of an upload's PUT with its "blobs" part.
	repo = strings.TrimSuffix(repo, "/blobs")
	v, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[repo+"@"+h.String()] = v
	return nil
}

// siteRegistry is an in-memory registry with per-repository blobs and distribution's
// cross-repository mount (POST .../blobs/uploads/?mount=<digest>&from=<repo>: 201 when from
// holds it, else an upload session), which records every request that could change it.
type siteRegistry struct {
	host     string
	blobs    *repoBlobs
	noMounts bool // answer mounts with an upload session, as a registry that cannot mount does

	mu     sync.Mutex
	writes []string
}

func newSiteRegistry(t *testing.T, noMounts bool) *siteRegistry {
	t.Helper()
	s := &siteRegistry{blobs: &repoBlobs{m: map[string][]byte{}}, noMounts: noMounts}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithBlobHandler(s.blobs))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.mu.Lock()
			s.writes = append(s.writes, r.Method+" "+r.URL.String())
			s.mu.Unlock()
		}
		q := r.URL.Query()
		if repo, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/blobs/uploads/"); ok && r.Method == http.MethodPost && q.Get("mount") != "" && !s.noMounts {
			if h, err := v1.NewHash(q.Get("mount")); err == nil {
				if v, ok := s.blobs.get(q.Get("from"), h); ok {
					s.blobs.Put(r.Context(), repo, h, io.NopCloser(bytes.NewReader(v)))
					w.Header().Set("Location", "/v2/"+repo+"/blobs/"+h.String())
					w.Header().Set("Docker-Content-Digest", h.String())
					w.WriteHeader(http.StatusCreated)
					return
				}
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.host = strings.TrimPrefix(srv.URL, "http://")
	return s
}

func (s *siteRegistry) ref(t *testing.T, r string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s.host+"/"+r, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (s *siteRegistry) has(repo string, h v1.Hash) bool {
	_, ok := s.blobs.get(repo, h)
	return ok
}

// changes are the requests since the last call that could have changed the registry.
func (s *siteRegistry) changes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.writes
	s.writes = nil
	return out
}

// deltaOf writes a delta bundle of app:2 (base + top) against a site holding base in
// docker.io/library/base, and returns it opened with what it assumes for app:2.
func deltaOf(t *testing.T, base, top v1.Layer) (*bundle.Bundle, map[v1.Hash]bundle.AssumedBlob) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "delta")
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	size, err := base.Size()
	if err != nil {
		t.Fatal(err)
	}
	h := imagetest.Digest(t, base)
	w.AssumePresent(map[v1.Hash]bundle.AssumedBlob{h: {Digest: h, Size: size, Repository: "docker.io/library/base"}})
	if _, err := w.AddImage("app:2", imagetest.Image(t, "linux/amd64", base, top)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	assumed, err := b.Assumed("app:2")
	if err != nil || len(assumed) != 1 {
		t.Fatalf("Assumed = %v, %v; want the base", assumed, err)
	}
	return b, assumed
}

// TestCheckAssumedMounts: an assumed blob the site holds in the repository the bundle records
// is mounted into the image's repository, and the copy then finds it there: the image is
// complete in the registry although the bundle never carried its base.
func TestCheckAssumedMounts(t *testing.T) {
	ctx := context.Background()
	site := newSiteRegistry(t, false)
	base, top := imagetest.Layer(t, 64<<10), imagetest.Layer(t, 16<<10)
	if err := remote.Write(site.ref(t, "docker.io/library/base:1"), imagetest.Image(t, "linux/amd64", base), remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	site.changes()
	b, assumed := deltaOf(t, base, top)
	dst := site.ref(t, "docker.io/library/app:2")
	known := NewKnown()

	res, err := CheckAssumed(ctx, "docker.io/library/app:2", assumed, dst, once(Options{Known: known}))
	if err != nil {
		t.Fatal(err)
	}
	if res != (AssumedResult{Mounted: 1}) || !site.has("docker.io/library/app", imagetest.Digest(t, base)) {
		t.Errorf("CheckAssumed = %+v, base in app: %v; want it mounted", res, site.has("docker.io/library/app", imagetest.Digest(t, base)))
	}
	if got := site.changes(); len(got) != 1 || !strings.Contains(got[0], "mount=") {
		t.Errorf("requests that changed the registry: %v, want one mount", got)
	}

	// The copy reads no assumed blob from the bundle (it holds none): it finds it present.
	img, err := b.Image("app:2")
	if err != nil {
		t.Fatal(err)
	}
	cres, err := Copy(ctx, Source{Image: img}, dst, once(Options{Known: known}))
	if err != nil {
		t.Fatalf("copy after the check: %v", err)
	}
	if cres.BlobsExisting != 1 || cres.BlobsUploaded != 2 {
		t.Errorf("copy: %+v, want the base existing and top and config uploaded", cres)
	}
	for _, c := range site.changes() {
		if strings.Contains(c, imagetest.Digest(t, base).String()) {
			t.Errorf("the copy sent the base: %s", c)
		}
	}
	pulled, err := remote.Image(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pulled); err != nil {
		t.Errorf("the image in the registry: %v", err)
	}

	// A second check finds it present, asking nothing but a HEAD.
	res, err = CheckAssumed(ctx, "docker.io/library/app:2", assumed, dst, once(Options{}))
	if err != nil || res != (AssumedResult{Present: 1}) || len(site.changes()) != 0 {
		t.Errorf("second check = %+v, %v", res, err)
	}
}

// TestCheckAssumedMissing: a blob the site lost (in no repository) fails the image before
// anything is pushed, naming the blob, the image and the fix; the registry is unchanged. A
// registry that declines the mount fails it the same way, and is sent no content.
func TestCheckAssumedMissing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		noMounts bool
		holds    bool // the recorded repository holds the base
	}{
		{"lost", false, false},
		{"mount declined", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			site := newSiteRegistry(t, tc.noMounts)
			base, top := imagetest.Layer(t, 64<<10), imagetest.Layer(t, 16<<10)
			// The recorded repository exists, with another image.
			onSite := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1024))
			if tc.holds {
				onSite = imagetest.Image(t, "linux/amd64", base)
			}
			if err := remote.Write(site.ref(t, "docker.io/library/base:1"), onSite); err != nil {
				t.Fatal(err)
			}
			site.changes()
			_, assumed := deltaOf(t, base, top)
			dst := site.ref(t, "docker.io/library/app:2")

			_, err := CheckAssumed(ctx, "docker.io/library/app:2", assumed, dst, once(Options{MountFrom: []string{"docker.io/library/other"}}))
			h := imagetest.Digest(t, base)
			if !errors.Is(err, ErrAssumedMissing) {
				t.Fatalf("CheckAssumed = %v, want ErrAssumedMissing", err)
			}
			for _, want := range []string{h.String(), "image docker.io/library/app:2", "docker.io/library/base", "bring a full bundle: airgap bundle without --against"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			changes := site.changes()
			if tc.noMounts {
				// The declined mount opened an upload session; no byte followed it.
				if len(changes) != 1 || !strings.Contains(changes[0], "mount=") {
					t.Errorf("requests that changed the registry: %v, want the mount only", changes)
				}
			} else if len(changes) != 0 {
				t.Errorf("the registry was changed: %v", changes)
			}
			if slices.ContainsFunc(changes, func(c string) bool { return strings.HasPrefix(c, "PUT ") || strings.HasPrefix(c, "PATCH ") }) {
				t.Errorf("content was sent: %v", changes)
			}
			if site.has("docker.io/library/app", h) {
				t.Error("the base is in the image's repository")
			}
		})
	}
}

// TestAssumedOfIncludesAttachments: the blobs a delta assumes for an image's signature count
// with the image's own, since CopyAttached pushes them into the same repository.
func TestAssumedOfIncludesAttachments(t *testing.T) {
	base, top, payload := imagetest.Layer(t, 4096), imagetest.Layer(t, 4096), imagetest.Layer(t, 512)
	img := imagetest.Image(t, "linux/amd64", base, top)
	d := imagetest.Digest(t, img)
	sigRef, err := bundle.AttachedRef("docker.io/library/app:2", d, bundle.Signatures)
	if err != nil {
		t.Fatal(err)
	}
	assume := map[v1.Hash]bundle.AssumedBlob{}
	for _, l := range []v1.Layer{base, payload} {
		size, _ := l.Size()
		assume[imagetest.Digest(t, l)] = bundle.AssumedBlob{Size: size, Repository: "docker.io/library/app"}
	}
	dir := filepath.Join(t.TempDir(), "delta")
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.AssumePresent(assume)
	if _, err := w.AddImage("docker.io/library/app:2", img); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(sigRef, imagetest.Image(t, "linux/amd64", payload)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AssumedOf(b, "docker.io/library/app:2", d)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[imagetest.Digest(t, base)].Size == 0 || got[imagetest.Digest(t, payload)].Size == 0 {
		t.Errorf("AssumedOf = %v, want the base and the signature's payload", got)
	}
}
