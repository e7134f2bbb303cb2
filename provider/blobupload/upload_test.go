package blobupload

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/internal/nodowngrade"
	"airgap-site/provider/internal/registrytest"
)

const mib = 1 << 20

// stored checks that the registry serves exactly want under its digest.
func stored(t *testing.T, r *testRegistry, want []byte) {
	t.Helper()
	h := digestOf(want)
	rec := r.Call(http.MethodGet, "/v2/factory/app/blobs/"+h.String())
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want) {
		t.Fatalf("the registry answers %d with %d bytes for %s, want the blob's %d", rec.Code, rec.Body.Len(), h, len(want))
	}
}

func TestUploadResumesFromReportedOffsetAfterCuts(t *testing.T) {
	r := newRegistry(t, registrytest.ServeTLS)
	data, d := testBlob(13*mib, 1)
	// Chunks of 5 MiB: PATCH 2 (5..10 MiB) is cut 2 MiB in, and the PATCH after the resume
	// is cut 1 MiB in.
	r.cutPatches(0, 2*mib, 1*mib)
	opts := r.options()
	opts.ChunkSize = 5 * mib
	var mu sync.Mutex
	var last [2]int64
	opts.Progress = func(done, total int64) { mu.Lock(); last = [2]int64{done, total}; mu.Unlock() }

	res, err := Upload(context.Background(), r.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), d), opts)
	if err != nil {
		t.Fatal(err)
	}
	stored(t, r, data)
	starts := r.starts()
	// 0, 5M (cut at 7M), 7M (cut at 8M), 8M, 13M: each resume where the registry was.
	if want := []int64{0, 5 * mib, 7 * mib, 8 * mib}; len(starts) < len(want) || !slices.Equal(starts[:len(want)], want) {
		t.Fatalf("PATCH offsets %v, want to start %v (each resume at the offset the registry reported)", starts, want)
	}
	if res.Resumes != 2 || res.Restarts != 0 || res.Existed {
		t.Errorf("result %+v, want 2 resumes, no restart", res)
	}
	if bound := int64(len(data)) + 2*opts.ChunkSize; res.Sent > bound || res.Sent < int64(len(data)) {
		t.Errorf("sent %d bytes for a %d-byte blob and 2 cuts, want at most %d", res.Sent, len(data), bound)
	}
	if got := r.BodyBytes.Load(); got != int64(len(data)) {
		t.Errorf("the registry read %d body bytes, want the blob's %d once (a cut loses nothing it kept)", got, len(data))
	}
	if last != [2]int64{int64(len(data)), int64(len(data))} {
		t.Errorf("last progress %v, want done = total = %d", last, len(data))
	}
}

func TestUploadResumesSessionOfPreviousProcess(t *testing.T) {
	r := newRegistry(t, registrytest.ServeTLS)
	r.user, r.pass = "push", "s3cret-push-password"
	data, _ := testBlob(12*mib, 2)
	blob, err := FromLayer(static.NewLayer(data, types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "state", "uploads")
	first := r.options()
	first.ChunkSize, first.Retry = 5*mib, siteregistryNoRetry
	first.Auth = authn.FromConfig(authn.AuthConfig{Username: r.user, Password: r.pass})
	first.Sessions = NewSessions(dir)
	r.cutPatches(0, 3*mib) // the registry keeps 5 + 3 MiB; this process gives up

	if _, err := Upload(context.Background(), r.repo(t), blob, first); err == nil {
		t.Fatal("the first upload succeeded through a cut with no retries")
	}
	sessions, err := first.Sessions.List()
	if err != nil || len(sessions) != 1 {
		t.Fatalf("sessions after the failed upload: %v, %v; want one", sessions, err)
	}
	if s := sessions[0]; s.Digest != blob.Digest.String() || s.Repository != "factory/app" || s.Offset != 5*mib {
		t.Errorf("session %+v: want the blob, factory/app, offset 5 MiB", s)
	}
	assertNoSecret(t, dir, r.user, r.pass)

	// The next process: new Sessions on the same directory.
	next := first
	next.Retry = r.options().Retry
	next.Sessions = NewSessions(dir)
	before, _ := r.log()
	res, err := Upload(context.Background(), r.repo(t), blob, next)
	if err != nil {
		t.Fatal(err)
	}
	stored(t, r, data)
	patches, _ := r.log()
	if p := patches[len(before)]; p.start != 8*mib || p.session != patches[0].session {
		t.Errorf("the next process's first PATCH: %+v, want the same session at 8 MiB", p)
	}
	if res.Resumes != 1 || res.Restarts != 0 || res.Sent != int64(len(data))-8*mib {
		t.Errorf("result %+v: want 1 resume and the %d bytes the registry lacked", res, len(data)-8*mib)
	}
	if left, _ := next.Sessions.List(); len(left) != 0 {
		t.Errorf("sessions left after the blob is complete: %v", left)
	}
}

func TestUploadRestartsStaleSession(t *testing.T) {
	r := newRegistry(t, registrytest.ServeTLS)
	data, d := testBlob(11*mib, 3) // two PATCHes: 5 MiB, then 6 (the tail goes with the last chunk)
	blob := FromReaderAt(bytes.NewReader(data), int64(len(data)), d)
	opts := r.options()
	opts.ChunkSize, opts.Retry = 5*mib, siteregistryNoRetry
	opts.Sessions = NewSessions(t.TempDir())
	r.cutPatches(0, mib)
	if _, err := Upload(context.Background(), r.repo(t), blob, opts); err == nil {
		t.Fatal("the first upload succeeded through a cut with no retries")
	}
	r.Forget() // purged: the upload URL now answers 404

	opts.Retry = r.options().Retry
	before, _ := r.log()
	res, err := Upload(context.Background(), r.repo(t), blob, opts)
	if err != nil {
		t.Fatal(err)
	}
	stored(t, r, data)
	patches, _ := r.log()
	if p := patches[len(before)]; p.start != 0 || p.session == patches[0].session {
		t.Errorf("first PATCH after the stale session: %+v, want a new session from 0", p)
	}
	if res.Restarts != 1 || res.Resumes != 0 || res.Sent != int64(len(data)) {
		t.Errorf("result %+v: want 1 restart and the whole blob sent", res)
	}
	if left, _ := opts.Sessions.List(); len(left) != 0 {
		t.Errorf("sessions left: %v", left)
	}
}

func TestUploadGivesUpOnRegistryThatLosesSessions(t *testing.T) {
	r := newRegistry(t, registrytest.ServeTLS)
	r.faults(registrytest.When(registrytest.Method(http.MethodPatch, ""), func(http.ResponseWriter, *http.Request) bool {
		r.Forget() // every PATCH finds its session gone
		return false
	}))
	data, d := testBlob(6*mib, 12)
	opts := r.options()
	opts.ChunkSize = 5 * mib
	res, err := Upload(context.Background(), r.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), d), opts)
	if err == nil || !strings.Contains(err.Error(), "lost the upload session") || res.Restarts != maxRestarts+1 {
		t.Fatalf("result %+v, error %v: want to give up after %d restarts", res, err, maxRestarts)
	}
}

func TestUploadLimiterCapsTotalRate(t *testing.T) {
	r := newRegistry(t, registrytest.ServeTLS)
	const rate = 400 << 10 // bytes per second, shared by two uploads
	lim := NewLimiter(rate)
	var wg sync.WaitGroup
	var total int64
	var errs [2]error
	var sent [2]int64
	start := time.Now()
	for i := range 2 {
		data, d := testBlob(400<<10, uint64(10+i))
		total += int64(len(data))
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := r.options()
			opts.Limiter = lim
			res, err := Upload(context.Background(), r.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), d), opts)
			errs[i], sent[i] = err, res.Sent
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if sent[0]+sent[1] != total {
		t.Fatalf("sent %d bytes, want %d", sent[0]+sent[1], total)
	}
	got := float64(total) / elapsed.Seconds()
	if got > rate*1.1 || got < rate*0.9 {
		t.Errorf("two uploads sharing a %d B/s cap moved %.0f B/s (%d bytes in %s), want within 10%%", rate, got, total, elapsed)
	}
}

func TestUploadDigestMismatchFails(t *testing.T) {
	r := newRegistry(t, registrytest.ServeTLS)
	data, _ := testBlob(6*mib, 4)
	_, other := testBlob(6*mib, 5)
	opts := r.options()
	opts.ChunkSize = 5 * mib
	opts.Sessions = NewSessions(t.TempDir())
	_, err := Upload(context.Background(), r.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), other), opts)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), other.String()) {
		t.Fatalf("error %v: want ErrDigestMismatch naming %s", err, other)
	}
	if _, puts := r.log(); puts != 1 {
		t.Errorf("%d PUTs: a digest mismatch is not retried", puts)
	}
	if left, _ := opts.Sessions.List(); len(left) != 0 {
		t.Errorf("a refused upload left its session: %v", left)
	}
	if r.has(other) {
		t.Error("the registry serves the mismatched digest")
	}
}

// A resumed session the registry assembled wrong (a write of the cut request landing after
// the resume) is sent again whole, once; a source that is wrong fails after that.
func TestUploadResendsWholeWhenResumedSessionFailsDigest(t *testing.T) {
	r := newRegistry(t, registrytest.ServeTLS)
	data, d := testBlob(12*mib, 14)
	flip := func(_ http.ResponseWriter, req *http.Request) bool {
		req.Body = flipFirstByte(req.Body) // what the registry stores is not what was sent
		return false
	}
	r.faults(registrytest.When(registrytest.Method(http.MethodPatch, ""), registrytest.Sequence(nil, r.Cut(2*mib), flip)))
	opts := r.options()
	opts.ChunkSize = 5 * mib
	res, err := Upload(context.Background(), r.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), d), opts)
	if err != nil {
		t.Fatal(err)
	}
	stored(t, r, data)
	if res.Resumes != 1 || res.Restarts != 1 || res.Sent > 2*int64(len(data))+opts.ChunkSize {
		t.Errorf("result %+v: want 1 resume, then the blob sent whole once more", res)
	}

	// The same cut with a wrong digest: the second mismatch is the source's.
	_, other := testBlob(12*mib, 15)
	r.cutPatches(0, 2*mib)
	res, err = Upload(context.Background(), r.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), other), opts)
	if !errors.Is(err, ErrDigestMismatch) || res.Restarts != 1 {
		t.Fatalf("result %+v, error %v: want ErrDigestMismatch after one whole resend", res, err)
	}
}

type flipped struct {
	io.ReadCloser
	done bool
}

func flipFirstByte(rc io.ReadCloser) io.ReadCloser { return &flipped{ReadCloser: rc} }

func (f *flipped) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if n > 0 && !f.done {
		p[0] ^= 0xff
		f.done = true
	}
	return n, err
}

func TestUploadShortSourceFails(t *testing.T) {
	r := newRegistry(t, registrytest.ServeTLS)
	data, d := testBlob(mib, 6)
	_, err := Upload(context.Background(), r.repo(t), FromReaderAt(bytes.NewReader(data[:mib/2]), int64(len(data)), d), r.options())
	var serr *SourceError
	if !errors.As(err, &serr) {
		t.Fatalf("error %v: want a SourceError for a blob shorter than its size", err)
	}
}

func TestUploadExistingBlobSendsNothing(t *testing.T) {
	r := newRegistry(t, registrytest.ServeTLS)
	data, d := testBlob(mib, 7)
	blob := FromReaderAt(bytes.NewReader(data), int64(len(data)), d)
	if _, err := Upload(context.Background(), r.repo(t), blob, r.options()); err != nil {
		t.Fatal(err)
	}
	before, _ := r.log()
	res, err := Upload(context.Background(), r.repo(t), blob, r.options())
	after, _ := r.log()
	if err != nil || !res.Existed || res.Sent != 0 || len(after) != len(before) {
		t.Fatalf("second upload: %+v, %v, %d PATCHes; want Existed and nothing sent", res, err, len(after)-len(before))
	}
}

// A registry (or whoever answers as one) that points the upload at another host gets nothing
// sent there: the blob goes to the registry only.
func TestUploadRefusesLocationOnAnotherHost(t *testing.T) {
	other := newRegistry(t, registrytest.ServeTLS)
	var elsewhere atomic.Int64
	other.faults(func(http.ResponseWriter, *http.Request) bool { elsewhere.Add(1); return false })
	r := newRegistry(t, registrytest.ServeTLS)
	r.faults(registrytest.When(registrytest.Method(http.MethodPost, "/blobs/uploads/"), func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Location", "https://"+other.Host+"/v2/factory/app/blobs/uploads/1")
		w.WriteHeader(http.StatusAccepted)
		return true
	}))
	data, d := testBlob(mib, 8)
	_, err := Upload(context.Background(), r.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), d), r.options())
	if err == nil || !strings.Contains(err.Error(), "refusing upload Location") {
		t.Fatalf("error %v: want the Location refused", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
}

// A plain-http registry not configured as such gets no request; configured, it works.
func TestUploadRefusesPlainHTTP(t *testing.T) {
	r := newRegistry(t)
	var requests atomic.Int64
	r.faults(func(http.ResponseWriter, *http.Request) bool { requests.Add(1); return false })
	data, d := testBlob(mib, 9)
	blob := FromReaderAt(bytes.NewReader(data), int64(len(data)), d)
	opts := r.options()
	opts.Transport = nil
	_, err := Upload(context.Background(), r.repo(t), blob, opts)
	var refused *nodowngrade.Error
	if !errors.As(err, &refused) {
		t.Fatalf("error %v: want nodowngrade's refusal", err)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the plain-http registry got %d requests", n)
	}
	opts.PlainHTTP = nodowngrade.PlainHTTP{Hosts: []string{r.Host}}
	if _, err := Upload(context.Background(), r.repo(t), blob, opts); err != nil {
		t.Fatalf("configured as plain http: %v", err)
	}
	if !r.has(d) {
		t.Fatal("the blob is not in the registry")
	}
}

func TestChunkSizeBelowMinimumIsRefused(t *testing.T) {
	data, d := testBlob(10, 11)
	_, err := Upload(context.Background(), newRegistry(t).repo(t), FromReaderAt(bytes.NewReader(data), 10, d), Options{ChunkSize: mib})
	if err == nil || !strings.Contains(err.Error(), "chunk size") {
		t.Fatalf("error %v: want the chunk size named", err)
	}
}

// assertNoSecret checks that the session directory is private and holds no credential.
func assertNoSecret(t *testing.T, dir, user, pass string) {
	t.Helper()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("session directory: %v; want mode 0700", err)
	}
	entries, _ := os.ReadDir(dir)
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, want mode 0600", e.Name(), err)
		}
		b, _ := os.ReadFile(p)
		for _, s := range []string{pass, basic, "Authorization"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a credential (%q):\n%s", e.Name(), s, b)
			}
		}
	}
}

// TestTailGoesWithTheLastChunk: what would be left after a chunk, under a part's minimum, goes
// in that chunk's PATCH, not in a PATCH of its own (each costs the registry a resume).
func TestTailGoesWithTheLastChunk(t *testing.T) {
	for _, tc := range []struct {
		size   int64
		starts []int64
	}{
		{12 * mib, []int64{0, 5 * mib}},           // 5, then 7
		{15 * mib, []int64{0, 5 * mib, 10 * mib}}, // 5, 5, 5: no tail
		{4 * mib, []int64{0}},                     // smaller than a chunk
	} {
		r := newRegistry(t, registrytest.ServeTLS)
		data, d := testBlob(tc.size, 4)
		opts := r.options()
		opts.ChunkSize = 5 * mib
		if _, err := Upload(context.Background(), r.repo(t), FromReaderAt(bytes.NewReader(data), tc.size, d), opts); err != nil {
			t.Fatal(err)
		}
		stored(t, r, data)
		starts := r.starts()
		if !slices.Equal(starts, tc.starts) {
			t.Errorf("a blob of %d MiB in chunks of 5 MiB: PATCHes from %v, want %v", tc.size/mib, starts, tc.starts)
		}
	}
}
