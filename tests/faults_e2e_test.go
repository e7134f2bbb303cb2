//go:build e2e

package tests

import (
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

	"airgap-site/mirror"
	"airgap-site/provider/contract"
)

// faultProxy stands in front of the real registry on a node's endpoint and injects faults on
// demand: every request answered 500 until a deadline, or held without an answer (a hung
// registry).
type faultProxy struct {
	addr      string
	failUntil atomic.Int64 // unix nanoseconds
	hang      atomic.Bool
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
// on the real S3 server, and checks that the next up (or the same one) converges with every
// digest verified and nothing already stored lost. docs/RELIABILITY.md lists the cases.
func TestImageFaults(t *testing.T) {
	s := &e2e
	const port = 32040
	down, up := "127.0.0.21", "127.0.0.22" // node-1 is down; node-2 serves the registry
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s3Registry(t, regAddr, "/faults-e2e")
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

	stack := "faults"
	s.mustPulumi(t, "stack", "init", stack)
	writeStackConfig(t, stack, fmt.Sprintf(`config:
  airgap-site:nodes:
    - {name: node-1, ip: %s, role: controlplane}
    - {name: node-2, ip: %s, role: worker}
  airgap-site:registry: {namespace: faults-registry, nodePort: %d, pushNodePort: %d, replicas: 1, plainHTTP: true, image: %s}
  airgap-site:objectStore: {kind: external, endpoint: %q}
  airgap-site:images:
    bundle: %q
    trustedKeys: [%q]
    retrySeconds: 45
    timeoutSeconds: 10
    list: [docker.io/library/alpha:1, docker.io/library/beta:1]
`, down, up, port+1, port, pinnedRegistryImage, s.site.S3Endpoint, bundleDir, bundleDir+".pub"))
	setSecrets(t, stack, map[string]string{"s3AccessKey": s.site.AccessKey, "s3SecretKey": s.site.SecretKey})
	defer s.pulumi(t, "destroy", "-s", stack, "--yes", "--skip-preview")
	listed := []string{"docker.io/library/alpha:1", "docker.io/library/beta:1"}
	add := func(t *testing.T, ref string) {
		t.Helper()
		s.mustPulumi(t, "config", "set", "-s", stack, "--path", fmt.Sprintf("images.list[%d]", len(listed)), ref)
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
		s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		verify(t)
		for urn, ep := range imageOutputs(t, stack, "endpoint") {
			if ep != proxy.addr {
				t.Errorf("%s was pushed through %v, want %s (node-1 is down)", urn, ep, proxy.addr)
			}
		}
	})

	t.Run("registry answering 500 for 30 s: the same up converges", func(t *testing.T) {
		add(t, "docker.io/library/gamma:1")
		proxy.failUntil.Store(time.Now().Add(30 * time.Second).UnixNano())
		start := time.Now()
		out, err := s.pulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		if err != nil {
			t.Fatalf("up during 30 s of 500s failed: %v\n%s", err, lastLines(out, 25))
		}
		t.Logf("converged in %.0fs; %d requests answered 500", time.Since(start).Seconds(), proxy.failed.Load())
		if proxy.failed.Load() == 0 {
			t.Errorf("no request met the fault")
		}
		verify(t)
	})

	t.Run("a tag delete leaves its sibling tag", func(t *testing.T) {
		// nginx:stable beside nginx:1, same manifest: removing the image must untag 1 only.
		sibling, _ := name.ParseReference(regAddr+"/docker.io/library/alpha:stable", name.Insecure)
		if err := remote.Tag(sibling.Context().Tag("stable"), images["docker.io/library/alpha:1"], remote.WithTransport(http.DefaultTransport)); err != nil {
			t.Fatal(err)
		}
		s.mustPulumi(t, "config", "rm", "-s", stack, "--path", "images.list[0]")
		listed = listed[1:]
		s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
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
		s.mustPulumi(t, "config", "set", "-s", stack, "--path", "images.registry", proxy.addr)
		out, err := s.pulumi(t, "preview", "-s", stack, "--diff")
		if err != nil || strings.Contains(out, "replace") {
			t.Fatalf("a new push address must update in place, not replace: %v\n%s", err, lastLines(out, 30))
		}
		s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		verify(t)
	})

	// The faults below are not ridden out: a shorter retry budget makes the ups that must fail
	// fail sooner (the 500s above needed more than their 30 s).
	s.mustPulumi(t, "config", "set", "-s", stack, "--path", "images.retrySeconds", "15")

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
			out, err := s.pulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
			done <- result{out, err}
		}()
		// Wait until the copy of delta:1 has begun, then take the storage away.
		waitFor(t, 2*time.Minute, func() bool { return proxy.uploads.Load() > uploads })
		if err := s.site.StopS3(); err != nil {
			t.Fatal(err)
		}
		proxy.throttle.Store(0)
		restarted := false
		defer func() {
			if !restarted {
				_ = s.site.StartS3(context.Background())
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
		if err := s.site.StartS3(context.Background()); err != nil {
			t.Fatal(err)
		}
		restarted = true
		waitFor(t, time.Minute, func() bool { return v2Status(regAddr) == http.StatusOK })
		s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		verify(t)
	})

	t.Run("hung registry: up fails within its timeout", func(t *testing.T) {
		add(t, "docker.io/library/epsilon:1")
		proxy.hang.Store(true)
		start := time.Now()
		out, err := s.pulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		took := time.Since(start)
		proxy.hang.Store(false)
		if err == nil {
			t.Fatalf("up succeeded against a registry that never answers:\n%s", lastLines(out, 20))
		}
		// retrySeconds 15 and timeoutSeconds 10: the up gives up well inside two minutes.
		if took > 2*time.Minute {
			t.Errorf("up took %s to fail against a hung registry", took)
		}
		if !strings.Contains(out, proxy.addr) {
			t.Errorf("the error does not name the endpoint that hung:\n%s", lastLines(out, 25))
		}
		t.Logf("failed after %.0fs:\n%s", took.Seconds(), lastLines(out, 8))
		s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		verify(t)
	})
}

// registryDigest is the digest an original reference has in the site registry at addr.
func registryDigest(addr, ref string) (v1.Hash, error) {
	target, err := mirror.TargetOf(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	r, err := name.ParseReference(addr+"/"+target.Repository+":"+target.Tag, name.Insecure)
	if err != nil {
		return v1.Hash{}, err
	}
	desc, err := remote.Head(r)
	if err != nil {
		return v1.Hash{}, err
	}
	return desc.Digest, nil
}

func v2Status(addr string) int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/v2/")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// imageOutputs maps each Image resource of a stack to one of its outputs, from the state.
func imageOutputs(t *testing.T, stack, output string) map[string]any {
	t.Helper()
	var state struct {
		Deployment struct {
			Resources []struct {
				URN     string         `json:"urn"`
				Type    string         `json:"type"`
				Outputs map[string]any `json:"outputs"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	out := e2e.mustPulumi(t, "stack", "export", "-s", stack)
	if err := json.Unmarshal([]byte(out), &state); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	for _, r := range state.Deployment.Resources {
		if r.Type == contract.ImageToken {
			m[r.URN] = r.Outputs[output]
		}
	}
	if len(m) == 0 {
		t.Fatalf("no %s resource in the state of %s", contract.ImageToken, stack)
	}
	return m
}
