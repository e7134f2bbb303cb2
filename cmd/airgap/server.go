package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/bundle"
)

var (
	// Only this form reaches the file system: no path can be smuggled in as a digest.
	digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	tagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// The first repository component may be the upstream registry: host[:port].
	hostRE      = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$`)
	componentRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)
)

// maxManifest bounds what is read into memory for a manifest (the distribution spec's
// suggested limit is 4 MiB).
const maxManifest = 4 << 20

// server serves a bundle read-only as an OCI distribution registry.
type server struct {
	b     *bundle.Bundle
	blobs string // blobs/sha256
	// manifests maps the digest of every manifest in the bundle, top-level entries and
	// children of indexes, to its media type: what manifests-by-digest may return.
	manifests map[string]types.MediaType
}

// NewServer serves b under the Talos mirror scheme: /v2/<upstream>/<path>/manifests/<tag>
// is the bundle's image <upstream>/<path>:<tag>; manifests by digest and blobs are found
// whatever the repository. GET and HEAD only. A manifest the bundle's indexes list but that
// cannot be read is not served (runServe checks the bundle before serving).
func NewServer(b *bundle.Bundle) http.Handler {
	m, _ := manifestTypes(b.Dir())
	return &server{b: b, blobs: filepath.Join(b.Dir(), "blobs", "sha256"), manifests: m}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

func (s *server) manifest(w http.ResponseWriter, r *http.Request, repo, ref string) {
	var h v1.Hash
	var mt types.MediaType
	switch {
	case strings.Contains(ref, ":"):
		if !digestRE.MatchString(ref) {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("invalid digest %q", ref))
			return
		}
		var ok bool
		if mt, ok = s.manifests[ref]; !ok {
			writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("manifest %s is not in the bundle", ref))
			return
		}
		h, _ = v1.NewHash(ref)
	case tagRE.MatchString(ref):
		d, err := s.b.Lookup(repo + ":" + ref)
		if errors.Is(err, bundle.ErrNotFound) {
			writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("%s:%s is not in the bundle", repo, ref))
			return
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "NAME_INVALID", err.Error())
			return
		}
		h, mt = d.Digest, d.MediaType
	default:
		writeError(w, http.StatusBadRequest, "TAG_INVALID", fmt.Sprintf("invalid tag %q", ref))
		return
	}
	raw, err := s.readManifest(h)
	if errors.Is(err, os.ErrNotExist) {
		writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("manifest %s is listed but not stored in the bundle", h))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	setContent(w, h, string(mt))
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(raw))
}

// readManifest reads a manifest blob and checks its digest: a corrupt bundle should fail
// here, loudly, rather than in containerd on a node.
func (s *server) readManifest(h v1.Hash) ([]byte, error) {
	f, err := os.Open(filepath.Join(s.blobs, h.Hex))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", h, err)
	}
	if len(raw) > maxManifest {
		return nil, fmt.Errorf("manifest %s is larger than %d bytes", h, maxManifest)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != h.Hex {
		return nil, fmt.Errorf("manifest %s is corrupt in the bundle", h)
	}
	return raw, nil
}

func (s *server) blob(w http.ResponseWriter, r *http.Request, ref string) {
	if !digestRE.MatchString(ref) {
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("invalid digest %q", ref))
		return
	}
	h, _ := v1.NewHash(ref)
	f, err := os.Open(filepath.Join(s.blobs, h.Hex))
	if errors.Is(err, os.ErrNotExist) {
		writeError(w, http.StatusNotFound, "BLOB_UNKNOWN", fmt.Sprintf("blob %s is not in the bundle", ref))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	defer f.Close()
	ct := "application/octet-stream"
	if mt, ok := s.manifests[ref]; ok {
		ct = string(mt)
	}
	setContent(w, h, ct)
	// ServeContent sets Content-Length, answers HEAD and Range (resumed pulls).
	http.ServeContent(w, r, "", time.Time{}, f)
}

func setContent(w http.ResponseWriter, h v1.Hash, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Docker-Content-Digest", h.String())
	w.Header().Set("Etag", `"`+h.String()+`"`)
}

// validRepo accepts <component>(/<component>)* where the first may be a registry host[:port].
func validRepo(repo string) bool {
	parts := strings.Split(repo, "/")
	for i, c := range parts {
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

// manifestTypes walks index.json and every index below it. It keeps going past unreadable
// manifests and returns the first such error.
func manifestTypes(dir string) (map[string]types.MediaType, error) {
	m := map[string]types.MediaType{}
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return m, fmt.Errorf("reading index.json of bundle %s: %w", dir, err)
	}
	var first error
	var walk func(raw []byte, where string)
	walk = func(raw []byte, where string) {
		im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			if first == nil {
				first = fmt.Errorf("parsing %s of bundle %s: %w", where, dir, err)
			}
			return
		}
		for _, d := range im.Manifests {
			key := d.Digest.String()
			if _, seen := m[key]; seen || !digestRE.MatchString(key) {
				continue
			}
			m[key] = d.MediaType
			if !d.MediaType.IsIndex() {
				continue
			}
			child, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Hex))
			if err != nil {
				if first == nil {
					first = fmt.Errorf("reading index %s of bundle %s: %w", key, dir, err)
				}
				continue
			}
			walk(child, "index "+key)
		}
	}
	walk(raw, "index.json")
	return m, first
}
