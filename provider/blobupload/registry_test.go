package blobupload

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/provider/internal/registrytest"
	"airgap-site/provider/siteregistry"
)

// testRegistry is registrytest's registry (chunked PATCHes, upload sessions that report their
// offset, cuts) that also logs the PATCHes and PUTs reaching it.
type testRegistry struct {
	*registrytest.Registry
	mu      sync.Mutex
	patches []patchLog
	puts    int
	// user and pass, when set, are Basic credentials every request needs.
	user, pass string
}

type patchLog struct {
	session string
	start   int64
}

func newRegistry(t *testing.T, opts ...registrytest.Option) *testRegistry {
	t.Helper()
	r := &testRegistry{Registry: registrytest.New(t, opts...)}
	r.faults()
	return r
}

// faults installs fs after the credentials check and the log.
func (r *testRegistry) faults(fs ...registrytest.Fault) {
	r.SetFault(registrytest.First(append([]registrytest.Fault{r.auth, r.watch}, fs...)...))
}

func (r *testRegistry) auth(w http.ResponseWriter, req *http.Request) bool {
	if u, p, ok := req.BasicAuth(); r.user == "" || ok && u == r.user && p == r.pass {
		return false
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
	w.WriteHeader(http.StatusUnauthorized)
	return true
}

func (r *testRegistry) watch(_ http.ResponseWriter, req *http.Request) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch req.Method {
	case http.MethodPatch:
		var start int64
		fmt.Sscanf(req.Header.Get("Content-Range"), "%d-", &start)
		r.patches = append(r.patches, patchLog{path.Base(req.URL.Path), start})
	case http.MethodPut:
		r.puts++
	}
	return false
}

func (r *testRegistry) log() (patches []patchLog, puts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]patchLog(nil), r.patches...), r.puts
}

// starts are the offsets the PATCHes so far started at, in order.
func (r *testRegistry) starts() []int64 {
	patches, _ := r.log()
	var out []int64
	for _, p := range patches {
		out = append(out, p.start)
	}
	return out
}

func (r *testRegistry) repo(t *testing.T) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(r.Host + "/factory/app")
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// options reach the registry with its certificate (ServeTLS), retrying fast.
func (r *testRegistry) options() Options {
	return Options{
		Transport: siteregistry.Transport(r.TLSConfig(), 10*time.Second),
		Retry:     siteregistry.Policy{For: 10 * time.Second, Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
	}
}

// has reports whether the registry serves the blob h.
func (r *testRegistry) has(h v1.Hash) bool {
	return r.Call(http.MethodHead, "/v2/factory/app/blobs/"+h.String()).Code == http.StatusOK
}

// cutPatches cuts PATCHes, counted from now: cuts[i] > 0 cuts the (i+1)-th after that many
// body bytes.
func (r *testRegistry) cutPatches(cuts ...int64) {
	seq := make([]registrytest.Fault, len(cuts))
	for i, n := range cuts {
		if n > 0 {
			seq[i] = r.Cut(n)
		}
	}
	r.faults(registrytest.When(registrytest.Method(http.MethodPatch, ""), registrytest.Sequence(seq...)))
}

// siteregistryNoRetry gives up at the first failure, as a process that dies does.
var siteregistryNoRetry = siteregistry.Policy{}

// testBlob is size pseudo-random bytes and their digest.
func testBlob(size int64, seed uint64) ([]byte, v1.Hash) {
	b := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b, digestOf(b)
}

func digestOf(b []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(b))}
}
