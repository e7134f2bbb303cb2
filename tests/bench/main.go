// Command bench measures copying an image bundle into the site registry (the real registry
// binary on the real S3 server of the test bed), with this project's copier beside crane and
// skopeo, in one run, alternating tools, several trials:
//
//	go run ./tests/bench -images 12 -base 40 -layer 10 -trials 3
//
// For each tool and trial a fresh registry (its own prefix in the bucket) sits behind a
// counting proxy, so the bytes each tool sends over HTTP are measured too. It also times a
// no-op re-sync of 50 images. Results go to stdout as a Markdown table (docs/BENCHMARKS.md).
//
// The airgap copier runs as the provider runs it: blobs of 5 MiB or more go in chunks
// (imagesync.Options.Upload, package blobupload), each copy under the provider's retry budget.
//
// With -link, the same copies go over a factory link instead: Toxiproxy (tests/toxiproxy) in
// front of the counting proxy, with a bandwidth and a latency toxic, and the link switched off
// for -link-down, -link-cuts times, spread evenly over the update's bytes as they arrive (so
// in the middle of its blobs). Every tool gets its own retries, and a failed CLI copy is run
// again, as a script would, until -link-timeout: a tool that cannot finish is reported so.
//
//	go run ./tests/bench -link -images 1 -base 64 -layer 1 -trials 3 -link-rate 4000 -link-latency 20 -link-cuts 3
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
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"airgap-site/bundle"
	"airgap-site/components/registry"
	"airgap-site/internal/nodowngrade"
	"airgap-site/provider/blobupload"
	"airgap-site/provider/contract"
	"airgap-site/provider/imagesync"
	"airgap-site/provider/siteregistry"
	"airgap-site/tests/harness"
)

func main() {
	os.Exit(run())
}

// run is the benchmark. Every failure panics with a benchError (check), so the deferred stops
// of the site, the registries, airgap serve and Toxiproxy run on every way out; and each of
// them dies with the bench when it is killed (owned, harness.Options.Owned): the bench leaves
// no process behind.
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
	var lk link
	flag.BoolVar(&lk.on, "link", false, "copy over a throttled link that is cut (Toxiproxy) instead of loopback")
	flag.IntVar(&lk.rateKB, "link-rate", 4000, "link bandwidth, KB/s (-link)")
	flag.IntVar(&lk.latencyMS, "link-latency", 20, "link latency each way, ms (-link)")
	flag.IntVar(&lk.cuts, "link-cuts", 3, "times the link goes down during the update (-link)")
	flag.DurationVar(&lk.down, "link-down", time.Second, "how long the link stays down at each cut (-link)")
	flag.DurationVar(&lk.timeout, "link-timeout", 3*time.Minute, "bound on one tool's copy over the link (-link)")
	flag.Parse()
	log.SetFlags(0)

	tmp, err := os.MkdirTemp("", "airgap-bench-")
	check(err)
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	site, err := harness.Start(ctx, harness.Options{Dir: filepath.Join(tmp, "site"), BinDir: *bin, S3Only: true, Owned: true, Log: io.Discard})
	check(err)
	defer func() { _ = harness.Stop(site.Dir) }()
	// Stopped by a signal: the deferred stops do not run, the owned processes die with the
	// bench; the site is stopped and the temporary files go first.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		logf("bench: stopped by a signal")
		_ = harness.Stop(site.Dir)
		os.RemoveAll(tmp)
		os.Exit(130)
	}()

	refs, unique := buildBundle(filepath.Join(tmp, "bundle"), *nImages, int64(*baseMB)<<20, int64(*layerMB)<<20)
	logf("bundle: %d images, %.0f MB of unique blobs", len(refs), float64(unique)/1e6)
	b, err := bundle.Open(filepath.Join(tmp, "bundle"))
	check(err)
	source, stopServe := serveBundle(filepath.Join(tmp, "bundle"))
	defer stopServe()

	var skopeoRetry []string
	if lk.on {
		lk.start(filepath.Join(tmp, "toxiproxy.log"), *bin)
		defer lk.stop()
		skopeoRetry = []string{"--retry-times", "3"}
	}
	tools := []tool{
		{"airgap (imagesync)", func(ctx context.Context, dst string) (int, error) {
			return 0, syncAll(ctx, b, refs, dst, filepath.Join(tmp, "sessions", dst))
		}},
		// The copier without the chunked path, to show what the chunks cost on loopback.
		{"airgap, one request per blob", func(ctx context.Context, dst string) (int, error) {
			return 0, syncAll(ctx, b, refs, dst, "")
		}},
		{"crane copy", func(ctx context.Context, dst string) (int, error) {
			return eachRef(ctx, refs, dst, lk.on, func(ctx context.Context, r, d string) *exec.Cmd {
				return exec.CommandContext(ctx, filepath.Join(*bin, "crane"), "copy", "--insecure", source+"/"+r, d)
			})
		}},
		{"skopeo copy", func(ctx context.Context, dst string) (int, error) {
			return eachRef(ctx, refs, dst, lk.on, func(ctx context.Context, r, d string) *exec.Cmd {
				args := append([]string{"copy", "--quiet", "--dest-tls-verify=false"}, skopeoRetry...)
				return exec.CommandContext(ctx, "skopeo", append(args, "oci:"+filepath.Join(tmp, "bundle")+":"+r, "docker://"+d)...)
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
		for i, tl := range order {
			if tl.name == "skopeo copy" && !haveSkopeo() || lk.on && tl.name == "airgap, one request per blob" {
				continue
			}
			res, err := runTrial(ctx, site, tl, fmt.Sprintf("/bench-%d-%d", t, i), *bin, &lk, unique)
			if err != nil {
				logf("%s trial %d: %v", tl.name, t, err)
				continue
			}
			res.mbps = float64(unique) / 1e6 / res.seconds
			logf("trial %d %-20s %6.1fs %6.1f MB/s  %7.1f MB sent  %d uploads %d mounts  %d cuts %d reruns  CPU %.1f/%.1f/%.1f s  %s",
				t, tl.name, res.seconds, res.mbps, float64(res.sent)/1e6, res.uploads, res.mounts, res.cuts, res.reruns,
				res.cpuClient, res.cpuRegistry, res.cpuS3, res.outcome())
			results[tl.name] = append(results[tl.name], res)
		}
	}
	if lk.on {
		lk.table(tools, results, len(refs), unique, *baseMB, *layerMB, *trials)
		// This project's copier is built to ride out the cuts: one that did not is a failure.
		for _, r := range results[tools[0].name] {
			if r.err != nil {
				logf("bench: the airgap copier did not finish over the link: %v", r.err)
				return 1
			}
		}
		return 0
	}
	noopSeconds := measureNoop(ctx, site, *noop, *bin)

	fmt.Printf("\n| tool | median time | median throughput (unique MB / s) | MB sent over HTTP | upload POSTs | mount POSTs | CPU s: client / registry / S3 |\n|---|---|---|---|---|---|---|\n")
	for _, tl := range tools {
		rs := results[tl.name]
		if len(rs) == 0 {
			continue
		}
		m := median(rs)
		fmt.Printf("| %s | %.1f s | %.1f | %.1f | %d | %d | %.1f / %.1f / %.1f |\n", tl.name, m.seconds, m.mbps, float64(m.sent)/1e6, m.uploads, m.mounts,
			m.cpuClient, m.cpuRegistry, m.cpuS3)
	}
	fmt.Printf("\nbundle: %d images, %.0f MB unique blobs (base %d MB shared by all, 2 x %d MB unique per image); %d trials per tool\n",
		len(refs), float64(unique)/1e6, *baseMB, *layerMB, *trials)
	fmt.Printf("no-op re-sync of %d images (all present): %.2f s\n", *noop, noopSeconds)
	return 0
}

// tool copies the bundle to the registry at dst; it returns how many of its processes it ran
// again after they failed (over the link).
type tool struct {
	name string
	run  func(ctx context.Context, dst string) (reruns int, err error)
}

type trial struct {
	seconds, mbps float64
	// CPU seconds the trial used (loopback only): the client (the bench process, which runs
	// the counting proxy for every tool and the airgap copier in process, and the CLI processes
	// it waited for), the trial's registry and the S3 server.
	cpuClient, cpuRegistry, cpuS3 float64
	sent                          int64
	uploads, mounts               int64
	// Over the link: the cuts made, the CLI processes run again, and the error of a copy that
	// did not finish (nil: it did).
	cuts, reruns int
	err          error
}

func (t trial) outcome() string {
	if t.err != nil {
		return "did not finish: " + t.err.Error()
	}
	return "finished"
}

func median(rs []trial) trial {
	sort.Slice(rs, func(i, j int) bool { return rs[i].seconds < rs[j].seconds })
	return rs[len(rs)/2]
}

// runTrial starts a fresh registry on S3 behind a counting proxy and times one tool. Over the
// link the tool reaches the counting proxy through Toxiproxy, which is cut as the bytes arrive;
// a copy that fails there is a result, with its error.
func runTrial(ctx context.Context, site *harness.Site, tl tool, root, bin string, lk *link, unique int64) (trial, error) {
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
		// What arrived: every request body byte the registry side read, a cut request's
		// partial body included.
		r.Body = &countingBody{ReadCloser: r.Body, n: &sent}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dst := strings.TrimPrefix(srv.URL, "http://")
	if !lk.on {
		s3Before, _ := site.CPUSeconds("versitygw")
		clientBefore := clientCPU()
		start := time.Now()
		if _, err := tl.run(ctx, dst); err != nil {
			return trial{}, err
		}
		res := trial{seconds: time.Since(start).Seconds(), sent: sent.Load(), uploads: uploads.Load(), mounts: mounts.Load()}
		res.cpuClient = clientCPU() - clientBefore
		s3After, _ := site.CPUSeconds("versitygw")
		res.cpuS3 = s3After - s3Before
		srv.Close()
		res.cpuRegistry = stop()
		return res, nil
	}
	dst, stopLink, err := lk.open(dst)
	if err != nil {
		return trial{}, err
	}
	defer stopLink()
	ctx, cancel := context.WithTimeout(ctx, lk.timeout)
	defer cancel()
	cuts := lk.cutAsBytesArrive(ctx, &sent, unique)
	start := time.Now()
	reruns, err := tl.run(ctx, dst)
	res := trial{seconds: time.Since(start).Seconds(), sent: sent.Load(), uploads: uploads.Load(), mounts: mounts.Load(), reruns: reruns, err: err}
	cancel()
	res.cuts = <-cuts
	return res, nil
}

// clientCPU is the CPU time of the bench process and of the children it has waited for.
func clientCPU() float64 {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return sec(self.Utime) + sec(self.Stime) + sec(children.Utime) + sec(children.Stime)
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func startRegistry(site *harness.Site, root, bin string) (string, func() float64, error) {
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
	dir, _ := os.MkdirTemp(site.Dir, "bench-registry-") // under the bench's files: gone with them
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, y, 0o600); err != nil {
		return "", nil, err
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	cmd := owned(exec.Command(filepath.Join(bin, "registry"), "serve", path))
	cmd.Env = append(cleanEnv(), registry.EnvAccessKey+"="+site.AccessKey, registry.EnvSecretKey+"="+site.SecretKey,
		registry.EnvHTTPSecret+"=bench", "REGISTRY_HTTP_ADDR="+addr, "OTEL_TRACES_EXPORTER=none")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	var once sync.Once
	var cpu float64
	// stop stops the registry (once) and returns the CPU time it used.
	stop := func() float64 {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			os.RemoveAll(dir)
			if ps := cmd.ProcessState; ps != nil {
				cpu = (ps.UserTime() + ps.SystemTime()).Seconds()
			}
		})
		return cpu
	}
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
// time in one process, each told about its siblings, blobs of 5 MiB or more in chunks (with
// the provider's transport, retry budget and upload sessions under sessionDir), each copy
// tried again within that budget after a failure that may pass (siteregistry.Endpoints).
// Without sessionDir every blob goes in one request (imagesync.Options.Upload nil).
func syncAll(ctx context.Context, b *bundle.Bundle, refs []string, dst, sessionDir string) error {
	known := imagesync.NewKnown()
	retry := siteregistry.Policy{For: contract.DefaultRetrySeconds * time.Second, Initial: siteregistry.DefaultInitial, Max: siteregistry.DefaultMax}
	base := siteregistry.Transport(nil, contract.DefaultRequestTimeoutSeconds*time.Second)
	plain := nodowngrade.PlainHTTP{Hosts: []string{dst}}
	var upload *blobupload.Options
	if sessionDir != "" {
		upload = &blobupload.Options{Transport: base, PlainHTTP: plain, Sessions: blobupload.NewSessions(sessionDir), Retry: retry}
	}
	endpoints := siteregistry.Endpoints{Addrs: []string{dst}, Policy: retry}
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
			_, err = endpoints.Do(ctx, func(ctx context.Context, _ string) error {
				remoteOpts := append([]remote.Option{remote.WithTransport(nodowngrade.Transport(base, plain)), remote.WithContext(ctx)},
					siteregistry.NoRetries()...)
				_, err := imagesync.Copy(ctx, imagesync.Source{Image: img}, tag, imagesync.Options{
					Jobs: contract.DefaultJobs, Known: known, MountFrom: repos, Remote: remoteOpts, Upload: upload})
				return err
			})
			return err
		})
	}
	return g.Wait()
}

// eachRef runs a CLI copier once per image, four at a time, as a script would; with again,
// a copy that fails is run again (a script's until-loop) until ctx ends. It returns the
// number of runs again.
func eachRef(ctx context.Context, refs []string, dst string, again bool, cmd func(ctx context.Context, ref, dst string) *exec.Cmd) (int, error) {
	var g errgroup.Group
	g.SetLimit(4)
	var reruns atomic.Int64
	for _, r := range refs {
		g.Go(func() error {
			for {
				c := owned(cmd(ctx, r, dst+"/"+r))
				c.Env = cleanEnv()
				out, err := c.CombinedOutput()
				if err == nil {
					return nil
				}
				if !again || ctx.Err() != nil {
					if ctx.Err() != nil {
						err = ctx.Err()
					}
					return fmt.Errorf("%s: %v: %s", r, err, lastLine(out))
				}
				reruns.Add(1)
				time.Sleep(time.Second)
			}
		})
	}
	err := g.Wait()
	return int(reruns.Load()), err
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
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
	cmd := owned(exec.Command(airgap, "serve", "--bundle", dir, "--addr", addr, "--allow-unsigned", "--plain-http"))
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
	dir, _ := os.MkdirTemp(site.Dir, "bench-noop-")
	defer os.RemoveAll(dir)
	refs, _ := buildBundle(filepath.Join(dir, "b"), n, 64<<10, 16<<10)
	b, err := bundle.Open(filepath.Join(dir, "b"))
	check(err)
	check(syncAll(ctx, b, refs, addr, filepath.Join(dir, "sessions")))
	start := time.Now()
	check(syncAll(ctx, b, refs, addr, filepath.Join(dir, "sessions"))) // a new Known: a fresh provider process, as in a new up
	return time.Since(start).Seconds()
}

// owned ties cmd to the bench: the kernel kills it when the bench dies, however it dies (a
// signal, a kill), where the deferred stops do not run.
func owned(cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
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
