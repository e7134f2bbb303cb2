package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/bundle"
	"airgap-site/mirror"
)

var (
	tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// The first repository component is the upstream registry: a host, host_port as the
	// mirror scheme writes it, or the host:port containerd sends for some mirrors.
	hostRE      = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$`)
	componentRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)
)

// Option configures the handler.
type Option func(*handler)

// Logger logs one line per request to l: client, method, path, status, bytes, duration.
func Logger(l *log.Logger) Option {
	return func(h *handler) { h.log = l }
}

type handler struct {
	b   *bundle.Bundle
	log *log.Logger
	// manifests are the media types of the bundle's manifests, the Content-Type of a
	// manifest fetched as a blob.
	manifests map[v1.Hash]types.MediaType
}

// New serves b under the Talos mirror scheme: /v2/<upstream repository>/<path>/manifests/<tag>
// is the bundle's image mirror.Reference(<upstream repository>/<path>, <tag>), so
// /v2/registry.local_5443/factory/mes/manifests/7 is registry.local:5443/factory/mes:7.
// Manifests by digest and blobs are found whatever the repository. GET and HEAD only. What an
// index of the bundle lists but that cannot be read is not served; check b.Manifests first.
func New(b *bundle.Bundle, opts ...Option) http.Handler {
	h := &handler{b: b}
	h.manifests, _ = b.Manifests()
	for _, o := range opts {
		o(h)
	}
	if h.log == nil {
		return h
	}
	return logRequests(h, h.log)
}

func (s *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "read-only bundle")
		return
	}
	p := r.URL.Path
	if p == "/v2" || p == "/v2/" {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
		return
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) < 3 {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "not a registry API path")
		return
	}
	repo, kind, ref := strings.Join(parts[:len(parts)-2], "/"), parts[len(parts)-2], parts[len(parts)-1]
	if !validRepo(repo) {
		writeError(w, http.StatusBadRequest, "NAME_INVALID", fmt.Sprintf("invalid repository %q", repo))
		return
	}
	switch kind {
	case "manifests":
		s.manifest(w, r, repo, ref)
	case "blobs":
		s.blob(w, r, ref)
	default:
		writeError(w, http.StatusNotFound, "UNSUPPORTED", "only manifests and blobs are served")
	}
}

func (s *handler) manifest(w http.ResponseWriter, r *http.Request, repo, ref string) {
	var h v1.Hash
	var mt types.MediaType
	switch {
	case strings.Contains(ref, ":"):
		var err error
		if h, err = parseDigest(ref); err != nil {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("invalid digest %q", ref))
			return
		}
	case tagRE.MatchString(ref):
		orig, err := mirror.Reference(repo, ref)
		if err != nil {
			writeError(w, http.StatusBadRequest, "NAME_INVALID", err.Error())
			return
		}
		d, err := s.b.Lookup(orig)
		if errors.Is(err, bundle.ErrNotFound) {
			writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("%s is not in the bundle", orig))
			return
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "NAME_INVALID", err.Error())
			return
		}
		// The media type index.json records for the reference, which is what was pushed.
		h, mt = d.Digest, d.MediaType
	default:
		writeError(w, http.StatusBadRequest, "TAG_INVALID", fmt.Sprintf("invalid tag %q", ref))
		return
	}
	raw, stored, err := s.b.Manifest(h)
	switch {
	case errors.Is(err, bundle.ErrNotFound):
		writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("manifest %s is not in the bundle", h))
		return
	case errors.Is(err, fs.ErrNotExist):
		writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("manifest %s is listed but not stored in the bundle", h))
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	if mt == "" {
		mt = stored
	}
	setContent(w, h, string(mt))
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(raw))
}

func (s *handler) blob(w http.ResponseWriter, r *http.Request, ref string) {
	h, err := parseDigest(ref)
	if err != nil {
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("invalid digest %q", ref))
		return
	}
	f, err := s.b.Blob(h)
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, "BLOB_UNKNOWN", fmt.Sprintf("blob %s is not in the bundle", ref))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	defer f.Close()
	ct := "application/octet-stream"
	if mt, ok := s.manifests[h]; ok {
		ct = string(mt)
	}
	setContent(w, h, ct)
	// ServeContent sets Content-Length, answers HEAD and Range (resumed pulls).
	http.ServeContent(w, r, "", time.Time{}, f)
}

// parseDigest accepts the digests a bundle stores: sha256, lower-case hex.
func parseDigest(s string) (v1.Hash, error) {
	h, err := v1.NewHash(s)
	if err == nil && h.Algorithm != "sha256" {
		err = fmt.Errorf("unsupported digest algorithm %s", h.Algorithm)
	}
	return h, err
}

func setContent(w http.ResponseWriter, h v1.Hash, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Docker-Content-Digest", h.String())
	w.Header().Set("Etag", `"`+h.String()+`"`)
}

// validRepo accepts <component>(/<component>)* where the first may be a registry host[:port].
func validRepo(repo string) bool {
	for i, c := range strings.Split(repo, "/") {
		if !componentRE.MatchString(c) && (i > 0 || !hostRE.MatchString(c)) {
			return false
		}
	}
	return true
}

// regError is the OCI distribution error body.
type regError struct {
	Errors []regErrorItem `json:"errors"`
}

type regErrorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(regError{Errors: []regErrorItem{{Code: code, Message: msg}}})
}
