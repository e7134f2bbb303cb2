// Command bench measures copying an image bundle into the site registry (the real registry
// binary on the real S3 server of the test bed), with this project's copier beside crane and
// skopeo, in one run, alternating tools, several trials:
//
//	go run ./tests/bench -images 12 -base 40 -layer 10 -trials 3
//
// For each tool and trial a fresh registry (its own prefix in the bucket) sits behind a
// counting proxy, so the bytes each tool sends over HTTP are measured too. It also times a
// no-op re-sync of 50 images. Results go to stdout as a Markdown table (docs/BENCHMARKS.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"airgap-site/bundle"
	"airgap-site/components/registry"
	"airgap-site/provider/imagesync"
	"airgap-site/tests/harness"
)

func main() {
	os.Exit(run())
}

// run is the benchmark. Every failure panics with a benchError (check), so the deferred stops
// of the site, the registries and airgap serve run on every way out: the bench leaves no
// process behind.
func run() (code int) {
	defer func() {
		if r := recover(); r != nil {
			be, ok := r.(benchError)
			if !ok {
				panic(r)
			}
			logf("bench: %v", be.err)
			code = 1
		}
	}()
	nImages := flag.Int("images", 12, "images in the bundle")
	baseMB := flag.Int("base", 40, "size of the base layer all images share, MB")
	layerMB := flag.Int("layer", 10, "size of each of the two unique layers per image, MB")
	trials := flag.Int("trials", 3, "trials per tool")
	noop := flag.Int("noop", 50, "images in the no-op re-sync measurement")
	bin := flag.String("bin", filepath.Join(os.Getenv("HOME"), ".cache", "airgap-site", "bin"), "tool cache")
	flag.Parse()
	log.SetFlags(0)

	tmp, err := os.MkdirTemp("", "airgap-bench-")
	check(err)
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	site, err := harness.Start(ctx, harness.Options{Dir: filepath.Join(tmp, "site"), BinDir: *bin, S3Only: true, Log: io.Discard})
	check(err)
	defer func() { _ = harness.Stop(site.Dir) }()

	refs, unique := buildBundle(filepath.Join(tmp, "bundle"), *nImages, int64(*baseMB)<<20, int64(*layerMB)<<20)
	logf("bundle: %d images, %.0f MB of unique blobs", len(refs), float64(unique)/1e6)
	b, err := bundle.Open(filepath.Join(tmp, "bundle"))
	check(err)
	source, stopServe := serveBundle(filepath.Join(tmp, "bundle"))
	defer stopServe()

	tools := []tool{
		{"airgap (imagesync)", func(dst string) error { return syncAll(ctx, b, refs, dst) }},
		{"crane copy", func(dst string) error {
			return eachRef(refs, dst, func(r, d string) *exec.Cmd {
				return exec.Command(filepath.Join(*bin, "crane"), "copy", "--insecure", source+"/"+r, d)
			})
		}},
		{"skopeo copy", func(dst string) error {
			return eachRef(refs, dst, func(r, d string) *exec.Cmd {
				return exec.Command("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:"+filepath.Join(tmp, "bundle")+":"+r, "docker://"+d)
			})
		}},
	}
	results := map[string][]trial{}
	for t := 1; t <= *trials; t++ {
		// Alternate the order so no tool always runs on a warm or cold cache.
		order := append([]tool(nil), tools...)
		for i := 0; i < t-1; i++ {
			order = append(order[1:], order[0])
		}
		for _, tl := range order {
			if tl.name == "skopeo copy" && !haveSkopeo() {
				continue
			}
			res, err := runTrial(site, tl, fmt.Sprintf("/bench-%d-%s", t, strings.Fields(tl.name)[0]), *bin)
			if err != nil {
				logf("%s trial %d: %v", tl.name, t, err)
				continue
			}
			res.mbps = float64(unique) / 1e6 / res.seconds
			logf("trial %d %-20s %6.1fs %6.1f MB/s  %7.1f MB sent  %d uploads %d mounts", t, tl.name, res.seconds, res.mbps, float64(res.sent)/1e6, res.uploads, res.mounts)
			results[tl.name] = append(results[tl.name], res)
		}
	}
	noopSeconds := measureNoop(ctx, site, *noop, *bin)

	fmt.Printf("\n| tool | median time | median throughput (unique MB / s) | MB sent over HTTP | upload POSTs | mount POSTs |\n|---|---|---|---|---|---|\n")
	for _, tl := range tools {
		rs := results[tl.name]
		if len(rs) == 0 {
			continue
		}
		m := median(rs)
		fmt.Printf("| %s | %.1f s | %.1f | %.1f | %d | %d |\n", tl.name, m.seconds, m.mbps, float64(m.sent)/1e6, m.uploads, m.mounts)
	}
	fmt.Printf("\nbundle: %d images, %.0f MB unique blobs (base %d MB shared by all, 2 x %d MB unique per image); %d trials per tool\n",
		len(refs), float64(unique)/1e6, *baseMB, *layerMB, *trials)
	fmt.Printf("no-op re-sync of %d images (all present): %.2f s\n", *noop, noopSeconds)
	return 0
}

type tool struct {
	name string
	run  func(dst string) error
}

type trial struct {
	seconds, mbps   float64
	sent            int64
	uploads, mounts int64
}

func median(rs []trial) trial {
	sort.Slice(rs, func(i, j int) bool { return rs[i].seconds < rs[j].seconds })
	return rs[len(rs)/2]
}

// runTrial starts a fresh registry on S3 behind a counting proxy and times one tool.
func runTrial(site *harness.Site, tl tool, root, bin string) (trial, error) {
	addr, stop, err := startRegistry(site, root, bin)
	if err != nil {
		return trial{}, err
	}
	defer stop()
	var uploads, mounts, sent atomic.Int64
	target, _ := url.Parse("http://" + addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
			if r.URL.Query().Get("mount") != "" {
				mounts.Add(1)
			} else {
				uploads.Add(1)
			}
		}
		if r.ContentLength > 0 && (r.Method == http.MethodPatch || r.Method == http.MethodPut) {
			sent.Add(r.ContentLength)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	start := time.Now()
	if err := tl.run(strings.TrimPrefix(srv.URL, "http://")); err != nil {
		return trial{}, err
	}
	return trial{seconds: time.Since(start).Seconds(), sent: sent.Load(), uploads: uploads.Load(), mounts: mounts.Load()}, nil
}

func startRegistry(site *harness.Site, root, bin string) (string, func(), error) {
	cfg, err := registry.Render(registry.Input{
		Storage:  registry.StorageInput{Endpoint: site.S3Endpoint, Region: site.S3Region, Bucket: site.Bucket, RootDirectory: root},
		LogLevel: "error",
		// The site's push endpoint, without TLS and authentication: the bench measures copies,
		// on loopback.
		Role:      registry.RolePush,
		PlainHTTP: true,
	})
	if err != nil {
		return "", nil, err
	}
	y, _ := cfg.YAML()
	dir, _ := os.MkdirTemp("", "bench-registry-")
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, y, 0o600); err != nil {
		return "", nil, err
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(filepath.Join(bin, "registry"), "serve", path)
	cmd.Env = append(cleanEnv(), registry.EnvAccessKey+"="+site.AccessKey, registry.EnvSecretKey+"="+site.SecretKey,
		registry.EnvHTTPSecret+"=bench", "REGISTRY_HTTP_ADDR="+addr, "OTEL_TRACES_EXPORTER=none")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(dir) }
	for i := 0; i < 300; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("registry on %s did not start", addr)
}

// syncAll copies every image the way the provider does under the engine: four images at a
// time in one process, each told about its siblings.
func syncAll(ctx context.Context, b *bundle.Bundle, refs []string, dst string) error {
	known := imagesync.NewKnown()
	var repos []string
	for _, r := range refs {
		repos = append(repos, dst+"/"+strings.SplitN(r, ":", 2)[0])
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, r := range refs {
		g.Go(func() error {
			img, err := b.Image(r)
			if err != nil {
				return err
			}
			tag, err := name.NewTag(dst+"/"+r, name.Insecure)
			if err != nil {
				return err
			}
			_, err = imagesync.Copy(ctx, imagesync.Source{Image: img}, tag, imagesync.Options{Known: known, MountFrom: repos})
			return err
		})
	}
	return g.Wait()
}

// eachRef runs a CLI copier once per image, four at a time, as a script would.
func eachRef(refs []string, dst string, cmd func(ref, dst string) *exec.Cmd) error {
	var g errgroup.Group
	g.SetLimit(4)
	for _, r := range refs {
		g.Go(func() error {
			c := cmd(r, dst+"/"+r)
			c.Env = cleanEnv()
			if out, err := c.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", r, err, out)
			}
			return nil
		})
	}
	return g.Wait()
}

// serveBundle serves the bundle read-only (airgap serve, built once) for crane, which copies
// between registries; stop ends it. The bench's bundle is unsigned and crane reads it over
// plain http on loopback.
func serveBundle(dir string) (addr string, stop func()) {
	airgap := filepath.Join(filepath.Dir(dir), "airgap")
	build := exec.Command("go", "build", "-o", airgap, "./cmd/airgap")
	if out, err := build.CombinedOutput(); err != nil {
		check(fmt.Errorf("building airgap: %v: %s", err, out))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr = l.Addr().String()
	l.Close()
	cmd := exec.Command(airgap, "serve", "--bundle", dir, "--addr", addr, "--allow-unsigned", "--plain-http")
	cmd.Stderr = io.Discard
	check(cmd.Start())
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for i := 0; i < 600; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr, stop
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	check(fmt.Errorf("airgap serve did not start on %s", addr))
	return "", nil
}

// buildBundle writes n images sharing one base layer, each with two unique layers. They use
// OCI media types: skopeo 1.9 ignores Docker-typed manifests in an OCI layout.
func buildBundle(dir string, n int, baseSize, layerSize int64) ([]string, int64) {
	w, err := bundle.Create(dir)
	check(err)
	base, err := random.Layer(baseSize, types.OCILayer)
	check(err)
	unique := baseSize
	var refs []string
	for i := 0; i < n; i++ {
		l1, err := random.Layer(layerSize, types.OCILayer)
		check(err)
		l2, err := random.Layer(layerSize, types.OCILayer)
		check(err)
		oci := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		img, err := mutate.AppendLayers(oci, base, l1, l2)
		check(err)
		img = withPlatform(img)
		ref := fmt.Sprintf("docker.io/factory/app%02d:1", i)
		_, err = w.AddImage(ref, img)
		check(err)
		refs = append(refs, ref)
		unique += 2 * layerSize
	}
	check(w.Close())
	return refs, unique
}

func withPlatform(img v1.Image) v1.Image {
	cf, err := img.ConfigFile()
	check(err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	check(err)
	return img
}

// measureNoop pushes n small images, then times syncing them all again.
func measureNoop(ctx context.Context, site *harness.Site, n int, bin string) float64 {
	addr, stop, err := startRegistry(site, "/bench-noop", bin)
	check(err)
	defer stop()
	dir, _ := os.MkdirTemp("", "bench-noop-")
	defer os.RemoveAll(dir)
	refs, _ := buildBundle(filepath.Join(dir, "b"), n, 64<<10, 16<<10)
	b, err := bundle.Open(filepath.Join(dir, "b"))
	check(err)
	check(syncAll(ctx, b, refs, addr))
	start := time.Now()
	check(syncAll(ctx, b, refs, addr)) // a new Known: a fresh provider process, as in a new up
	return time.Since(start).Seconds()
}

func haveSkopeo() bool { _, err := exec.LookPath("skopeo"); return err == nil }

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			env = append(env, kv)
		}
	}
	return env
}

// benchError is a failure on its way up to run, which stops everything the bench started.
type benchError struct{ err error }

func check(err error) {
	if err != nil {
		panic(benchError{err})
	}
}

// logf writes progress to stderr (the standard logger is silenced by a dependency's init).
func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
