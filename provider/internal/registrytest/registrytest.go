// Package registrytest runs registries that fail the way a factory's do, for the provider's
// unit tests: go-containerregistry's in-memory registry behind an httptest server, with the
// delete semantics of distribution v3 (deleting a manifest by digest removes every tag that
// points at it; deleting by tag can be refused, as a registry without tag deletes does), and
// faults injected per request: statuses, outages for a while, hangs, cuts mid-body. Upload
// sessions answer a GET with the offset they hold, as distribution's do (uploads.go). Hung and
// Refused are endpoints that accept and never answer, or refuse connections.
package registrytest

import (
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
)

// Fault handles a request instead of the registry when it returns true.
type Fault func(w http.ResponseWriter, r *http.Request) bool

// Registry is an in-memory registry with distribution's delete semantics and injectable faults.
type Registry struct {
	// Host is host:port.
	Host string
	// Uploads and Mounts count blob upload sessions and mount requests; BodyBytes the request
	// body bytes the registry received (retried bodies included).
	Uploads, Mounts, BodyBytes atomic.Int64

	inner     http.Handler
	tagDelete bool
	mu        sync.Mutex
	fault     Fault
	sessions  sessions
	tls       bool
	srv       *httptest.Server
}

// Option configures a Registry.
type Option func(*Registry)

// RefuseTagDelete answers a delete by tag with 405 UNSUPPORTED, as registries that can only
// delete manifests by digest do.
func RefuseTagDelete(r *Registry) { r.tagDelete = false }

// New starts a registry, stopped at the end of the test.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r := &Registry{inner: registry.New(registry.Logger(log.New(io.Discard, "", 0))), tagDelete: true}
	for _, o := range opts {
		o(r)
	}
	if r.tls {
		r.srv = httptest.NewTLSServer(r)
	} else {
		r.srv = httptest.NewServer(r)
	}
	t.Cleanup(r.srv.Close)
	r.Host = r.srv.Listener.Addr().String()
	return r
}

// SetFault installs f (nil: none) for the requests that follow.
func (r *Registry) SetFault(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fault = f
}

// Ref parses a reference in this registry.
func (r *Registry) Ref(t testing.TB, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.Host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

var manifestPath = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)

func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Body != nil {
		req.Body = &counted{ReadCloser: req.Body, n: &r.BodyBytes}
	}
	r.mu.Lock()
	fault := r.fault
	r.mu.Unlock()
	if fault != nil && fault(w, req) {
		return
	}
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/blobs/uploads/") {
		if req.URL.Query().Get("mount") != "" {
			r.Mounts.Add(1)
		} else {
			r.Uploads.Add(1)
		}
	}
	r.serve(w, req)
}

// serve answers req as the registry does, without faults.
func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	if r.serveSession(w, req) {
		return
	}
	if m := manifestPath.FindStringSubmatch(req.URL.Path); m != nil && req.Method == http.MethodDelete {
		repo, ref := m[1], m[2]
		if !strings.Contains(ref, ":") && !r.tagDelete {
			writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
			return
		}
		if strings.Contains(ref, ":") {
			r.untagAll(repo, ref)
		}
	}
	r.inner.ServeHTTP(w, req)
}

// untagAll removes the tags of repo that point at digest, as distribution does when a manifest
// is deleted by digest (the in-memory registry would keep them).
func (r *Registry) untagAll(repo, digest string) {
	rec := r.call(http.MethodGet, "/v2/"+repo+"/tags/list")
	var list struct{ Tags []string }
	if json.Unmarshal(rec.Body.Bytes(), &list) != nil {
		return
	}
	for _, tag := range list.Tags {
		if r.call(http.MethodHead, "/v2/"+repo+"/manifests/"+tag).Header().Get("Docker-Content-Digest") == digest {
			r.call(http.MethodDelete, "/v2/"+repo+"/manifests/"+tag)
		}
	}
}

func (r *Registry) call(method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.inner.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

type counted struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Status answers every request with status, and the error code distribution gives it.
func Status(status int) Fault {
	code := map[int]string{
		http.StatusBadRequest: "DIGEST_INVALID", http.StatusUnauthorized: "UNAUTHORIZED",
		http.StatusForbidden: "DENIED", http.StatusNotFound: "NAME_UNKNOWN",
		http.StatusMethodNotAllowed: "UNSUPPORTED", http.StatusTooManyRequests: "TOOMANYREQUESTS",
		http.StatusServiceUnavailable: "UNAVAILABLE",
	}[status]
	if code == "" {
		code = "UNKNOWN"
	}
	return func(w http.ResponseWriter, r *http.Request) bool {
		writeError(w, status, code, http.StatusText(status))
		return true
	}
}

// Until applies f until t, then lets requests through: an outage that ends.
func Until(t time.Time, f Fault) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		return time.Now().Before(t) && f(w, r)
	}
}

// When applies f to the requests match accepts.
func When(match func(*http.Request) bool, f Fault) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		return match(r) && f(w, r)
	}
}

// Times applies f to the first n requests it sees (compose inside When to count only some).
func Times(n int, f Fault) Fault {
	var seen atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) bool {
		return seen.Add(1) <= int64(n) && f(w, r)
	}
}

// Drain reads the request body before f answers: the client has sent everything, and the
// answer is what fails.
func Drain(f Fault) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		io.Copy(io.Discard, r.Body)
		return f(w, r)
	}
}

// Hold reads the request body, reports the request on held, and answers nothing until the
// client goes away; then it reports on gone. Either channel may be nil.
func Hold(held, gone chan<- *http.Request) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		io.Copy(io.Discard, r.Body)
		if held != nil {
			held <- r
		}
		<-r.Context().Done()
		if gone != nil {
			gone <- r
		}
		return true
	}
}

// Method matches requests by method and path suffix ("" matches any path).
func Method(method, pathSuffix string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == method && strings.HasSuffix(r.URL.Path, pathSuffix)
	}
}

// Redirect answers 307 to the same URL: the client sends the request, body included, again.
func Redirect() Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, r.URL.String(), http.StatusTemporaryRedirect)
		return true
	}
}

// Hung returns an endpoint that accepts connections and never answers.
func Hung(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return l.Addr().String()
}

// Refused returns an endpoint where nothing listens: connections are refused.
func Refused(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Proxy forwards to host: another endpoint of the same registry, which faults can target
// separately.
func Proxy(t testing.TB, host string, fault Fault) string {
	t.Helper()
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: host})
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fault != nil && fault(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
