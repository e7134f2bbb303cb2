package blobupload

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/provider/siteregistry"
)

// fake is go-containerregistry's in-memory registry (which takes chunked PATCHes) with what
// it lacks for resumable uploads: GET of an upload URL answers 204 with the Range held. It
// also cuts chosen PATCHes: it reads part of the body, lets the registry keep that part (as
// distribution keeps what reached storage) and resets the connection.
type fake struct {
	inner http.Handler
	srv   *httptest.Server

	mu       sync.Mutex
	held     map[string]int64 // upload id -> bytes the registry holds
	cuts     map[int]int64    // PATCH number (from 1) -> body bytes read before the cut
	patchNo  int
	patches  []patchLog
	puts     int
	received int64 // PATCH body bytes the server read
	requests int
	// forgetful loses every upload session after each PATCH.
	forgetful bool
	// user and pass, when set, are Basic credentials every request needs.
	user, pass string
}

type patchLog struct {
	id         string
	start, end int64
}

func newFake(t *testing.T, tlsServer bool) *fake {
	t.Helper()
	f := &fake{inner: registry.New(registry.Logger(nopLogger())), held: map[string]int64{}, cuts: map[int]int64{}}
	if tlsServer {
		f.srv = httptest.NewTLSServer(f)
	} else {
		f.srv = httptest.NewServer(f)
	}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) addr() string { return f.srv.Listener.Addr().String() }

func (f *fake) repo(t *testing.T) name.Repository {
	t.Helper()
	r, err := name.NewRepository(f.addr() + "/factory/app")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// options reach the fake over TLS with its certificate, retrying fast.
func (f *fake) options() Options {
	var tlsConfig *tls.Config
	if t, ok := f.srv.Client().Transport.(*http.Transport); ok {
		tlsConfig = t.TLSClientConfig.Clone() // one per transport: http2 setup writes to it
	}
	return Options{
		Transport: siteregistry.Transport(tlsConfig, 10*time.Second),
		Retry:     siteregistry.Policy{For: 10 * time.Second, Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
	}
}

func (f *fake) cut(patchNo int, after int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cuts[patchNo] = after
}

// forget drops every upload session, as the registry's upload purging does.
func (f *fake) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.held)
}

func (f *fake) log() (patches []patchLog, received int64, puts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]patchLog(nil), f.patches...), f.received, f.puts
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	if f.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	dir, id := path.Split(r.URL.Path)
	upload := strings.HasSuffix(dir, "/blobs/uploads/") && id != ""
	switch {
	case upload && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		f.mu.Lock()
		n, ok := f.held[id]
		f.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown"}]}`)
			return
		}
		w.Header().Set("Location", r.URL.Path)
		w.Header().Set("Range", fmt.Sprintf("0-%d", max(n-1, 0)))
		w.WriteHeader(http.StatusNoContent)
	case upload && r.Method == http.MethodPatch:
		f.patch(w, r, id)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/"):
		rec := f.record(w, r)
		if rec.Code == http.StatusAccepted {
			f.mu.Lock()
			f.held[path.Base(rec.Header().Get("Location"))] = 0
			f.mu.Unlock()
		}
	case upload && r.Method == http.MethodPut:
		f.mu.Lock()
		f.puts++
		_, ok := f.held[id]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if rec := f.record(w, r); rec.Code == http.StatusCreated {
			f.mu.Lock()
			delete(f.held, id)
			f.mu.Unlock()
		}
	default:
		f.inner.ServeHTTP(w, r)
	}
}

func (f *fake) patch(w http.ResponseWriter, r *http.Request, id string) {
	var start, end int64
	fmt.Sscanf(r.Header.Get("Content-Range"), "%d-%d", &start, &end)
	f.mu.Lock()
	f.patchNo++
	cut, cutting := f.cuts[f.patchNo]
	f.patches = append(f.patches, patchLog{id, start, end})
	_, known := f.held[id]
	f.mu.Unlock()
	if !known {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if !cutting {
		cr := &countingReader{r: r.Body}
		r.Body = io.NopCloser(cr)
		rec := f.record(w, r)
		f.account(id, cr.n, rec)
		if f.forgetful {
			f.forget()
		}
		return
	}
	buf := make([]byte, cut)
	n, _ := io.ReadFull(r.Body, buf)
	r2 := r.Clone(r.Context())
	r2.Body, r2.ContentLength = io.NopCloser(bytes.NewReader(buf[:n])), int64(n)
	r2.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+int64(n)-1))
	rec := httptest.NewRecorder()
	f.inner.ServeHTTP(rec, r2)
	f.account(id, int64(n), rec)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // a reset, as a dropped link shows
	}
	conn.Close()
}

func (f *fake) account(id string, n int64, rec *httptest.ResponseRecorder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.received += n
	var end int64
	if _, err := fmt.Sscanf(rec.Header().Get("Range"), "0-%d", &end); err == nil && rec.Code == http.StatusAccepted {
		f.held[id] = end + 1
	}
}

// record serves r with the registry and copies its answer to w.
func (f *fake) record(w http.ResponseWriter, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.inner.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	return rec
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// testBlob is size pseudo-random bytes and their digest.
func testBlob(size int64, seed uint64) ([]byte, v1.Hash) {
	b := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b, digestOf(b)
}

func digestOf(b []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(b))}
}

// siteregistryNoRetry gives up at the first failure, as a process that dies does.
var siteregistryNoRetry = siteregistry.Policy{}

// has HEADs the blob in the registry behind the fake.
func (f *fake) has(t *testing.T, h v1.Hash) bool {
	t.Helper()
	rec := httptest.NewRecorder()
	f.inner.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/v2/factory/app/blobs/"+h.String(), nil))
	return rec.Code == http.StatusOK
}
