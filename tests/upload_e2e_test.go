//go:build e2e

package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airgap-site/internal/nodowngrade"
	"airgap-site/provider/blobupload"
	"airgap-site/provider/siteregistry"
	toxiproxyapi "airgap-site/tests/toxiproxy"
)

// TestChunkedUploadResumes pushes a 40 MiB blob to the real registry on the test bed's S3
// through a Toxiproxy link that cuts every connection after 13 MiB: one 10 MiB chunk passes,
// the next is cut 3 MiB in. The first process gives up at its first cut and leaves its
// session; the next process resumes that session and rides out the other cuts, each time
// from the offset the registry reports. An upload that started again from zero could never
// finish through this link.
func TestChunkedUploadResumes(t *testing.T) {
	t.Parallel() // a registry and a link of its own
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s3Registry(t, regAddr, fmt.Sprintf("/upload-e2e-%d", time.Now().UnixNano())) // a fresh store each run (-count)
	tox := startToxiproxy(t)
	link := tox.proxy(t, "link", regAddr)
	const cutAfter = 13 << 20
	tox.toxic(t, "link", map[string]any{"name": "cut", "type": "limit_data", "stream": "upstream",
		"toxicity": 1, "attributes": map[string]any{"bytes": cutAfter}})

	const size = 40 << 20
	data := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{19}).Read(data)
	sum := sha256.Sum256(data)
	digest := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}
	blob := blobupload.FromReaderAt(bytes.NewReader(data), size, digest)
	repo, err := name.NewRepository(link + "/upload/e2e")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "uploads")
	opts := blobupload.Options{
		Transport: siteregistry.Transport(nil, 30*time.Second),
		PlainHTTP: nodowngrade.PlainHTTP{Hosts: []string{link}},
		Sessions:  blobupload.NewSessions(dir),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The first process: no retries, so the first cut ends it.
	first, err := blobupload.Upload(ctx, repo, blob, opts)
	if err == nil {
		t.Fatalf("the upload went through a link that cuts every %d bytes (%+v)", cutAfter, first)
	}
	t.Logf("first process: %v (sent %d)", err, first.Sent)
	sessions, err := opts.Sessions.List()
	if err != nil || len(sessions) != 1 || sessions[0].Offset != blobupload.DefaultChunkSize {
		t.Fatalf("sessions after the first process: %+v, %v; want one at the first chunk's end", sessions, err)
	}

	// The next process: a new Sessions on the same directory, retrying through the cuts.
	opts.Sessions = blobupload.NewSessions(dir)
	opts.Retry = siteregistry.Policy{For: time.Minute, Initial: 100 * time.Millisecond, Max: time.Second}
	var mu sync.Mutex
	var progress []int64
	opts.Progress = func(done, total int64) { mu.Lock(); progress = append(progress, done); mu.Unlock() }
	next, err := blobupload.Upload(ctx, repo, blob, opts)
	if err != nil {
		t.Fatal(err)
	}
	sent := first.Sent + next.Sent
	t.Logf("next process: %+v; %d bytes sent in all for a %d-byte blob", next, sent, size)
	// The session's resume, then one per cut: chunks 3 and 4 are each cut once.
	if next.Resumes < 3 || next.Restarts != 0 {
		t.Errorf("next process: %+v, want at least 3 resumes (the session, then each cut) and no restart", next)
	}
	cuts := int64(1 + next.Resumes - 1) // the first process's cut, then one per resume after the session's
	if bound := size + cuts*blobupload.DefaultChunkSize; sent > bound {
		t.Errorf("sent %d bytes through %d cuts, want at most the blob plus a chunk per cut (%d)", sent, cuts, bound)
	}
	mu.Lock()
	if len(progress) == 0 || progress[len(progress)-1] != size {
		t.Errorf("progress %v: want it to end at %d", progress, size)
	}
	mu.Unlock()
	if left, _ := opts.Sessions.List(); len(left) != 0 {
		t.Errorf("sessions left after the blob is complete: %+v", left)
	}

	// The registry, read directly, serves the blob, and it hashes to its digest.
	assertServes(t, regAddr+"/upload/e2e", digest, size)
}

// TestChunkedUploadRidesOutStall stalls the link in the middle of a chunk (Toxiproxy's
// timeout toxic: nothing gets through, nothing is closed) for 3 s, as an LTE link that goes
// silent does. The request fails on its idle bound, the retries wait, and once the link is
// back the upload goes on from the offset the registry reports; the blob's digest verifies.
func TestChunkedUploadRidesOutStall(t *testing.T) {
	t.Parallel() // a registry and a link of its own
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s3Registry(t, regAddr, fmt.Sprintf("/stall-e2e-%d", time.Now().UnixNano())) // a fresh store each run (-count)
	tox := startToxiproxy(t)
	link := tox.proxy(t, "link", regAddr)

	const size = 40 << 20
	data := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{23}).Read(data)
	sum := sha256.Sum256(data)
	digest := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}
	repo, err := name.NewRepository(link + "/upload/stall")
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stalled := make(chan struct{})
	opts := blobupload.Options{
		Transport: siteregistry.Transport(nil, time.Second),
		PlainHTTP: nodowngrade.PlainHTTP{Hosts: []string{link}},
		Limiter:   blobupload.NewLimiter(8 << 20), // slow enough to stall in the middle of a chunk
		Retry:     siteregistry.Policy{For: time.Minute, Initial: 200 * time.Millisecond, Max: time.Second},
		Progress: func(done, _ int64) {
			if done >= 14<<20 {
				once.Do(func() { close(stalled) })
			}
		},
	}
	restored := make(chan struct{})
	go func() {
		defer close(restored)
		<-stalled
		// Not t.Fatal: this is not the test's goroutine.
		if err := tox.Toxic("link", map[string]any{"name": "stall", "type": "timeout",
			"stream": "upstream", "toxicity": 1, "attributes": map[string]any{"timeout": 0}}); err != nil {
			t.Error(err)
		}
		time.Sleep(3 * time.Second)
		if err := tox.Delete("/proxies/link/toxics/stall"); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := blobupload.Upload(ctx, repo, blobupload.FromReaderAt(bytes.NewReader(data), size, digest), opts)
	select {
	case <-stalled:
		<-restored
	default:
		t.Fatalf("the upload ended (%+v, %v) before the link stalled", res, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v in %s", res, time.Since(start).Round(time.Millisecond))
	if res.Resumes < 1 {
		t.Errorf("result %+v: want the upload resumed after the stall", res)
	}
	assertServes(t, regAddr+"/upload/stall", digest, size)
}

// assertServes reads the blob from the registry directly and checks its size and digest.
func assertServes(t *testing.T, repo string, digest v1.Hash, size int64) {
	t.Helper()
	direct, err := name.NewDigest(repo + "@" + digest.String())
	if err != nil {
		t.Fatal(err)
	}
	l, err := remote.Layer(direct)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil || n != size || fmt.Sprintf("%x", h.Sum(nil)) != digest.Hex {
		t.Fatalf("the registry serves %d bytes hashing to %x (%v), want %d hashing to %s", n, h.Sum(nil), err, size, digest.Hex)
	}
}

// toxiproxy is the pinned toxiproxy-server on loopback (package tests/toxiproxy), stopped
// when the test ends; its methods fail the test.
type toxiproxy struct{ *toxiproxyapi.Server }

func startToxiproxy(t *testing.T) *toxiproxy {
	t.Helper()
	s, err := toxiproxyapi.Start(e2e.bin, filepath.Join(t.TempDir(), "toxiproxy.log"), cleanEnv())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return &toxiproxy{s}
}

// proxy opens a proxy to upstream on a free loopback port and returns its address.
func (x *toxiproxy) proxy(t *testing.T, name, upstream string) string {
	t.Helper()
	listen, err := x.Proxy(name, upstream)
	if err != nil {
		t.Fatal(err)
	}
	return listen
}

// toxic adds a toxic (name, type, stream, toxicity, attributes) to a proxy.
func (x *toxiproxy) toxic(t *testing.T, proxy string, toxic map[string]any) {
	t.Helper()
	if err := x.Toxic(proxy, toxic); err != nil {
		t.Fatal(err)
	}
}

// delete deletes a toxic or a proxy.
func (x *toxiproxy) delete(t *testing.T, path string) {
	t.Helper()
	if err := x.Delete(path); err != nil {
		t.Fatal(err)
	}
}
