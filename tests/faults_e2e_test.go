//go:build e2e

package tests

import (
	"airgap-site/provider/contract"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// faultProxy stands in front of the real registry on a node's endpoint and injects faults on
// demand: every request answered 500 for a while, or held without an answer (a hung
// registry).
type faultProxy struct {
	addr      string
	failUntil atomic.Int64 // unix nanoseconds
	// failFor, when set, starts an outage of that many nanoseconds at the next request: the
	// outage is met however long pulumi takes to get to its first request.
	failFor atomic.Int64
	hang    atomic.Bool
	// throttle, when set, slows upload bodies to about this many bytes per second.
	throttle atomic.Int64
	requests atomic.Int64
	failed   atomic.Int64
	uploads  atomic.Int64
	released chan struct{}
}

func newFaultProxy(t *testing.T, listen, backend string) *faultProxy {
	t.Helper()
	p := &faultProxy{addr: listen, released: make(chan struct{})}
	target, _ := url.Parse("http://" + backend)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{Proxy: nil}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if d := p.failFor.Swap(0); d > 0 {
			p.failUntil.Store(time.Now().Add(time.Duration(d)).UnixNano())
		}
		if p.hang.Load() {
			select { // accepted, never answered
			case <-r.Context().Done():
			case <-p.released:
			}
			return
		}
		if time.Now().UnixNano() < p.failUntil.Load() {
			p.failed.Add(1)
			http.Error(w, "injected fault", http.StatusInternalServerError)
			return
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
			p.uploads.Add(1)
		}
		if n := p.throttle.Load(); n > 0 && (r.Method == http.MethodPatch || r.Method == http.MethodPut) {
			r.Body = &slowReader{r: r.Body, perSecond: n}
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		close(p.released)
		_ = srv.Close()
	})
	return p
}

// TestImageFaults injects the faults of a factory into image sync against the real registry
// on an S3 server of its own, and checks that the next up (or the same one) converges with
// every digest verified and nothing already stored lost. docs/RELIABILITY.md lists the cases.
func TestImageFaults(t *testing.T) {
	// Parallel: the S3 server it stops is its own (see tests/doc.go).
	t.Parallel()
	store := privateS3(t)
	port := allocNodePorts() + 1           // the push NodePort, where the proxy listens
	down, up := "127.0.0.21", "127.0.0.22" // node-1 is down; node-2 serves the registry
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// The deployed storage health check (threshold 3) every 2 s instead of every 10 s: the
	// registry answers 503 within about 6 s of S3 going away, and 200 within 2 s of its return.
	s3RegistryOn(t, store, regAddr, "/faults-e2e", "REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL=2s")
	proxy := newFaultProxy(t, net.JoinHostPort(up, fmt.Sprint(port)), regAddr)

	bundleDir := t.TempDir() + "/bundle"
	imgs := layeredImages(t, 6, 2<<20, 512<<10)
	refs := []string{"docker.io/library/alpha:1", "docker.io/library/beta:1", "docker.io/library/gamma:1",
		"docker.io/library/delta:1", "docker.io/library/epsilon:1", "docker.io/library/zeta:1"}
	images := map[string]v1.Image{}
	for i, r := range refs {
		images[r] = imgs[i]
	}
	writeBundle(t, bundleDir, images, nil)

	// retrySeconds rides out the 500s below (5 s of them, met after about 7 s of backoff:
	// tries at 0, 1, 3 and 7 s) with a wide margin; timeoutSeconds only bounds a hung request.
	st := newTestStack(t, "faults", stackOptions{nodeIPs: []string{down, up}, nodePort: port - 1, s3Endpoint: store.S3Endpoint,
		images: map[string]any{"bundle": bundleDir, "trustedKeys": []string{bundleDir + ".pub"}, "retrySeconds": 45, "timeoutSeconds": 10,
			"list": []string{"docker.io/library/alpha:1", "docker.io/library/beta:1"}}})
	stack := st.name
	listed := []string{"docker.io/library/alpha:1", "docker.io/library/beta:1"}
	add := func(t *testing.T, ref string) {
		t.Helper()
		st.config(t, fmt.Sprintf("images.list[%d]", len(listed)), ref)
		listed = append(listed, ref)
	}
	verify := func(t *testing.T) {
		t.Helper()
		for _, r := range listed {
			want, _ := images[r].Digest()
			if got, err := registryDigest(regAddr, r); err != nil || got != want {
				t.Errorf("%s in the registry: %v %v, want %s", r, got, err, want)
			}
		}
	}

	t.Run("node 1 down: the push fails over", func(t *testing.T) {
		st.up(t)
		verify(t)
		for urn, ep := range imageOutputs(t, stack, "endpoint") {
			if ep != proxy.addr {
				t.Errorf("%s was pushed through %v, want %s (node-1 is down)", urn, ep, proxy.addr)
			}
		}
	})

	// The outage starts at the first request the up sends, so it is met whatever the up's
	// start-up takes; 5 s of 500s are three failed rounds of backoff before the fourth serves.
	const outage = 5 * time.Second
	t.Run("registry answering 500 for 5 s: the same up converges", func(t *testing.T) {
		add(t, "docker.io/library/gamma:1")
		proxy.failFor.Store(int64(outage))
		start := time.Now()
		out, err := st.tryUp(t)
		if err != nil {
			t.Fatalf("up during %s of 500s failed: %v\n%s", outage, err, lastLines(out, 25))
		}
		t.Logf("converged in %.0fs; %d requests answered 500", time.Since(start).Seconds(), proxy.failed.Load())
		if proxy.failed.Load() == 0 {
			t.Errorf("no request met the fault")
		}
		if ends := time.Unix(0, proxy.failUntil.Load()); time.Now().Before(ends) {
			t.Errorf("the up converged before the outage ended")
		}
		verify(t)
	})

	t.Run("a tag delete leaves its sibling tag", func(t *testing.T) {
		// nginx:stable beside nginx:1, same manifest: removing the image must untag 1 only.
		sibling, _ := name.ParseReference(regAddr+"/docker.io/library/alpha:stable", name.Insecure)
		if err := remote.Tag(sibling.Context().Tag("stable"), images["docker.io/library/alpha:1"], remote.WithTransport(http.DefaultTransport)); err != nil {
			t.Fatal(err)
		}
		st.unset(t, "images.list[0]")
		listed = listed[1:]
		st.up(t)
		if _, err := registryDigest(regAddr, "docker.io/library/alpha:1"); err == nil {
			t.Errorf("alpha:1 is still tagged after its resource was deleted")
		}
		want, _ := images["docker.io/library/alpha:1"].Digest()
		if got, err := registryDigest(regAddr, "docker.io/library/alpha:stable"); err != nil || got != want {
			t.Errorf("the sibling tag alpha:stable is gone: %v %v", got, err)
		}
		verify(t)
	})

	t.Run("push address changed: no image lost", func(t *testing.T) {
		st.config(t, "images.registry", proxy.addr)
		out, err := st.preview(t, "--json")
		if err != nil {
			t.Fatalf("preview: %v\n%s", err, lastLines(out, 30))
		}
		var plan struct {
			Steps []struct{ Op, URN string } `json:"steps"`
		}
		if err := json.Unmarshal([]byte(out), &plan); err != nil {
			t.Fatalf("preview --json: %v\n%s", err, lastLines(out, 30))
		}
		// The push address is the site provider's setting: the provider is updated in place,
		// no image changes at all (provider 0.5.0).
		var provider string
		for _, s := range plan.Steps {
			switch {
			case strings.Contains(s.URN, "pulumi:providers:airgap::"):
				provider = s.Op
			case strings.Contains(s.URN, contract.ImageToken+"::") && s.Op != "same":
				t.Errorf("a new push address would %s %s", s.Op, s.URN)
			}
		}
		if provider != "update" {
			t.Errorf("a new push address: the airgap provider's step is %q, want update: %+v", provider, plan.Steps)
		}
		st.up(t)
		verify(t)
	})

	// The faults below are not ridden out: the shortest retry budget makes the ups that must
	// fail fail soon after the fault; the ups that recover meet no fault.
	st.config(t, "images.retrySeconds", "5")

	t.Run("S3 stopped during up: a clear error, state intact, registry not Ready", func(t *testing.T) {
		before := imageOutputs(t, stack, "digest")
		add(t, "docker.io/library/delta:1")
		uploads := proxy.uploads.Load()
		// Slow uploads down so the storage can be taken away in the middle of the copy.
		proxy.throttle.Store(64 << 10)
		defer proxy.throttle.Store(0)
		type result struct {
			out string
			err error
		}
		done := make(chan result, 1)
		go func() {
			out, err := st.tryUp(t)
			done <- result{out, err}
		}()
		// Wait until the copy of delta:1 has begun, then take the storage away.
		waitFor(t, 2*time.Minute, func() bool { return proxy.uploads.Load() > uploads })
		if err := store.StopS3(); err != nil {
			t.Fatal(err)
		}
		proxy.throttle.Store(0)
		restarted := false
		defer func() {
			if !restarted {
				_ = store.StartS3(context.Background())
			}
		}()
		if !waitFor(t, time.Minute, func() bool { return v2Status(regAddr) == http.StatusServiceUnavailable }) {
			t.Errorf("the registry still answers /v2/ with %d while S3 is down; its readiness probe would pass", v2Status(regAddr))
		}
		r := <-done
		if r.err == nil {
			t.Fatalf("up succeeded with S3 down:\n%s", lastLines(r.out, 20))
		}
		if !strings.Contains(r.out, "docker.io/library/delta") {
			t.Errorf("the error does not name the image that failed:\n%s", lastLines(r.out, 25))
		}
		t.Logf("up failed as it should:\n%s", lastLines(r.out, 8))
		after := imageOutputs(t, stack, "digest")
		for urn, d := range before {
			if after[urn] != d {
				t.Errorf("state of %s changed from %v to %v by a failed up", urn, d, after[urn])
			}
		}
		if err := store.StartS3(context.Background()); err != nil {
			t.Fatal(err)
		}
		restarted = true
		waitFor(t, time.Minute, func() bool { return v2Status(regAddr) == http.StatusOK })
		st.up(t)
		verify(t)
	})

	t.Run("hung registry: up fails within its timeout", func(t *testing.T) {
		// A request that moves no byte for 5 s is hung: two tries (5 s each, 1 s apart) use
		// up the 5 s retry budget.
		st.config(t, "images.timeoutSeconds", "5")
		add(t, "docker.io/library/epsilon:1")
		proxy.hang.Store(true)
		start := time.Now()
		out, err := st.tryUp(t)
		took := time.Since(start)
		proxy.hang.Store(false)
		if err == nil {
			t.Fatalf("up succeeded against a registry that never answers:\n%s", lastLines(out, 20))
		}
		// retrySeconds 5 and timeoutSeconds 5: the up gives up well inside a minute.
		if took > time.Minute {
			t.Errorf("up took %s to fail against a hung registry", took)
		}
		if !strings.Contains(out, proxy.addr) {
			t.Errorf("the error does not name the endpoint that hung:\n%s", lastLines(out, 25))
		}
		t.Logf("failed after %.0fs:\n%s", took.Seconds(), lastLines(out, 8))
		st.config(t, "images.timeoutSeconds", "10")
		st.up(t)
		verify(t)
	})
}
