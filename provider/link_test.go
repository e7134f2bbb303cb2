package provider

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/internal/bundletest"
	"airgap-site/provider/blobupload"
	"airgap-site/provider/contract"
	"airgap-site/provider/internal/registrytest"
)

// linkFixture is an image with one large layer (two chunks) in a signed bundle, and a registry
// that counts the PATCH bytes it is sent: what crossed the link.
type linkFixture struct {
	reg     *registrytest.Registry
	bundle  string
	key     string
	layer   v1.Layer
	size    int64
	patched atomic.Int64
}

func newLinkFixture(t *testing.T) *linkFixture {
	t.Helper()
	f := &linkFixture{reg: registrytest.New(t)}
	var err error
	f.layer, err = random.Layer(blobupload.MinChunkSize*3/2, "application/vnd.oci.image.layer.v1.tar")
	if err != nil {
		t.Fatal(err)
	}
	f.size, _ = f.layer.Size()
	img, err := mutate.AppendLayers(emptyImage(t), f.layer)
	if err != nil {
		t.Fatal(err)
	}
	f.bundle = filepath.Join(t.TempDir(), "bundle")
	bundletest.Write(t, f.bundle, bundletest.Entry{Ref: "docker.io/library/big:1", Image: img})
	f.key = bundletest.Sign(t, f.bundle)
	return f
}

// counting is fault, after counting the PATCH body bytes that reach the registry.
func (f *linkFixture) counting(fault registrytest.Fault) registrytest.Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch {
			r.Body = &countedBody{r.Body, &f.patched}
		}
		return fault != nil && fault(w, r)
	}
}

type countedBody struct {
	r interface {
		Read([]byte) (int, error)
		Close() error
	}
	n *atomic.Int64
}

func (c *countedBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
func (c *countedBody) Close() error { return c.r.Close() }

func (f *linkFixture) inputs(sessions string, extra map[string]resource.PropertyValue) resource.PropertyMap {
	m := resource.PropertyMap{
		"bundle":         resource.NewStringProperty(f.bundle),
		"endpoints":      resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(f.reg.Host)}),
		"insecure":       resource.NewBoolProperty(true),
		"trustedKeys":    resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(f.key)}),
		"uploadSessions": resource.NewStringProperty(sessions),
		"sourceRef":      resource.NewStringProperty("docker.io/library/big:1"),
		"repository":     resource.NewStringProperty("docker.io/library/big"),
		"tag":            resource.NewStringProperty("1"),
	}
	for k, v := range extra {
		m[resource.PropertyKey(k)] = v
	}
	return m
}

func (f *linkFixture) create(t *testing.T, in resource.PropertyMap) (resource.PropertyMap, error) {
	t.Helper()
	resp, err := (&engine{New(nil)}).Create(t.Context(), &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: imageURN, Properties: props(t, in)})
	if err != nil {
		return nil, err
	}
	return unmarshal(resp.GetProperties())
}

// TestCutLinkResumes: the link drops in the middle of the large layer's first chunk; the same
// copy goes on from the offset the registry holds, so what crossed is the blob and the cut's
// part of a chunk, not the blob twice.
func TestCutLinkResumes(t *testing.T) {
	f := newLinkFixture(t)
	isPatch := func(r *http.Request) bool { return r.Method == http.MethodPatch }
	f.reg.SetFault(f.counting(registrytest.When(isPatch, registrytest.Times(1, f.reg.Cut(1<<20)))))
	state, err := f.create(t, f.inputs(t.TempDir(), map[string]resource.PropertyValue{"retryFor": resource.NewNumberProperty(30)}))
	if err != nil {
		t.Fatalf("a copy over a link cut once: %v", err)
	}
	// The registry kept the 1 MiB before the cut: the copy goes on from there, so the layer
	// crosses once (and the small config), not 1 MiB more.
	if got := f.patched.Load(); got > f.size+64<<10 || got < f.size {
		t.Errorf("%d bytes crossed for a %d-byte layer cut once: want the layer once", got, f.size)
	}
	if state["digest"].StringValue() == "" {
		t.Errorf("state %v", state)
	}
}

// TestFailedUpResumedByTheNext: an up that fails in the middle of the large layer (a cut with
// no retry budget) leaves its upload session beside the state; the next up, a new process,
// resumes it instead of starting the layer again.
func TestFailedUpResumedByTheNext(t *testing.T) {
	f := newLinkFixture(t)
	sessions := t.TempDir()
	isPatch := func(r *http.Request) bool { return r.Method == http.MethodPatch }
	// The first PATCH is cut after its 5 MiB reached the registry; every later one is cut
	// before a byte does: the link is down for longer than the retry budget of 1 s.
	in := f.inputs(sessions, map[string]resource.PropertyValue{"retryFor": resource.NewNumberProperty(1)})
	var cut atomic.Bool
	down := func(w http.ResponseWriter, r *http.Request) bool {
		if !cut.Load() {
			return false
		}
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return true
	}
	isChunk := func(r *http.Request) bool { return isPatch(r) && r.Header.Get("Content-Range") != "" }
	// The link goes down once the 5 MiB are held: set before, the config's upload would fail
	// at once and end the copy, cutting the layer's PATCH short of them.
	first := registrytest.Times(1, f.reg.CutThen(blobupload.MinChunkSize, func() { cut.Store(true) }))
	f.reg.SetFault(f.counting(registrytest.First(down, registrytest.When(isChunk, first))))
	if _, err := f.create(t, in); err == nil {
		t.Fatal("the up over a link that keeps dropping succeeded")
	}
	left, err := blobupload.NewSessions(sessions).List()
	if err != nil || len(left) != 1 {
		t.Fatalf("the failed up left sessions %+v (%v), want the large layer's", left, err)
	}
	before := f.patched.Load()
	f.reg.SetFault(f.counting(nil))
	if _, err := f.create(t, in); err != nil {
		t.Fatalf("the next up: %v", err)
	}
	// The registry held the first 5 MiB: the rest of the layer and the small config cross.
	if resent, rest := f.patched.Load()-before, f.size-blobupload.MinChunkSize; resent > rest+64<<10 {
		t.Errorf("the next up sent %d bytes; %d were left of the layer", resent, rest)
	}
	if after, _ := blobupload.NewSessions(sessions).List(); len(after) != 0 {
		t.Errorf("sessions left after the layer completed: %+v", after)
	}
}

// TestRateCap: images.maxBytesPerSecond paces what the copies send (every blob, large or
// small): the layer at 4 MiB/s takes about size/rate, not a fraction of a second.
func TestRateCap(t *testing.T) {
	f := newLinkFixture(t)
	f.reg.SetFault(f.counting(nil))
	rate := int64(4 << 20)
	start := time.Now()
	if _, err := f.create(t, f.inputs(t.TempDir(), map[string]resource.PropertyValue{"maxBytesPerSecond": resource.NewNumberProperty(float64(rate))})); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if want := time.Duration(float64(f.size) / float64(rate) * 0.9 * float64(time.Second)); took < want {
		t.Errorf("%d bytes at a cap of %d B/s took %s, under %s", f.size, rate, took, want)
	}
	if bad := f.inputs("", map[string]resource.PropertyValue{"maxBytesPerSecond": resource.NewNumberProperty(-1)}); true {
		_, err := f.create(t, bad)
		if err == nil || !strings.Contains(err.Error(), "maxBytesPerSecond") {
			t.Errorf("a negative cap: %v", err)
		}
	}
}

// TestProgressLine: bytes done, the rate since the last report and the time left at it.
func TestProgressLine(t *testing.T) {
	var got string
	p := progressLine(func(s string) { got = s })
	time.Sleep(200 * time.Millisecond)
	p(2e6, 10e6)
	if !strings.Contains(got, "2.0 MB of at most 10.0 MB sent") || !strings.Contains(got, "MB/s") || !strings.Contains(got, "left") {
		t.Errorf("progress line %q", got)
	}
	p(2e6, 10e6) // no progress since: no rate to tell
	if strings.Contains(got, "MB/s") {
		t.Errorf("a stalled copy shows a rate: %q", got)
	}
}
