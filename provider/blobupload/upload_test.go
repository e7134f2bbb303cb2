package blobupload

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/internal/nodowngrade"
)

const mib = 1 << 20

// stored reads the blob back from the registry behind the fake and compares it.
func stored(t *testing.T, f *fake, want []byte) {
	t.Helper()
	h := digestOf(want)
	rec := httptest.NewRecorder()
	f.inner.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/factory/app/blobs/"+h.String(), nil))
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want) {
		t.Fatalf("the registry answers %d with %d bytes for %s, want the blob's %d", rec.Code, rec.Body.Len(), h, len(want))
	}
}

func TestUploadResumesFromReportedOffsetAfterCuts(t *testing.T) {
	f := newFake(t, true)
	data, d := testBlob(13*mib, 1)
	// Chunks of 5 MiB: PATCH 2 (5..10 MiB) is cut 2 MiB in, and the PATCH after the resume
	// is cut 1 MiB in.
	f.cut(2, 2*mib)
	f.cut(3, 1*mib)
	opts := f.options()
	opts.ChunkSize = 5 * mib
	var mu sync.Mutex
	var last [2]int64
	opts.Progress = func(done, total int64) { mu.Lock(); last = [2]int64{done, total}; mu.Unlock() }

	res, err := Upload(context.Background(), f.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), d), opts)
	if err != nil {
		t.Fatal(err)
	}
	stored(t, f, data)
	patches, received, _ := f.log()
	var starts []int64
	for _, p := range patches {
		starts = append(starts, p.start)
	}
	// 0, 5M (cut at 7M), 7M (cut at 8M), 8M..13M, 13M..: each resume where the registry was.
	want := []int64{0, 5 * mib, 7 * mib, 8 * mib}
	if len(starts) < len(want) || !slices.Equal(starts[:len(want)], want) {
		t.Fatalf("PATCH offsets %v, want to start %v (each resume at the offset the registry reported)", starts, want)
	}
	if res.Resumes != 2 || res.Restarts != 0 || res.Existed {
		t.Errorf("result %+v, want 2 resumes, no restart", res)
	}
	if bound := int64(len(data)) + 2*opts.ChunkSize; res.Sent > bound || res.Sent < int64(len(data)) {
		t.Errorf("sent %d bytes for a %d-byte blob and 2 cuts, want at most %d", res.Sent, len(data), bound)
	}
	if received != int64(len(data)) {
		t.Errorf("the registry read %d bytes, want the blob's %d once (cuts lose nothing it kept)", received, len(data))
	}
	if last != [2]int64{int64(len(data)), int64(len(data))} {
		t.Errorf("last progress %v, want done = total = %d", last, len(data))
	}
}

func TestUploadResumesSessionOfPreviousProcess(t *testing.T) {
	f := newFake(t, true)
	f.user, f.pass = "push", "s3cret-push-password"
	data, _ := testBlob(12*mib, 2)
	layer := static.NewLayer(data, types.OCILayer)
	blob, err := FromLayer(layer)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "state", "uploads")
	first := f.options()
	first.ChunkSize, first.Retry = 5*mib, siteregistryNoRetry
	first.Auth = authn.FromConfig(authn.AuthConfig{Username: f.user, Password: f.pass})
	first.Sessions = NewSessions(dir)
	f.cut(2, 3*mib) // the registry keeps 5 + 3 MiB; this process gives up

	if _, err := Upload(context.Background(), f.repo(t), blob, first); err == nil {
		t.Fatal("the first upload succeeded through a cut with no retries")
	}
	sessions, err := first.Sessions.List()
	if err != nil || len(sessions) != 1 {
		t.Fatalf("sessions after the failed upload: %v, %v; want one", sessions, err)
	}
	if s := sessions[0]; s.Digest != blob.Digest.String() || s.Repository != "factory/app" || s.Offset != 5*mib {
		t.Errorf("session %+v: want the blob, factory/app, offset 5 MiB", s)
	}
	assertNoSecret(t, dir, f.user, f.pass)

	// The next process: new Sessions on the same directory.
	next := first
	next.Retry = f.options().Retry
	next.Sessions = NewSessions(dir)
	before, _, _ := f.log()
	res, err := Upload(context.Background(), f.repo(t), blob, next)
	if err != nil {
		t.Fatal(err)
	}
	stored(t, f, data)
	patches, _, _ := f.log()
	if p := patches[len(before)]; p.start != 8*mib || p.id != patches[0].id {
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
	f := newFake(t, true)
	data, d := testBlob(7*mib, 3)
	blob := FromReaderAt(bytes.NewReader(data), int64(len(data)), d)
	opts := f.options()
	opts.ChunkSize, opts.Retry = 5*mib, siteregistryNoRetry
	opts.Sessions = NewSessions(t.TempDir())
	f.cut(2, mib)
	if _, err := Upload(context.Background(), f.repo(t), blob, opts); err == nil {
		t.Fatal("the first upload succeeded through a cut with no retries")
	}
	f.forget() // purged: the upload URL now answers 404

	opts.Retry = f.options().Retry
	before, _, _ := f.log()
	res, err := Upload(context.Background(), f.repo(t), blob, opts)
	if err != nil {
		t.Fatal(err)
	}
	stored(t, f, data)
	patches, _, _ := f.log()
	if p := patches[len(before)]; p.start != 0 || p.id == patches[0].id {
		t.Errorf("first PATCH after the stale session: %+v, want a new session from 0", p)
	}
	if res.Restarts != 1 || res.Resumes != 0 || res.Sent != int64(len(data)) {
		t.Errorf("result %+v: want 1 restart and the whole blob sent", res)
	}
	if left, _ := opts.Sessions.List(); len(left) != 0 {
		t.Errorf("sessions left: %v", left)
	}
}

func TestUploadLimiterCapsTotalRate(t *testing.T) {
	f := newFake(t, true)
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
			opts := f.options()
			opts.Limiter = lim
			res, err := Upload(context.Background(), f.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), d), opts)
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

func TestUploadGivesUpOnRegistryThatLosesSessions(t *testing.T) {
	f := newFake(t, true)
	f.forgetful = true
	data, d := testBlob(6*mib, 12)
	opts := f.options()
	opts.ChunkSize = 5 * mib
	res, err := Upload(context.Background(), f.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), d), opts)
	if err == nil || !strings.Contains(err.Error(), "lost the upload session") || res.Restarts != maxRestarts+1 {
		t.Fatalf("result %+v, error %v: want to give up after %d restarts", res, err, maxRestarts)
	}
}

func TestUploadDigestMismatchFails(t *testing.T) {
	f := newFake(t, true)
	data, _ := testBlob(6*mib, 4)
	_, other := testBlob(6*mib, 5)
	opts := f.options()
	opts.ChunkSize = 5 * mib
	opts.Sessions = NewSessions(t.TempDir())
	_, err := Upload(context.Background(), f.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), other), opts)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), other.String()) {
		t.Fatalf("error %v: want ErrDigestMismatch naming %s", err, other)
	}
	if _, _, puts := f.log(); puts != 1 {
		t.Errorf("%d PUTs: a digest mismatch is not retried", puts)
	}
	if left, _ := opts.Sessions.List(); len(left) != 0 {
		t.Errorf("a refused upload left its session: %v", left)
	}
	if f.has(t, other) {
		t.Error("the registry serves the mismatched digest")
	}
}

func TestUploadShortSourceFails(t *testing.T) {
	f := newFake(t, true)
	data, d := testBlob(mib, 6)
	opts := f.options()
	_, err := Upload(context.Background(), f.repo(t), FromReaderAt(bytes.NewReader(data[:mib/2]), int64(len(data)), d), opts)
	var serr *SourceError
	if !errors.As(err, &serr) {
		t.Fatalf("error %v: want a SourceError for a blob shorter than its size", err)
	}
}

func TestUploadExistingBlobSendsNothing(t *testing.T) {
	f := newFake(t, true)
	data, d := testBlob(mib, 7)
	blob := FromReaderAt(bytes.NewReader(data), int64(len(data)), d)
	if _, err := Upload(context.Background(), f.repo(t), blob, f.options()); err != nil {
		t.Fatal(err)
	}
	before, _, _ := f.log()
	res, err := Upload(context.Background(), f.repo(t), blob, f.options())
	after, _, _ := f.log()
	if err != nil || !res.Existed || res.Sent != 0 || len(after) != len(before) {
		t.Fatalf("second upload: %+v, %v, %d PATCHes; want Existed and nothing sent", res, err, len(after)-len(before))
	}
}

// A registry (or whoever answers as one) that points the upload at another host gets nothing
// there: the blob goes to the registry only.
func TestUploadRefusesLocationOnAnotherHost(t *testing.T) {
	var mu sync.Mutex
	var elsewhere int
	other := newFake(t, true)
	other.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere++
		mu.Unlock()
	})
	f := newFake(t, true)
	inner := f.inner
	f.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.Header().Set("Location", other.srv.URL+"/v2/factory/app/blobs/uploads/1")
			w.WriteHeader(http.StatusAccepted)
			return
		}
		inner.ServeHTTP(w, r)
	})
	data, d := testBlob(mib, 8)
	_, err := Upload(context.Background(), f.repo(t), FromReaderAt(bytes.NewReader(data), int64(len(data)), d), f.options())
	if err == nil || !strings.Contains(err.Error(), "refusing upload Location") {
		t.Fatalf("error %v: want the Location refused", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if elsewhere != 0 {
		t.Errorf("the other host got %d requests", elsewhere)
	}
}

// A plain-http registry not configured as such gets no request; configured, it works.
func TestUploadRefusesPlainHTTP(t *testing.T) {
	f := newFake(t, false)
	data, d := testBlob(mib, 9)
	blob := FromReaderAt(bytes.NewReader(data), int64(len(data)), d)
	opts := f.options()
	opts.Transport = nil
	_, err := Upload(context.Background(), f.repo(t), blob, opts)
	var refused *nodowngrade.Error
	if !errors.As(err, &refused) {
		t.Fatalf("error %v: want nodowngrade's refusal", err)
	}
	f.mu.Lock()
	n := f.requests
	f.mu.Unlock()
	if n != 0 {
		t.Fatalf("the plain-http registry got %d requests", n)
	}
	opts.PlainHTTP = nodowngrade.PlainHTTP{Hosts: []string{f.addr()}}
	if _, err := Upload(context.Background(), f.repo(t), blob, opts); err != nil {
		t.Fatalf("configured as plain http: %v", err)
	}
}

func TestChunkSizeBelowMinimumIsRefused(t *testing.T) {
	data, d := testBlob(10, 11)
	_, err := Upload(context.Background(), newFake(t, true).repo(t), FromReaderAt(bytes.NewReader(data), 10, d), Options{ChunkSize: mib})
	if err == nil || !strings.Contains(err.Error(), "chunk size") {
		t.Fatalf("error %v: want the chunk size named", err)
	}
}

// assertNoSecret checks that the session directory is private and holds no credential.
func assertNoSecret(t *testing.T, dir, user, pass string) {
	t.Helper()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("session directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		for _, s := range []string{pass, basic, "Authorization"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a credential (%q):\n%s", e.Name(), s, b)
			}
		}
	}
}
