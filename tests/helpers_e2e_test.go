//go:build e2e

// The helpers the e2e tests share: the pulumi runners and projects, the cluster, registries
// run by hand and the counters in front of them, bundles and keys, and the test stack fixture
// (newTestStack) with the relay and the private S3 server that some tests take away.

package tests

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"airgap-site/bundle"
	"airgap-site/components/registry"
	"airgap-site/internal/imagetest"
	"airgap-site/mirror"
	"airgap-site/provider/contract"
	"airgap-site/signing"
	"airgap-site/tests/harness"
)

// makeProject writes a project that runs the program in mainDir (Pulumi.yaml `main`) with
// stack files of its own, starting from the dev stack, so the suite never writes into the
// repository. It returns dir. A program the suite built (e2e.programs) runs through its
// launcher (main is the launcher's directory; the program still runs in mainDir); any other
// (an old release's) is built by the language host on each run, as a user's checkout is.
func makeProject(repo, mainDir, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(repo, "Pulumi.yaml"))
	if err != nil {
		return "", err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "stackConfigDir:") {
			continue
		}
		out = append(out, line)
		if strings.HasPrefix(line, "runtime:") {
			out = append(out, "main: "+cmp.Or(e2e.programs[mainDir], mainDir))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte(strings.Join(out, "\n")), 0o644); err != nil {
		return "", err
	}
	dev, err := os.ReadFile(filepath.Join(repo, "stacks", "Pulumi.dev.yaml"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.dev.yaml"), dev, 0o644); err != nil {
		return "", err
	}
	kwok, err := kwokStack(dev)
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "Pulumi.kwok.yaml"), kwok, 0o644)
}

// stackProject makes a project of the test's own (makeProject, running the program in
// mainDir) whose stack file Pulumi.<stack>.yaml is a copy of the suite's Pulumi.<from>.yaml
// (dev: the dev stack; kwok: the dev stack on the kwok nodes), and returns its directory.
func stackProject(t testing.TB, mainDir, stack, from string) string {
	t.Helper()
	project, err := makeProject(e2e.repo, mainDir, filepath.Join(t.TempDir(), stack))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(project, "Pulumi."+from+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "Pulumi."+stack+".yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return project
}

// Workload images of stacks without a bundle to pin them, by digest as the stack requires.
// Their pods run on kwok nodes, which pull nothing.
const (
	pinnedRegistryImage = "docker.io/library/registry:3.1.2@sha256:5c6f2a8a0d6c3f8e1b5f4c3a2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e"
	pinnedMinioImage    = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z@sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

// kwokStack is the dev stack moved onto the kwok nodes: loopback node addresses (so tests can
// run registries by hand on them), the test bed's S3 on loopback, no placement on the real
// node and no images. Its secrets stay as the dev stack encrypted them. Tests that only need
// a site the API server accepts use it; TestRealNode uses the dev stack itself.
func kwokStack(dev []byte) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(dev, &doc); err != nil {
		return nil, fmt.Errorf("parsing the dev stack: %w", err)
	}
	cfg, _ := doc["config"].(map[string]any)
	if cfg == nil {
		return nil, fmt.Errorf("the dev stack has no config")
	}
	cfg["airgap-site:nodes"] = []any{
		map[string]any{"name": "node-1", "ip": "127.0.0.11", "role": "controlplane"},
		map[string]any{"name": "node-2", "ip": "127.0.0.12", "role": "worker"},
		map[string]any{"name": "node-3", "ip": "127.0.0.13", "role": "worker"},
	}
	if store, ok := cfg["airgap-site:objectStore"].(map[string]any); ok && e2e.site != nil {
		store["endpoint"] = e2e.site.S3Endpoint
	}
	if reg, ok := cfg["airgap-site:registry"].(map[string]any); ok {
		delete(reg, "nodeSelector")
		delete(reg, "tolerations")
		// No bundle pins it: the kwok pods are fakes, any digest names the image.
		reg["image"] = pinnedRegistryImage
	}
	delete(cfg, "airgap-site:images")
	delete(cfg, "airgap-site:bootstrap")
	return yaml.Marshal(doc)
}

// pulumi runs the real CLI in the temp project and returns its combined output.
func (s *suite) pulumi(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return s.pulumiIn(t, s.project, args...)
}

// pulumiIn runs the real CLI in a project directory.
func (s *suite) pulumiIn(t testing.TB, project string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := s.pulumiCommand(project, args...)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	cmd.Dir, cmd.Env = project, s.pulumiEnv()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("pulumi %s (%.1fs)", strings.Join(args, " "), time.Since(start).Seconds())
	return string(out), err
}

// pulumiCommand is the pulumi command for a project, not yet started.
func (s *suite) pulumiCommand(project string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, "pulumi"), append(args, "--non-interactive")...)
	cmd.Dir, cmd.Env = project, s.pulumiEnv()
	return cmd
}

func (s *suite) pulumiEnv() []string {
	return append(os.Environ(),
		"PATH="+s.bin+":"+os.Getenv("PATH"),
		"PULUMI_HOME="+pulumiHome(),
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_BACKEND_URL=file://"+s.backend,
		"PULUMI_CONFIG_PASSPHRASE=airgap-dev",
		// The suite's stacks are copies of the dev stack: the program lets the dev
		// passphrase unlock them only on the test bed (components/site.CheckPassphrase).
		"AIRGAP_TEST_BED=1",
		"KUBECONFIG="+s.site.Kubeconfig,
	)
}

// mustPulumi is pulumi that fails the test on a non-zero exit, showing the output.
func (s *suite) mustPulumi(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.pulumi(t, args...)
	if err != nil {
		t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// outputs returns the stack outputs.
func (s *suite) outputs(t testing.TB, stack string) map[string]any {
	t.Helper()
	return s.outputsWith(t, stack)
}

// secretOutputs are the stack's outputs with secrets decrypted (--show-secrets).
func (s *suite) secretOutputs(t *testing.T, stack string) map[string]any {
	t.Helper()
	return s.outputsWith(t, stack, "--show-secrets")
}

func (s *suite) outputsWith(t testing.TB, stack string, flags ...string) map[string]any {
	t.Helper()
	var m map[string]any
	out := s.mustPulumi(t, append([]string{"stack", "output", "-s", stack, "--json"}, flags...)...)
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("stack outputs: %v\n%s", err, out)
	}
	return m
}

func clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := e2e.site.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// mountedConfig returns the config.yml of the ConfigMap the Deployment mounts.
func mountedConfig(t *testing.T, cs *kubernetes.Clientset, dep *appsv1.Deployment) string {
	t.Helper()
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cm, err := cs.CoreV1().ConfigMaps(dep.Namespace).Get(context.Background(), v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data["config.yml"]
	}
	t.Fatal("deployment mounts no ConfigMap")
	return ""
}

// secretEnv resolves the container's secretKeyRef environment the way the kubelet would.
func secretEnv(t *testing.T, cs *kubernetes.Clientset, dep *appsv1.Deployment) []string {
	t.Helper()
	var env []string
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			env = append(env, e.Name+"="+e.Value)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		sec, err := cs.CoreV1().Secrets(dep.Namespace).Get(context.Background(), ref.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, e.Name+"="+string(sec.Data[ref.Key]))
	}
	return env
}

// startRegistry runs the real registry binary with config.yml exactly as deployed, listening
// on a loopback port instead of the pod's :5000.
func startRegistry(t *testing.T, configYAML string, env []string) string {
	t.Helper()
	return startRegistryAt(t, configYAML, env, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
}

// startRegistryOnNode is startRegistry on a free port of the first kwok node's address, which
// the stack's serving certificate names.
func startRegistryOnNode(t *testing.T, configYAML string, env []string) string {
	t.Helper()
	return startRegistryAt(t, configYAML, env, fmt.Sprintf("127.0.0.11:%d", freePort(t)))
}

// startRegistryAt is startRegistry on a given address (a node's NodePort in the mirror tests).
func startRegistryAt(t *testing.T, configYAML string, env []string, addr string) string {
	t.Helper()
	runRegistry(t, configYAML, env, addr)
	return addr
}

// runRegistry starts the real registry binary with config.yml exactly as deployed, listening
// on addr instead of the pod's :5000 (and its debug listener on a free loopback port instead
// of :5001), waits until the health endpoint kubelet probes answers 200, and returns its stop
// function (safe to call twice). It is stopped when the test ends in any case.
func runRegistry(t testing.TB, configYAML string, env []string, addr string) (stop func()) {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(configYAML), &doc); err != nil {
		t.Fatalf("config.yml does not parse: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(e2e.bin, "registry"), "serve", path)
	debugAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd.Env = append(cleanEnv(), append(env, "REGISTRY_HTTP_ADDR="+addr, "REGISTRY_HTTP_DEBUG_ADDR="+debugAddr)...)
	logPath := filepath.Join(dir, "registry.log")
	logFile, _ := os.Create(logPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Dies with the test binary, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logFile.Close() }) }
	// Stopped when the test ends, failed or not; callers may stop it earlier (a fault).
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + debugAddr + registry.HealthPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop
			}
		}
		if time.Now().After(deadline) {
			stop()
			b, _ := os.ReadFile(logPath)
			t.Fatalf("registry not ready on %s: %v\n%s", addr, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pushRandom(t *testing.T, ref string, opts ...remote.Option) v1.Image {
	t.Helper()
	img, err := random.Image(6<<20, 3) // > one S3 multipart chunk per layer
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return img
}

func assertPullable(t *testing.T, ref string, img v1.Image, opts ...remote.Option) {
	t.Helper()
	r, _ := name.ParseReference(ref, name.Insecure)
	got, err := remote.Image(r, opts...)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	want, _ := img.Digest()
	gotDigest, _ := got.Digest()
	if want != gotDigest {
		t.Errorf("digest pulled %s, pushed %s", gotDigest, want)
	}
	layers, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil { // verifies the digest while reading
			t.Errorf("reading layer: %v", err)
		}
		rc.Close()
	}
}

// assertBlobServedDirectly GETs a layer blob without following redirects: containerd would
// silently follow one, so the status and Location header are checked at the HTTP level.
func assertBlobServedDirectly(t *testing.T, c siteClient, registry, repo string, img v1.Image, wantStatus int) {
	t.Helper()
	layers, _ := img.Layers()
	digest, _ := layers[0].Digest()
	client := &http.Client{Transport: c.transport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s://%s/v2/%s/blobs/%s", c.scheme(), registry, repo, digest), nil)
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		t.Fatalf("blob GET: %s, want %d (Location %q)", resp.Status, wantStatus, resp.Header.Get("Location"))
	}
	loc := resp.Header.Get("Location")
	if wantStatus == http.StatusOK {
		if loc != "" {
			t.Errorf("blob GET 200 carries Location %q", loc)
		}
		h := sha256.New()
		if _, err := io.Copy(h, resp.Body); err != nil {
			t.Fatal(err)
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest.String() {
			t.Errorf("blob body digest %s, want %s", got, digest)
		}
	} else if !strings.Contains(loc, "X-Amz-Signature") {
		t.Errorf("redirect Location %q is not a presigned S3 URL", loc)
	}
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") && !strings.HasPrefix(strings.ToUpper(kv), "HTTP") {
			env = append(env, kv)
		}
	}
	return env
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// registryCounter is a reverse proxy in front of the real registry that counts what clients
// send: upload sessions, mounts and uploaded bytes. It is how the suite sees that a second
// up uploads nothing and that shared layers are mounted.
type registryCounter struct {
	addr                   string
	uploads, mounts, bytes atomic.Int64
	// throttle, when set, slows upload bodies to about this many bytes per second.
	throttle int64
}

func newRegistryCounter(t testing.TB, backend string) *registryCounter {
	t.Helper()
	return newThrottledCounter(t, backend, 0)
}

func newThrottledCounter(t testing.TB, backend string, bytesPerSecond int64) *registryCounter {
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
func s3Registry(t testing.TB, addr, root string) (stop func(), configYAML string, env []string) {
	t.Helper()
	return s3RegistryOn(t, e2e.site, addr, root)
}

// s3RegistryOn is s3Registry on the S3 server of store (the site's, or a test's own), with
// extraEnv added to its environment (configuration overrides, REGISTRY_...).
func s3RegistryOn(t testing.TB, store *harness.Site, addr, root string, extraEnv ...string) (stop func(), configYAML string, env []string) {
	t.Helper()
	cfg, err := registry.Render(registry.Input{
		Storage:  registry.StorageInput{Endpoint: store.S3Endpoint, Region: store.S3Region, Bucket: store.Bucket, RootDirectory: root},
		LogLevel: "warn",
		// The image-sync tests exercise copies, not access: the writer, plain http.
		Role: registry.RolePush, PlainHTTP: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	y, _ := cfg.YAML()
	env = []string{
		registry.EnvAccessKey + "=" + store.AccessKey,
		registry.EnvSecretKey + "=" + store.SecretKey,
		registry.EnvHTTPSecret + "=e2e-http-secret",
		"OTEL_TRACES_EXPORTER=none",
	}
	env = append(env, extraEnv...)
	return runRegistry(t, string(y), env, addr), string(y), env
}

// layeredImages returns images that share one base layer, as real bundles do.
func layeredImages(t testing.TB, n int, baseSize, topSize int64) []v1.Image {
	return imagetest.SharedBase(t, n, baseSize, topSize)
}

func writeBundle(t testing.TB, dir string, images map[string]v1.Image, indexes map[string]v1.ImageIndex) {
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
func signBundle(t testing.TB, dir string) {
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

// writeStackConfig appends a config block to the stack file `stack init` wrote (nothing when
// block is empty).
func writeStackConfig(t testing.TB, stack, block string) {
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

func setSecrets(t testing.TB, stack string, kv map[string]string) {
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

// cosignCLI runs the real cosign CLI (built by make setup) offline in dir.
func cosignCLI(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(e2e.bin, "cosign"), args...)
	cmd.Dir = dir
	// The trust root cosign would fetch (and write under ~/.sigstore) stays in the test's
	// directory; --insecure-ignore-tlog means it is not used.
	cmd.Env = append(cleanEnv(), append(env, "TUF_ROOT="+filepath.Join(t.TempDir(), "tuf"))...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// cosignKeyPair makes a key pair with the real cosign CLI (generate-key-pair, the password
// <who>-password) in parent/<who> and returns that directory (cosign.key, cosign.pub).
func cosignKeyPair(t *testing.T, parent, who string) string {
	t.Helper()
	dir := filepath.Join(parent, who)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cosignCLI(t, dir, []string{"COSIGN_PASSWORD=" + who + "-password"}, "generate-key-pair")
	return dir
}

// fsRegistry runs the real registry binary on a filesystem root: a vendor's registry, as the
// office pulls from it.
func fsRegistry(t *testing.T) string {
	t.Helper()
	config := fmt.Sprintf("version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %q}, delete: {enabled: true}}\nhttp: {addr: ':5000'}\n", t.TempDir())
	return startRegistry(t, config, []string{"OTEL_TRACES_EXPORTER=none"})
}

func digestOf(b []byte) string {
	h, _, _ := v1.SHA256(strings.NewReader(string(b)))
	return h.String()
}

// sealed replaces every secret of an exported state value by a marker: the same value
// encrypted again has another ciphertext.
func sealed(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if _, secret := v["4dabf18193072939515e22adb298388d"]; secret {
			return "[secret]"
		}
		out := map[string]any{}
		for k, e := range v {
			out[k] = sealed(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = sealed(e)
		}
		return out
	}
	return v
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

func insecureRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFor polls cond every 200 ms until it holds or the timeout passes (the conditions are
// cheap: a counter, a local HTTP GET, a pod list).
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testStack is a stack of the suite on the shared site, made by newTestStack: a registry of
// its own (namespace <name>-registry, two NodePorts no other stack has), the test bed's S3 as
// its external object store, with that store's keys as secrets.
type testStack struct {
	name string
	// nodePort is the pull endpoint's NodePort; pushNodePort the push endpoint's.
	nodePort, pushNodePort int
	destroyed              bool
}

// stackOptions are what a test stack has of its own.
type stackOptions struct {
	// nodeIPs are the nodes' addresses, the first the control plane; default 127.0.0.11.
	nodeIPs []string
	// tls serves the registry over TLS with generated credentials; default plain http, as
	// the image tests' registries run.
	tls bool
	// nodePort, when set, is the pull NodePort (push: nodePort+1) instead of two allocated ones.
	nodePort int
	// s3Endpoint is the object store; default the site's S3 server.
	s3Endpoint string
	// upstreams, when set, is talos.upstreams.
	upstreams []string
	// images is airgap-site:images (bundle, trustedKeys, registry, list, ...).
	images map[string]any
}

// stackNodePorts counts the NodePorts handed out to the suite's test stacks, two at a time
// from 32100: tests that run together never ask the API server for the same port. The range
// is above the ports tests name themselves (32000-32099: the dev stack, the kwok, tenant,
// fleet and kit stacks).
var stackNodePorts atomic.Int32

// allocNodePorts returns a pull NodePort no other test stack has; the push one is its next.
func allocNodePorts() int { return 32100 + int(stackNodePorts.Add(2)) - 2 }

// newTestStack inits stack name in the suite's project, writes its config and sets its
// secrets; it is destroyed when the test ends (unless the test destroyed it itself), while the
// registries the test started before it still run.
func newTestStack(t testing.TB, name string, o stackOptions) *testStack {
	t.Helper()
	s := &e2e
	st := &testStack{name: name, nodePort: o.nodePort}
	if st.nodePort == 0 {
		st.nodePort = allocNodePorts()
	}
	st.pushNodePort = st.nodePort + 1
	if len(o.nodeIPs) == 0 {
		o.nodeIPs = []string{"127.0.0.11"}
	}
	if o.s3Endpoint == "" {
		o.s3Endpoint = s.site.S3Endpoint
	}
	var nodes []any
	for i, ip := range o.nodeIPs {
		role := "worker"
		if i == 0 {
			role = "controlplane"
		}
		nodes = append(nodes, map[string]any{"name": fmt.Sprintf("node-%d", i+1), "ip": ip, "role": role})
	}
	reg := map[string]any{"namespace": name + "-registry", "nodePort": st.nodePort, "pushNodePort": st.pushNodePort,
		"replicas": 1, "image": pinnedRegistryImage}
	if !o.tls {
		reg["plainHTTP"] = true
	}
	cfg := map[string]any{
		"airgap-site:nodes":       nodes,
		"airgap-site:registry":    reg,
		"airgap-site:objectStore": map[string]any{"kind": "external", "endpoint": o.s3Endpoint},
	}
	if o.upstreams != nil {
		cfg["airgap-site:talos"] = map[string]any{"upstreams": o.upstreams}
	}
	if o.images != nil {
		// No kubelet runs a garbage collection's Job on the kwok nodes: these stacks keep every
		// version they replace, so none is ever due (TestRetentionAndGC proves retention and
		// collection on the real node).
		if _, ok := o.images["keepPrevious"]; !ok {
			o.images["keepPrevious"] = 100
		}
		cfg["airgap-site:images"] = o.images
	}
	block, err := yaml.Marshal(map[string]any{"config": cfg})
	if err != nil {
		t.Fatal(err)
	}
	s.mustPulumi(t, "stack", "init", name)
	writeStackConfig(t, name, string(block))
	setSecrets(t, name, map[string]string{"s3AccessKey": s.site.AccessKey, "s3SecretKey": s.site.SecretKey})
	t.Cleanup(func() { st.teardown(t) })
	return st
}

// teardown destroys the stack unless it is destroyed already; a failure is logged, not
// failed: what the test checked stands.
func (st *testStack) teardown(t testing.TB) {
	t.Helper()
	if st.destroyed {
		return
	}
	if out, err := st.destroy(t); err != nil {
		t.Logf("destroying stack %s: %v\n%s", st.name, err, lastLines(out, 20))
	}
}

// up runs pulumi up on the stack and fails the test if it fails.
func (st *testStack) up(t testing.TB, flags ...string) string {
	t.Helper()
	return e2e.mustPulumi(t, append([]string{"up", "-s", st.name, "--yes", "--skip-preview"}, flags...)...)
}

// tryUp runs pulumi up on the stack and returns its output and error.
func (st *testStack) tryUp(t testing.TB, flags ...string) (string, error) {
	t.Helper()
	return e2e.pulumi(t, append([]string{"up", "-s", st.name, "--yes", "--skip-preview"}, flags...)...)
}

// preview runs pulumi preview on the stack and returns its output and error.
func (st *testStack) preview(t testing.TB, flags ...string) (string, error) {
	t.Helper()
	return e2e.pulumi(t, append([]string{"preview", "-s", st.name}, flags...)...)
}

// config sets a config value by path (pulumi config set --path).
func (st *testStack) config(t testing.TB, path, value string) {
	t.Helper()
	e2e.mustPulumi(t, "config", "set", "-s", st.name, "--path", path, value)
}

// unset removes a config value by path.
func (st *testStack) unset(t testing.TB, path string) {
	t.Helper()
	e2e.mustPulumi(t, "config", "rm", "-s", st.name, "--path", path)
}

// destroy destroys the stack now (and not again when the test ends).
func (st *testStack) destroy(t testing.TB) (string, error) {
	t.Helper()
	st.destroyed = true
	return e2e.pulumi(t, "destroy", "-s", st.name, "--yes", "--skip-preview")
}

// relay forwards a loopback address of its own to a TCP service of the site: a test that must
// take the service away (the API server, "at the office") stops the relay and leaves the
// service up for the tests running beside it.
type relay struct {
	addr, target string
	mu           sync.Mutex
	l            net.Listener
	conns        map[net.Conn]bool
}

// newRelay starts a relay to target on a free loopback port; it stops when the test ends.
func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	r := &relay{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), target: target, conns: map[net.Conn]bool{}}
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

// start listens on the relay's address again.
func (r *relay) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatalf("relay to %s: %v", r.target, err)
	}
	r.mu.Lock()
	r.l = l
	r.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go r.pipe(c)
		}
	}()
}

func (r *relay) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	r.conns[c], r.conns[up] = true, true
	r.mu.Unlock()
	done := make(chan struct{}, 2)
	for _, p := range [][2]net.Conn{{c, up}, {up, c}} {
		go func() { _, _ = io.Copy(p[0], p[1]); done <- struct{}{} }()
	}
	<-done
	c.Close()
	up.Close()
	r.mu.Lock()
	delete(r.conns, c)
	delete(r.conns, up)
	r.mu.Unlock()
}

// stop closes the listener and every connection through it: the address refuses connections.
func (r *relay) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.l != nil {
		r.l.Close()
		r.l = nil
	}
	for c := range r.conns {
		c.Close()
	}
}

// kubeconfig writes a copy of the site's kubeconfig that reaches the API server through the
// relay (its serving certificate names 127.0.0.1 on any port) and returns its path.
func (r *relay) kubeconfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(e2e.site.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), e2e.site.APIServer) {
		t.Fatalf("the site's kubeconfig does not name %s", e2e.site.APIServer)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), e2e.site.APIServer, "https://"+r.addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// privateS3 starts an S3 server of the test's own (the harness's S3-only site: the bucket,
// the root key and the read-only pull user, as the site's), for a test that stops it; it is
// stopped when the test ends.
func privateS3(t *testing.T) *harness.Site {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s3")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(func() { _ = harness.Stop(dir) })
	site, err := harness.Start(ctx, harness.Options{Dir: dir, BinDir: e2e.bin, S3Only: true, Owned: true, Log: io.Discard})
	if err != nil {
		t.Fatalf("starting an S3 server: %v", err)
	}
	return site
}

// step is one step of a preview's plan: its operation and the resource's URN.
type step struct {
	Op  string `json:"op"`
	URN string `json:"urn"`
}

// previewPlan runs `pulumi preview --json` on a stack (in the suite's project, or in project
// when given) and returns its steps; most resources without a change have no step.
func previewPlan(tb testing.TB, stack string, project ...string) []step {
	tb.Helper()
	dir := e2e.project
	if len(project) > 0 {
		dir = project[0]
	}
	out, err := e2e.pulumiIn(tb, dir, "preview", "-s", stack, "--json")
	if err != nil {
		tb.Fatalf("preview --json: %v\n%s", err, lastLines(out, 20))
	}
	var plan struct {
		Steps []step `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		tb.Fatalf("preview --json: %v\n%s", err, lastLines(out, 20))
	}
	return plan.Steps
}

// sendTotal is the total line of airgap site preview's bytes to send.
var sendTotal = regexp.MustCompile(`Total: [^(]*\((\d+) bytes\)`)

// bytesToSend runs `airgap site preview` on a stack of the suite's project and returns its
// output and the bytes it says the next up sends.
func bytesToSend(t *testing.T, stack string) (string, int64) {
	t.Helper()
	s := &e2e
	cmd := exec.Command(s.airgap, "site", "preview", "-s", stack, "--project", s.project, "--policy-pack", s.policyPack)
	cmd.Env = s.pulumiEnv()
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("airgap site preview: %v\n%s", err, lastLines(out, 30))
	}
	// Its own report, after the preview's (whose diagnostics say the same: provider/plan.go).
	all := sendTotal.FindAllStringSubmatch(out, -1)
	if all == nil {
		t.Fatalf("airgap site preview does not say the bytes to send:\n%s", lastLines(out, 30))
	}
	n, _ := strconv.ParseInt(all[len(all)-1][1], 10, 64)
	return out, n
}
