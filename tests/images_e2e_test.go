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
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airgap-site/bundle"
	"airgap-site/components/registry"
	"airgap-site/internal/imagetest"
	"airgap-site/provider/contract"
	"airgap-site/signing"
)

// registryCounter is a reverse proxy in front of the real registry that counts what clients
// send: upload sessions, mounts and uploaded bytes. It is how the suite sees that a second
// up uploads nothing and that shared layers are mounted.
type registryCounter struct {
	addr                   string
	uploads, mounts, bytes atomic.Int64
	// throttle, when set, slows upload bodies to about this many bytes per second.
	throttle int64
}

func newRegistryCounter(t *testing.T, backend string) *registryCounter {
	t.Helper()
	return newThrottledCounter(t, backend, 0)
}

func newThrottledCounter(t *testing.T, backend string, bytesPerSecond int64) *registryCounter {
	t.Helper()
	c := &registryCounter{throttle: bytesPerSecond}
	target, _ := url.Parse("http://" + backend)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{Proxy: nil}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
			if r.URL.Query().Get("mount") != "" {
				c.mounts.Add(1)
			} else {
				c.uploads.Add(1)
			}
		}
		if (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			// Count what the client really sends: bodies may be streamed without a length.
			r.Body = &countingReader{r: r.Body, n: &c.bytes}
			if c.throttle > 0 {
				r.Body = &slowReader{r: r.Body, perSecond: c.throttle}
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.addr = strings.TrimPrefix(srv.URL, "http://")
	return c
}

func (c *registryCounter) snapshot() [3]int64 {
	return [3]int64{c.uploads.Load(), c.mounts.Load(), c.bytes.Load()}
}

// s3Registry runs the real registry with the rendered config on the test bed's S3 server,
// in a bucket prefix of its own.
func s3Registry(t *testing.T, addr, root string) (stop func(), configYAML string, env []string) {
	t.Helper()
	cfg, err := registry.Render(registry.Input{
		Storage:  registry.StorageInput{Endpoint: e2e.site.S3Endpoint, Region: e2e.site.S3Region, Bucket: e2e.site.Bucket, RootDirectory: root},
		LogLevel: "warn",
		// The image-sync tests exercise copies, not access: the writer, plain http.
		Role: registry.RolePush, PlainHTTP: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	y, _ := cfg.YAML()
	env = []string{
		registry.EnvAccessKey + "=" + e2e.site.AccessKey,
		registry.EnvSecretKey + "=" + e2e.site.SecretKey,
		registry.EnvHTTPSecret + "=e2e-http-secret",
		"OTEL_TRACES_EXPORTER=none",
	}
	return runRegistry(t, string(y), env, addr), string(y), env
}

// layeredImages returns images that share one base layer, as real bundles do.
func layeredImages(t *testing.T, n int, baseSize, topSize int64) []v1.Image {
	return imagetest.SharedBase(t, n, baseSize, topSize)
}

func writeBundle(t *testing.T, dir string, images map[string]v1.Image, indexes map[string]v1.ImageIndex) {
	t.Helper()
	w, err := bundle.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for ref, img := range images {
		if _, err := w.AddImage(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	for ref, idx := range indexes {
		if _, err := w.AddIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	signBundle(t, dir)
}

// officeKey is the suite's signing key, as an office's: bundles written by writeBundle are
// signed with it, and their stacks trust <bundle>.pub.
var officeKey = sync.OnceValues(func() (*signing.Signer, error) {
	s, _, err := signing.NewSigner()
	return s, err
})

// signBundle signs the bundle at dir with the office key and writes the key's public half to
// <dir>.pub, what the stack's images.trustedKeys names.
func signBundle(t *testing.T, dir string) {
	t.Helper()
	s, err := officeKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := bundle.Sign(dir, s); err != nil {
		t.Fatal(err)
	}
	pub, err := s.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+".pub", pub, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImages drives airgap:index:Image through the real engine against the real registry on
// the real S3 server: create, a no-op second up, one changed image, drift repaired after a
// refresh, and bad sources failing cleanly.
func TestImages(t *testing.T) {
	// Parallel: its own stack, namespace, ports and registry; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	stopRegistry, _, _ := s3Registry(t, regAddr, "/images-e2e")
	defer func() { stopRegistry() }()
	counter := newRegistryCounter(t, regAddr)

	bundleDir := filepath.Join(t.TempDir(), "bundle")
	imgs := layeredImages(t, 3, 4<<20, 1<<20)
	idx, err := random.Index(512<<10, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	refs := []string{"docker.io/library/alpha:1", "docker.io/library/beta:1", ecrHost + "/factory/gamma:3"}
	images := map[string]v1.Image{}
	for i, r := range refs {
		images[r] = imgs[i]
	}
	writeBundle(t, bundleDir, images, map[string]v1.ImageIndex{"ghcr.io/org/multi:2": idx})

	stack := "images"
	s.mustPulumi(t, "stack", "init", stack)
	list := `["docker.io/library/alpha:1","docker.io/library/beta:1","` + ecrHost + `/factory/gamma:3","ghcr.io/org/multi:2"]`
	writeStackConfig(t, stack, fmt.Sprintf(`config:
  airgap-site:nodes:
    - {name: node-1, ip: 127.0.0.11, role: controlplane}
  airgap-site:registry: {namespace: images-registry, nodePort: 32002, pushNodePort: 32003, replicas: 1, plainHTTP: true, image: %s}
  airgap-site:objectStore: {kind: external, endpoint: %q}
  airgap-site:talos:
    upstreams: [docker.io, ghcr.io, %s]
  airgap-site:images:
    bundle: %q
    trustedKeys: [%q]
    registry: %q
    list: %s
`, pinnedRegistryImage, s.site.S3Endpoint, ecrHost, bundleDir, bundleDir+".pub", counter.addr, list))
	setSecrets(t, stack, map[string]string{"s3AccessKey": s.site.AccessKey, "s3SecretKey": s.site.SecretKey})
	defer s.pulumi(t, "destroy", "-s", stack, "--yes", "--skip-preview")

	pullDigest := func(t *testing.T, repo, tag string) v1.Hash {
		t.Helper()
		d, err := registryDigest(regAddr, repo+":"+tag)
		if err != nil {
			t.Fatalf("%s/%s:%s: %v", regAddr, repo, tag, err)
		}
		return d
	}

	t.Run("create", func(t *testing.T) {
		s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview", "--policy-pack", s.policyPack)
		for r, img := range images {
			want, _ := img.Digest()
			repo, tag, _ := strings.Cut(r, ":")
			if strings.HasPrefix(r, ecrHost) {
				repo, tag = ecrHost+"/factory/gamma", "3"
			}
			if got := pullDigest(t, repo, tag); got != want {
				t.Errorf("%s: registry has %s, bundle %s", r, got, want)
			}
		}
		want, _ := idx.Digest()
		if got := pullDigest(t, "ghcr.io/org/multi", "2"); got != want {
			t.Errorf("index: registry has %s, bundle %s", got, want)
		}
		// The base layer is shared by three images in three repositories: uploaded once,
		// mounted into the others.
		if m := counter.mounts.Load(); m < 2 {
			t.Errorf("shared base layer mounted %d times, want 2", m)
		}
		outputs := s.outputs(t, stack)
		digests, _ := outputs["imageDigests"].(map[string]any)
		if len(digests) != 4 {
			t.Errorf("imageDigests = %v", outputs["imageDigests"])
		}
		t.Logf("first up: %d uploads, %d mounts, %.1f MB sent (imageBytesSent %v)",
			counter.uploads.Load(), counter.mounts.Load(), float64(counter.bytes.Load())/1e6, outputs["imageBytesSent"])
	})

	t.Run("second up uploads nothing", func(t *testing.T) {
		before := counter.snapshot()
		out := s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		if after := counter.snapshot(); after != before {
			t.Errorf("no-op up sent data: uploads/mounts/bytes %v -> %v\n%s", before, after, lastLines(out, 15))
		}
	})

	t.Run("one changed image updates only that image", func(t *testing.T) {
		changed := layeredImages(t, 1, 1<<20, 512<<10)[0]
		writeBundle(t, bundleDir, map[string]v1.Image{"docker.io/library/beta:1": changed}, nil)
		out, err := s.pulumi(t, "preview", "-s", stack, "--diff")
		// That image, and the AcceptedBundle recording the new bundle's sequence.
		if err != nil || !strings.Contains(out, "2 to update") || strings.Count(out, "airgap:index:Image: (update)") != 1 {
			t.Fatalf("preview after changing one image: %v\n%s", err, lastLines(out, 20))
		}
		before := counter.uploads.Load()
		s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		want, _ := changed.Digest()
		if got := pullDigest(t, "docker.io/library/beta", "1"); got != want {
			t.Errorf("beta:1 is %s, want %s", got, want)
		}
		// Its two layers and config are new; nothing else was uploaded.
		if n := counter.uploads.Load() - before; n != 3 {
			t.Errorf("%d blob uploads for one changed image, want 3", n)
		}
	})

	t.Run("deleted tag is drift, refresh shows it, up repairs it", func(t *testing.T) {
		digest := pullDigest(t, "docker.io/library/alpha", "1")
		ref, _ := name.ParseReference(regAddr+"/docker.io/library/alpha@"+digest.String(), name.Insecure)
		if err := remote.Delete(ref); err != nil {
			t.Fatalf("deleting alpha:1 in the registry: %v", err)
		}
		out := s.mustPulumi(t, "refresh", "-s", stack, "--yes", "--skip-preview")
		if !strings.Contains(out, "deleted") && !strings.Contains(out, "gone") {
			t.Errorf("refresh did not report the deleted tag:\n%s", lastLines(out, 20))
		}
		s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		if got := pullDigest(t, "docker.io/library/alpha", "1"); got != digest {
			t.Errorf("alpha:1 after repair is %s, want %s", got, digest)
		}
	})

	t.Run("unknown reference fails before anything is copied", func(t *testing.T) {
		before, _ := s.pulumi(t, "stack", "export", "-s", stack)
		s.mustPulumi(t, "config", "set", "-s", stack, "--path", "images.list[4]", "docker.io/library/missing:9")
		defer s.mustPulumi(t, "config", "rm", "-s", stack, "--path", "images.list[4]")
		out, err := s.pulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		if err == nil {
			t.Fatalf("up with an image missing from the bundle succeeded:\n%s", lastLines(out, 20))
		}
		if !strings.Contains(out, "docker.io/library/missing:9") || !strings.Contains(out, "not in bundle") {
			t.Errorf("error does not name the missing image:\n%s", lastLines(out, 20))
		}
		after, _ := s.pulumi(t, "stack", "export", "-s", stack)
		if token := strconv.Quote(contract.ImageToken); strings.Count(after, token) != strings.Count(before, token) {
			t.Errorf("state changed by a failed image")
		}
	})

	t.Run("corrupt blob fails that image clearly", func(t *testing.T) {
		bad := layeredImages(t, 1, 256<<10, 256<<10)[0]
		writeBundle(t, bundleDir, map[string]v1.Image{"docker.io/library/delta:1": bad}, nil)
		layers, _ := bad.Layers()
		d, _ := layers[1].Digest()
		blobPath := filepath.Join(bundleDir, "blobs", "sha256", d.Hex)
		good, err := os.ReadFile(blobPath)
		if err != nil {
			t.Fatal(err)
		}
		corrupt := append([]byte(nil), good...)
		corrupt[len(corrupt)/2] ^= 0xff
		if err := os.WriteFile(blobPath, corrupt, 0o644); err != nil {
			t.Fatal(err)
		}
		s.mustPulumi(t, "config", "set", "-s", stack, "--path", "images.list[4]", "docker.io/library/delta:1")
		out, err := s.pulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		if err == nil || !strings.Contains(out, "corrupt") {
			t.Fatalf("corrupt blob: err %v\n%s", err, lastLines(out, 20))
		}
		// Restored, the next up converges.
		if err := os.WriteFile(blobPath, good, 0o644); err != nil {
			t.Fatal(err)
		}
		s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
		want, _ := bad.Digest()
		if got := pullDigest(t, "docker.io/library/delta", "1"); got != want {
			t.Errorf("delta:1 is %s, want %s", got, want)
		}
	})
}

// writeStackConfig appends a config block to the stack file `stack init` wrote (nothing when
// block is empty).
func writeStackConfig(t *testing.T, stack, block string) {
	t.Helper()
	if block == "" {
		return
	}
	path := filepath.Join(e2e.project, "Pulumi."+stack+".yaml")
	head, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(head, []byte(block)...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func setSecrets(t *testing.T, stack string, kv map[string]string) {
	t.Helper()
	for k, v := range kv {
		e2e.mustPulumi(t, "config", "set", "-s", stack, "--secret", "airgap-site:"+k, v)
	}
}

// countingReader adds the bytes read through it to n.
type countingReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// slowReader paces a request body, so a test can act in the middle of an upload.
type slowReader struct {
	r         io.ReadCloser
	perSecond int64
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	n, err := s.r.Read(p)
	time.Sleep(time.Duration(int64(n) * int64(time.Second) / s.perSecond))
	return n, err
}

func (s *slowReader) Close() error { return s.r.Close() }

// TestImagesInterruptedCopy kills the registry in the middle of a large copy, restarts it and
// runs up again, several times: every run converges with verified digests, nothing corrupt.
func TestImagesInterruptedCopy(t *testing.T) {
	// Parallel: its own stack, namespace, ports and registry; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	stop, _, _ := s3Registry(t, regAddr, "/interrupt-e2e")
	counter := newThrottledCounter(t, regAddr, 8<<20)
	bundleDir := filepath.Join(t.TempDir(), "bundle")
	const ref = "docker.io/library/big:1"

	stack := "interrupt"
	s.mustPulumi(t, "stack", "init", stack)
	writeStackConfig(t, stack, fmt.Sprintf(`config:
  airgap-site:nodes:
    - {name: node-1, ip: 127.0.0.11, role: controlplane}
  airgap-site:registry: {namespace: interrupt-registry, nodePort: 32004, pushNodePort: 32005, replicas: 1, plainHTTP: true, image: %s}
  airgap-site:objectStore: {kind: external, endpoint: %q}
  airgap-site:images: {bundle: %q, trustedKeys: [%q], registry: %q, retrySeconds: 5, timeoutSeconds: 10, list: [%q]}
`, pinnedRegistryImage, s.site.S3Endpoint, bundleDir, bundleDir+".pub", counter.addr, ref))
	setSecrets(t, stack, map[string]string{"s3AccessKey": s.site.AccessKey, "s3SecretKey": s.site.SecretKey})
	defer func() { s.pulumi(t, "destroy", "-s", stack, "--yes", "--skip-preview") }()

	parent := t
	for round := 1; round <= 3; round++ {
		t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) {
			img := layeredImages(t, 1, 24<<20, 1<<20)[0]
			writeBundle(t, bundleDir, map[string]v1.Image{ref: img}, nil)
			start := counter.bytes.Load()

			cmd := s.pulumiCommand(s.project, "up", "-s", stack, "--yes", "--skip-preview")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			var err error
			deadline := time.After(3 * time.Minute)
		wait:
			for counter.bytes.Load()-start < 4<<20 {
				select {
				case err = <-exited:
					t.Fatalf("up ended (%v) after %.1f MB, before the registry could be killed mid-copy:\n%s",
						err, float64(counter.bytes.Load()-start)/1e6, lastLines(out.String(), 80))
				case <-deadline:
					break wait
				case <-time.After(50 * time.Millisecond):
				}
			}
			stop() // the registry dies mid-upload
			err = <-exited
			t.Logf("interrupted up after %.1f MB: err=%v", float64(counter.bytes.Load()-start)/1e6, err)
			if err == nil {
				t.Fatalf("up succeeded although the registry was killed mid-copy:\n%s", lastLines(out.String(), 15))
			}

			// Restarted for the rest of the test, not for this round only (the registry stops
			// with the test that started it).
			stop, _, _ = s3Registry(parent, regAddr, "/interrupt-e2e")
			s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview")
			r, _ := name.ParseReference(regAddr+"/docker.io/library/big:1", name.Insecure)
			got, err := remote.Image(r)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := img.Digest()
			if d, _ := got.Digest(); d != want {
				t.Fatalf("registry has %s, bundle %s", d, want)
			}
			layers, _ := got.Layers()
			for _, l := range layers {
				rc, err := l.Compressed() // verifies the digest as it reads
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					t.Errorf("layer corrupt after recovery: %v", err)
				}
				rc.Close()
			}
		})
	}
}
