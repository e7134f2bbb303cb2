//go:build e2e

package tests

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airgap-site/bundle"
	"airgap-site/internal/imagetest"
	"airgap-site/mirror"
)

// office is the office's side of an update: a vendor registry on loopback, the office's cosign
// key pair, and `airgap bundle` (full, or --against a stack) from an images file.
type office struct {
	vendor, keys, images string
}

func newOffice(t *testing.T, work string) *office {
	t.Helper()
	o := &office{vendor: fsRegistry(t), keys: cosignKeyPair(t, work, "office"), images: filepath.Join(work, "images.yaml")}
	return o
}

// push writes img to the vendor as ref (a path under the vendor registry).
func (o *office) push(t *testing.T, ref string, img v1.Image) string {
	t.Helper()
	full := o.vendor + "/" + ref
	if err := remote.Write(insecureRef(t, full), img); err != nil {
		t.Fatalf("pushing %s: %v", full, err)
	}
	return full
}

// bundle runs airgap bundle for refs into out, with extra flags (--against ...); it returns
// the command's output.
func (o *office) bundle(t *testing.T, out string, refs []string, extra ...string) string {
	t.Helper()
	if err := os.WriteFile(o.images, []byte("- "+strings.Join(refs, "\n- ")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"bundle", "--images", o.images, "--out", out, "--insecure-registry", o.vendor,
		"--sign-key", filepath.Join(o.keys, "cosign.key")}, extra...)
	cmd := exec.Command(e2e.airgap, args...)
	cmd.Dir = e2e.project
	// pulumi on PATH and the suite's backend, for --against's `pulumi stack export`.
	cmd.Env = append(e2e.pulumiEnv(), "COSIGN_PASSWORD=office-password")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("airgap bundle %s: %v\n%s", strings.Join(extra, " "), err, b)
	}
	return string(b)
}

// carry copies a bundle to where the stack reads it (the USB stick plugged in at the site).
func carry(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copying the bundle: %v\n%s", err, out)
	}
}

// blobBytes is the size of every blob file of a bundle.
func blobBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(filepath.Join(dir, "blobs"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// bundleDigests are the digests a bundle records, by reference.
func bundleDigests(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := bundle.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range b.Entries() {
		out[e.Reference] = e.Digest
	}
	return out
}

// TestDeltaBundle: a site converged from a full bundle (a 24 MB base shared by three app
// images) takes an update of one app (a new 4 MB layer) from `airgap bundle --against` the
// site's stack: the delta's blobs are at most 1.05x the new bytes, the up converges with every
// image at its bundle digest and sends only the new bytes, and a second up sends nothing. The
// same delta at a site that lost the base fails that image naming the blob and the fix, with
// nothing pushed and the registry unchanged.
func TestDeltaBundle(t *testing.T) {
	t.Parallel() // its own vendor, stacks, NodePorts and registries (see tests/doc.go)
	work := t.TempDir()
	o := newOffice(t, work)
	base := imagetest.Layer(t, 24<<20)
	var refs []string
	for i := range 3 {
		refs = append(refs, o.push(t, fmt.Sprintf("factory/app%d:1", i), imagetest.Image(t, "linux/amd64", base, imagetest.Layer(t, 1<<20))))
	}
	full := filepath.Join(work, "full")
	o.bundle(t, full, refs)

	site := func(name string) (*testStack, *registryCounter, string, string) {
		regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		s3Registry(t, regAddr, "/"+name)
		counter := newRegistryCounter(t, regAddr)
		stick := filepath.Join(work, name+"-bundle")
		carry(t, full, stick)
		st := newTestStack(t, name, stackOptions{upstreams: []string{"docker.io", o.vendor}, images: map[string]any{
			"bundle": stick, "trustedKeys": []string{filepath.Join(o.keys, "cosign.pub")}, "registry": counter.addr, "list": refs}})
		st.up(t)
		return st, counter, stick, regAddr
	}
	st, counter, stick, regAddr := site("delta")

	// The vendor's update: app0 with a new 4 MB layer on the same base, under the same tag.
	top := imagetest.Layer(t, 4<<20)
	updated := imagetest.Image(t, "linux/amd64", base, top)
	o.push(t, "factory/app0:1", updated)
	delta := filepath.Join(work, "delta")
	out := o.bundle(t, delta, refs, "--against", st.name, "--project", e2e.project)
	t.Logf("airgap bundle --against:\n%s", lastLines(out, 8))
	topSize, _ := top.Size()
	raw, _ := updated.RawConfigFile()
	manifest, _ := updated.RawManifest()
	newBytes := topSize + int64(len(raw)) + int64(len(manifest))
	if got := blobBytes(t, delta); float64(got) > 1.05*float64(newBytes) {
		t.Errorf("the delta carries %d bytes of blobs, the update's new bytes are %d (want at most 1.05x)", got, newBytes)
	}

	carry(t, delta, stick)
	before := counter.bytes.Load()
	st.up(t)
	sent := counter.bytes.Load() - before
	for ref, want := range bundleDigests(t, stick) {
		if got, err := registryDigest(regAddr, ref); err != nil || got.String() != want {
			t.Errorf("%s at the site: %v %v, want the delta's %s", ref, got, err, want)
		}
	}
	if sent > int64(1.05*float64(newBytes)) || sent < topSize {
		t.Errorf("the up with the delta sent %d bytes, the new bytes are %d", sent, newBytes)
	}
	before = counter.bytes.Load()
	st.up(t)
	if n := counter.bytes.Load() - before; n != 0 {
		t.Errorf("a second up sent %d bytes", n)
	}

	// Another site, converged from the same full bundle, that lost the base since (a blob
	// deleted from every repository): the delta fails app0 naming the base, pushes nothing.
	lost, lostCounter, lostStick, lostAddr := site("delta-lost")
	bd, _ := base.Digest()
	for _, ref := range refs {
		target, _ := mirror.TargetOf(ref)
		req, _ := http.NewRequest(http.MethodDelete, "http://"+lostAddr+"/v2/"+target.Repository+"/blobs/"+bd.String(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("deleting the base from %s: %v %v", target.Repository, resp, err)
		}
		resp.Body.Close()
	}
	oldDigest, _ := registryDigest(lostAddr, refs[0])
	carry(t, delta, lostStick)
	uploads := lostCounter.uploads.Load()
	out, err := lost.tryUp(t)
	if err == nil || !strings.Contains(out, bd.String()) || !strings.Contains(out, "bring a full bundle") {
		t.Errorf("the delta at a site without its base: %v\n%s", err, lastLines(out, 30))
	}
	if n := lostCounter.uploads.Load() - uploads; n != 0 {
		t.Errorf("%d blob uploads reached the site that lost the base", n)
	}
	if got, _ := registryDigest(lostAddr, refs[0]); got != oldDigest {
		t.Errorf("%s moved to %s at the site that lost the base (was %s)", refs[0], got, oldDigest)
	}
}

// wire counts what the laptop sends the site registry behind the link: every request body
// (blob chunks, manifests), and when the first and the last body byte arrived.
type wire struct {
	addr        string
	bytes       atomic.Int64
	mu          sync.Mutex
	first, last time.Time
}

func newWire(t *testing.T, backend string) *wire {
	t.Helper()
	w := &wire{}
	target, _ := url.Parse("http://" + backend)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{Proxy: nil}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = &wireBody{r: r.Body, w: w}
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	w.addr = strings.TrimPrefix(srv.URL, "http://")
	return w
}

// reset forgets what was counted.
func (w *wire) reset() {
	w.bytes.Store(0)
	w.mu.Lock()
	w.first, w.last = time.Time{}, time.Time{}
	w.mu.Unlock()
}

// rate is the bytes per second between the first and the last byte.
func (w *wire) rate() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return float64(w.bytes.Load()) / w.last.Sub(w.first).Seconds()
}

type wireBody struct {
	r io.ReadCloser
	w *wire
}

func (b *wireBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.w.bytes.Add(int64(n))
		now := time.Now()
		b.w.mu.Lock()
		if b.w.first.IsZero() {
			b.w.first = now
		}
		b.w.last = now
		b.w.mu.Unlock()
	}
	return n, err
}

func (b *wireBody) Close() error { return b.r.Close() }

// TestUpdateOverLink: updates sent from the office over the factory's link (Toxiproxy between
// the laptop and the site's push endpoint, with latency and a bandwidth limit): with
// images.maxBytesPerSecond the measured rate holds the cap within 10% and `airgap site preview`
// said beforehand, within 1%, how many bytes would cross; a link that drops every
// connection after 13 MiB (five cuts in the middle of a 70 MiB layer) still completes in the
// same up, digests verified, with the bytes that crossed at most 1.1x the update plus one chunk
// per cut.
func TestUpdateOverLink(t *testing.T) {
	t.Parallel() // its own link, stack, NodePorts and registry (see tests/doc.go)
	work := t.TempDir()
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s3Registry(t, regAddr, "/link-e2e")
	w := newWire(t, regAddr)
	tox := startToxiproxy(t)
	link := tox.proxy(t, "lte", w.addr)
	tox.toxic(t, "lte", map[string]any{"name": "latency", "type": "latency", "stream": "upstream", "toxicity": 1,
		"attributes": map[string]any{"latency": 20, "jitter": 5}})

	stick := filepath.Join(work, "site-bundle")
	// version writes a bundle of app:<tag> with one layer of its own, and carries it to the
	// site (each signed by the suite's office key, which the stack trusts).
	version := func(t *testing.T, tag string, layer int64) string {
		ref := "docker.io/library/app:" + tag
		dir := filepath.Join(work, "v"+tag)
		writeBundle(t, dir, map[string]v1.Image{ref: imagetest.Image(t, "linux/amd64", imagetest.Layer(t, layer))}, nil)
		carry(t, dir, stick)
		if err := os.WriteFile(stick+".pub", must(os.ReadFile(dir+".pub")), 0o644); err != nil {
			t.Fatal(err)
		}
		return ref
	}
	ref := version(t, "1", 1<<20)
	st := newTestStack(t, "link", stackOptions{images: map[string]any{
		"bundle": stick, "trustedKeys": []string{stick + ".pub"}, "registry": link, "list": []string{ref}}})
	st.up(t)

	t.Run("the rate cap holds on a faster link", func(t *testing.T) {
		const limit = 1_000_000 // bytes per second
		tox.toxic(t, "lte", map[string]any{"name": "bandwidth", "type": "bandwidth", "stream": "upstream", "toxicity": 1,
			"attributes": map[string]any{"rate": 4000}}) // KB/s: four times the cap
		defer tox.delete(t, "/proxies/lte/toxics/bandwidth")
		st.config(t, "images.maxBytesPerSecond", fmt.Sprint(limit))
		defer st.unset(t, "images.maxBytesPerSecond")
		st.config(t, "images.list[0]", version(t, "2", 12<<20))
		// What the office is told will cross, before anything is sent.
		_, said := bytesToSend(t, st.name)
		w.reset()
		st.up(t)
		if r := w.rate(); r > 1.1*limit || r < 0.9*limit {
			t.Errorf("%d bytes crossed at %.0f B/s, want the cap of %d B/s within 10%%", w.bytes.Load(), r, limit)
		}
		if crossed := w.bytes.Load(); float64(crossed) < 0.99*float64(said) || float64(crossed) > 1.01*float64(said) {
			t.Errorf("airgap site preview said %d bytes would cross, %d did (want within 1%%)", said, crossed)
		}
	})

	t.Run("a link that keeps dropping: the same up completes", func(t *testing.T) {
		const cutAfter = 13 << 20 // five cuts in the 70 MiB layer
		tox.toxic(t, "lte", map[string]any{"name": "cut", "type": "limit_data", "stream": "upstream", "toxicity": 1,
			"attributes": map[string]any{"bytes": cutAfter}})
		defer tox.delete(t, "/proxies/lte/toxics/cut")
		const size = 70 << 20
		ref := version(t, "3", size)
		st.config(t, "images.list[0]", ref)
		w.reset()
		st.up(t)
		want := bundleDigests(t, stick)[ref]
		if got, err := registryDigest(regAddr, ref); err != nil || got.String() != want {
			t.Errorf("%s at the site: %v %v, want %s", ref, got, err, want)
		}
		cuts := int64(size / cutAfter)
		if crossed, bound := w.bytes.Load(), int64(1.1*size)+cuts*(10<<20); crossed > bound {
			t.Errorf("%d bytes crossed for a %d-byte update cut %d times, want at most %d", crossed, size, cuts, bound)
		} else {
			t.Logf("%d bytes crossed for a %d-byte update through a link cut every %d bytes", crossed, size, cutAfter)
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
