package registrytest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"sync/atomic"
)

// sessions are the upload sessions in flight and the bytes each holds. go-containerregistry's
// registry takes chunked PATCHes but cannot say how far an upload got; distribution answers a
// GET of the upload URL with 204, a Location and the Range it holds, which is how a client
// resumes after a cut.
type sessions struct {
	mu   sync.Mutex
	held map[string]int64 // session id -> bytes held
}

func (s *sessions) get(id string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.held[id]
	return n, ok
}

func (s *sessions) set(id string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = map[string]int64{}
	}
	s.held[id] = n
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, id)
}

// ServeTLS serves the registry over https, with httptest's certificate (TLSConfig trusts it).
func ServeTLS(r *Registry) { r.tls = true }

// TLSConfig is a client configuration that trusts the registry's certificate (ServeTLS); a
// fresh one each call, as each transport needs its own.
func (r *Registry) TLSConfig() *tls.Config {
	if t, ok := r.srv.Client().Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		return t.TLSClientConfig.Clone()
	}
	return nil
}

// Forget drops every upload session, as distribution's upload purging does: their URLs answer
// 404 from now on.
func (r *Registry) Forget() {
	r.sessions.mu.Lock()
	defer r.sessions.mu.Unlock()
	clear(r.sessions.held)
}

// Call is the registry's own answer to a request without a body, past every fault.
func (r *Registry) Call(method, path string) *httptest.ResponseRecorder { return r.call(method, path) }

// serveSession answers the requests of upload sessions: it tracks what each holds and
// answers a GET or HEAD of an upload URL. It reports whether it answered req.
func (r *Registry) serveSession(w http.ResponseWriter, req *http.Request) bool {
	dir, id := path.Split(req.URL.Path)
	session := strings.HasSuffix(dir, "/blobs/uploads/") && id != ""
	switch {
	case req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/blobs/uploads/"):
		if rec := r.record(w, req); rec.Code == http.StatusAccepted {
			r.sessions.set(path.Base(rec.Header().Get("Location")), 0)
		}
	case !session:
		return false
	case req.Method == http.MethodGet || req.Method == http.MethodHead:
		n, ok := r.sessions.get(id)
		if !ok {
			writeError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
			break
		}
		w.Header().Set("Location", req.URL.Path)
		w.Header().Set("Range", fmt.Sprintf("0-%d", max(n-1, 0)))
		w.WriteHeader(http.StatusNoContent)
	case req.Method == http.MethodPatch || req.Method == http.MethodPut:
		if _, ok := r.sessions.get(id); !ok {
			writeError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
			break
		}
		rec := r.record(w, req)
		var end int64
		switch {
		case rec.Code == http.StatusCreated:
			r.sessions.drop(id)
		case rec.Code == http.StatusAccepted:
			if _, err := fmt.Sscanf(rec.Header().Get("Range"), "0-%d", &end); err == nil {
				r.sessions.set(id, end+1)
			}
		}
	default:
		return false
	}
	return true
}

// record serves req with the in-memory registry and copies its answer to w.
func (r *Registry) record(w http.ResponseWriter, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.inner.ServeHTTP(rec, req)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	return rec
}

// Cut reads n bytes of a PATCH's body, lets the registry keep them (as distribution keeps what
// reached storage before the request ended), then resets the connection: a link that drops in
// the middle of a chunk. The upload URL then reports the offset held.
func (r *Registry) Cut(n int64) Fault { return r.CutThen(n, nil) }

// CutThen is Cut calling then (when not nil) once the registry holds the bytes, before the
// reset: where the link goes down for good at the cut, the test takes it down there, not
// before the bytes crossed (a fault set earlier would fail the copy's other requests, and their
// failure could end the cut request before its n bytes arrived).
func (r *Registry) CutThen(n int64, then func()) Fault {
	return func(w http.ResponseWriter, req *http.Request) bool {
		buf := make([]byte, n)
		k, _ := io.ReadFull(req.Body, buf)
		var start int64
		fmt.Sscanf(req.Header.Get("Content-Range"), "%d-", &start)
		part := req.Clone(req.Context())
		part.Body, part.ContentLength = io.NopCloser(bytes.NewReader(buf[:k])), int64(k)
		part.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+int64(k)-1))
		r.serve(httptest.NewRecorder(), part)
		if then != nil {
			then()
		}
		reset(w)
		return true
	}
}

// reset drops the request's connection with a TCP reset.
func reset(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	conn.Close()
}

// Sequence applies faults[i] to the i-th request it sees (a nil entry lets it through), then
// lets every request through: compose inside When to count only some ("cut the second PATCH").
func Sequence(faults ...Fault) Fault {
	var seen atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) bool {
		i := seen.Add(1) - 1
		return i < int64(len(faults)) && faults[i] != nil && faults[i](w, r)
	}
}

// First applies each fault in order until one answers.
func First(faults ...Fault) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		for _, f := range faults {
			if f != nil && f(w, r) {
				return true
			}
		}
		return false
	}
}
