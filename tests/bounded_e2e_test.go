//go:build e2e

package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/minio/minio-go/v7"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"airgap-site/bundle"
	"airgap-site/capacity"
	"airgap-site/components/registry"
	"airgap-site/internal/imagetest"
	"airgap-site/mirror"
	"airgap-site/provider/imagesync"
	"airgap-site/provider/retention"
	"airgap-site/siteconfig"
	"airgap-site/sitecontract"
	"airgap-site/tests/harness"
)

// retentionUpdates is how many successive updates of the web image TestRetentionAndGC makes.
const retentionUpdates = 20

// webRef is the i-th version of the app image the retention test updates.
func webRef(i int) string { return fmt.Sprintf("docker.io/factory/web:%d", i) }

// TestRetentionAndGC: the dev stack on the real node (the registry's pods run there, on the
// test bed's S3) takes 20 successive versions of an app image, each with a new layer on a
// shared base, with images.keepPrevious at its default (1). After every up the bucket holds at
// most (keepPrevious+1) x the working set + 5%, every kept version pulls by digest, and a
// pull loop through the NodePort never fails while the up's garbage collection runs. Then a
// rollback to the kept version sends no blob; a push during a collection waits or fails
// clearly and loses nothing; a collection killed half-way leaves every kept image whole, and
// the next one finishes it.
//
// It runs beside the kwok tests, after the two other real-node tests (tests/doc.go): it shares
// nothing with the kwok tests, and what it measures (bytes in the bucket, failed pulls) does not
// depend on the cores being its own; its collection times are taken with the suite running.
// Being the longest test, it is declared first (this file's name sorts first), so that it is
// among the first parallel tests to start rather than the last one left running.
func TestRetentionAndGC(t *testing.T) {
	s := &e2e
	if s.site.RealNode == "" {
		t.Skip("the local site has no real node: network namespaces, kubelet and containerd need root")
	}
	t.Parallel()
	ctx := context.Background()
	cs := clientset(t)

	// The node bundle's images (registry, pause, app) and 21 versions of web on one base.
	node, err := bundle.Open(s.nodeBundle)
	if err != nil {
		t.Fatal(err)
	}
	nodeImages, nodeIndexes := map[string]v1.Image{}, map[string]v1.ImageIndex{}
	var nodeSources []imagesync.Source
	for _, ref := range []string{registryImage, pauseImage, appImage} {
		d, err := node.Lookup(ref)
		if err != nil {
			t.Fatal(err)
		}
		if d.MediaType.IsIndex() {
			idx, err := node.Index(ref)
			if err != nil {
				t.Fatal(err)
			}
			nodeIndexes[ref] = idx
			nodeSources = append(nodeSources, imagesync.Source{Index: idx})
			continue
		}
		img, err := node.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		nodeImages[ref] = img
		nodeSources = append(nodeSources, imagesync.Source{Image: img})
	}
	// One more than the updates: the update the capacity check previews and refuses.
	webs := imagetest.SharedBase(t, retentionUpdates+2, 8<<20, 3<<20)
	dir := t.TempDir()
	// The office's bundle of update i carries web:i and web:i-1 (the rollback).
	bundleFor := func(i int) string {
		d := filepath.Join(dir, fmt.Sprintf("bundle-%02d", i))
		imgs := maps.Clone(nodeImages)
		imgs[webRef(i)] = webs[i]
		if i > 0 {
			imgs[webRef(i-1)] = webs[i-1]
		}
		writeBundle(t, d, imgs, nodeIndexes)
		return d
	}
	workingSet := func(web ...v1.Image) int64 {
		all := imagesync.Sizes{}
		srcs := slices.Clone(nodeSources)
		for _, w := range web {
			srcs = append(srcs, imagesync.Source{Image: w})
		}
		for _, src := range srcs {
			c, err := imagesync.Contents(src)
			if err != nil {
				t.Fatal(err)
			}
			all.Add(c)
		}
		return all.Bytes()
	}

	first := bundleFor(0)
	if _, err := s.pulumi(t, "stack", "init", "dev"); err != nil {
		s.mustPulumi(t, "stack", "select", "dev")
	}
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.bundle", first)
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.trustedKeys[0]", first+".pub")
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.list[3]", webRef(0))
	// A part of the bucket of its own: what it holds is this test's alone.
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "objectStore.rootDirectory", fmt.Sprintf("/retention-%d", time.Now().UnixNano()))
	defer func() {
		if out, err := s.pulumiOnLaptop(t, "destroy", "-s", "dev", "--yes", "--skip-preview"); err != nil {
			t.Errorf("destroy: %v\n%s", err, lastLines(out, 20))
		}
		// The stack file keeps the dev stack's settings for the other real-node tests.
		_, _ = s.pulumi(t, "config", "rm", "-s", "dev", "bootstrap")
		_, _ = s.pulumi(t, "config", "rm", "-s", "dev", "--path", "images.list[3]")
		_, _ = s.pulumi(t, "config", "rm", "-s", "dev", "--path", "objectStore.rootDirectory")
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.bundle", ".state/node-bundle")
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.trustedKeys[0]", ".state/node-bundle.pub")
		s.mustPulumi(t, "stack", "rm", "-s", "dev", "--yes", "--preserve-config")
	}()
	laptop := startLaptopServe(t)
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "bootstrap.endpoint", "https://"+harness.LaptopIP+":5000")
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "bootstrap.ca", laptop.caPath)
	configureNode(t)
	s.mustPulumiOnLaptop(t, "up", "-s", "dev", "--yes", "--skip-preview", "--policy-pack", s.policyPack)
	configureNode(t)
	laptop.stop()
	nodeAccess = readAccess(t, "dev")
	bucket := registryBucket(t, cs)

	// The pull loop: what containerd does through the NodePort all along, GCs included.
	loop := startPullLoop(t, appImage)

	kept := siteconfig.DefaultKeepPrevious
	var maxRatio float64
	var gcSeconds []float64
	var last string // the bundle of the last update
	for i := 1; i <= retentionUpdates; i++ {
		b := bundleFor(i)
		last = b
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.bundle", b)
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.list[3]", webRef(i))
		start := time.Now()
		out := s.mustPulumiOnLaptop(t, "up", "-s", "dev", "--yes", "--skip-preview", "--policy-pack", s.policyPack)
		took := time.Since(start)
		secs := gcSecondsOf(out)
		collected := secs > 0
		if i > kept && !collected {
			t.Errorf("update %d deleted a version and ran no garbage collection:\n%s", i, lastLines(out, 30))
		}
		if collected {
			gcSeconds = append(gcSeconds, secs)
		}

		previous := previousImages(t)
		if len(previous) != min(i, kept) {
			t.Errorf("update %d: previousImages = %v, want %d", i, previous, min(i, kept))
		}
		for _, v := range previous {
			assertPullsByDigest(t, v.Repository+"@"+v.Digest)
		}
		assertPullsByDigest(t, "docker.io/factory/web@"+imagetest.Digest(t, webs[i]).String())
		if i > kept {
			// The version beyond the window is gone, and so is its own layer's blob.
			dropped := imagetest.Digest(t, webs[i-kept-1]).String()
			if err := pullByDigest("docker.io/factory/web@" + dropped); err == nil {
				t.Errorf("update %d: web:%d (%s) is still served beyond the window", i, i-kept-1, dropped)
			}
		}
		total := bucket.bytes(t)
		ws := workingSet(webs[i])
		ratio := float64(total) / float64(ws)
		maxRatio = max(maxRatio, ratio)
		t.Logf("update %d (%.1fs, GC %v): bucket %.1f MB, working set %.1f MB (x%.2f)", i, took.Seconds(), collected, float64(total)/1e6, float64(ws)/1e6, ratio)
		if limit := float64(kept+1) * float64(ws) * 1.05; float64(total) > limit {
			t.Errorf("update %d: the bucket holds %d bytes, more than (keepPrevious+1) x the working set + 5%% = %.0f", i, total, limit)
		}
	}
	pulls, failed, errs := loop.stop()
	t.Logf("%d updates: bucket at most x%.2f the working set; GC times %v s; %d pulls through the NodePort, %d failed", retentionUpdates, maxRatio, gcSeconds, pulls, failed)
	if failed > 0 || pulls == 0 {
		t.Errorf("%d of %d pulls through the NodePort failed during the updates and their collections: %v", failed, pulls, errs)
	}

	t.Run("the stack says what the store holds; a preview refuses an update larger than its free space", func(t *testing.T) {
		u := registryUsage(t)
		held := bucket.bytes(t)
		t.Logf("registryUsage after %d updates: %+v; the bucket holds %d bytes", retentionUpdates, u, held)
		// Measured after the last up's collection, over S3 from the laptop with the read-only
		// identity: what the test lists as root, within 1% (the registry's own small files,
		// link files of 71 bytes, may change between the two listings).
		if diff := u.TotalBytes - held; u.TotalBytes < 0 || float64(max(diff, -diff)) > 0.01*float64(held) {
			t.Errorf("registryUsage.totalBytes = %d, the bucket holds %d (unmeasured: %q)", u.TotalBytes, held, u.Unmeasured)
		}
		// Referenced: the images and the kept version (and their signatures), within the bucket.
		if want := workingSet(webs[retentionUpdates], webs[retentionUpdates-1]); u.ReferencedBytes < want || u.ReferencedBytes > held {
			t.Errorf("registryUsage.referencedBytes = %d, want the working set and the kept version (%d) up to the bucket's %d", u.ReferencedBytes, want, held)
		}

		// The next update, web:21, previewed against a store of three sizes.
		next := bundleFor(retentionUpdates + 1)
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.bundle", next)
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.list[3]", webRef(retentionUpdates+1))
		defer func() {
			_, _ = s.pulumi(t, "config", "rm", "-s", "dev", "--path", "objectStore.capacity")
			s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.bundle", last)
			s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.list[3]", webRef(retentionUpdates))
		}()
		out, err := sitePreviewOnLaptop(t)
		all := sendTotal.FindAllStringSubmatch(out, -1)
		if err != nil || len(all) == 0 || !strings.Contains(out, "the store's capacity is not known") {
			t.Fatalf("airgap site preview without a capacity: %v\n%s", err, lastLines(out, 30))
		}
		// Its report comes last; the preview's own diagnostics (provider/plan.go) say the same,
		// though web:21 replaces web:20, which the engine does not diff: the last measure
		// says what the site holds.
		m := all[len(all)-1]
		if len(all) != 2 || all[0][1] != m[1] {
			t.Errorf("pulumi preview and airgap site preview differ on the bytes to send: %q", all)
		}
		toSend, _ := strconv.ParseInt(m[1], 10, 64)
		t.Logf("the next update sends %d bytes", toSend)
		// kB, as a quantity: pulumi config set --path would store plain digits as a number.
		kB := func(n int64) string { return fmt.Sprintf("%dk", (n+999)/1000) }

		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "objectStore.capacity", kB(held+toSend/2))
		out, err = sitePreviewOnLaptop(t)
		if err == nil || !strings.Contains(out, "cannot be stored") {
			t.Errorf("a preview of %d bytes to send into %d free: %v, want a failure saying it cannot be stored\n%s", toSend, toSend/2, err, lastLines(out, 20))
		}
		t.Logf("%s", storeLine(out))
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "objectStore.capacity", kB(held+toSend+100_000))
		out, err = sitePreviewOnLaptop(t)
		if err != nil || !strings.Contains(out, "warning: the site registry's store: the update sends") {
			t.Errorf("a preview leaving about 100 kB free: %v, want a warning\n%s", err, lastLines(out, 20))
		}
		t.Logf("%s", storeLine(out))
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "objectStore.capacity", kB(10*(held+toSend)))
		out, err = sitePreviewOnLaptop(t)
		if err != nil || !strings.Contains(out, "stay free") {
			t.Errorf("a preview into a store ten times the size: %v\n%s", err, lastLines(out, 20))
		}
		t.Logf("%s", storeLine(out))
	})

	t.Run("a rollback to the kept version sends no blob", func(t *testing.T) {
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.list[3]", webRef(retentionUpdates-1))
		out := s.mustPulumiOnLaptop(t, "up", "-s", "dev", "--yes", "--skip-preview", "--policy-pack", s.policyPack)
		if !strings.Contains(out, "web:"+fmt.Sprint(retentionUpdates-1)+"@") || !strings.Contains(out, ": 0 blobs uploaded") {
			t.Errorf("the rollback uploaded blobs:\n%s", lastLines(out, 30))
		}
		previous := previousImages(t)
		if len(previous) != 1 || previous[0].Tag != fmt.Sprint(retentionUpdates) {
			t.Errorf("after the rollback previousImages = %v, want web:%d", previous, retentionUpdates)
		}
		assertPullsByDigest(t, "docker.io/factory/web@"+imagetest.Digest(t, webs[retentionUpdates-1]).String())
	})

	t.Run("a push during a collection waits or fails clearly and loses nothing", func(t *testing.T) {
		gc := startSiteGC(t)
		waitPushScaledDown(t, cs)
		img, err := random.Image(1<<20, 2)
		if err != nil {
			t.Fatal(err)
		}
		ref := pushNodePortRef(t, "docker.io/factory/pushed-during-gc:1")
		var refused int
		var pushErr error
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			if pushErr = remote.Write(ref, img, nodePush()...); pushErr == nil {
				break
			}
			refused++
			time.Sleep(time.Second)
		}
		if pushErr != nil {
			t.Fatalf("the push never got through after the collection: %v", pushErr)
		}
		if refused == 0 {
			t.Errorf("a push went through while the push endpoint was scaled down for the collection")
		}
		if out, err := gc.wait(); err != nil {
			t.Fatalf("airgap site gc: %v\n%s", err, out)
		}
		t.Logf("the push was refused %d times during the collection, then went through", refused)
		assertPullsByDigest(t, "docker.io/factory/pushed-during-gc@"+imagetest.Digest(t, img).String())
		assertKeptImagesWhole(t)
	})

	t.Run("a collection killed half-way leaves every kept image whole and the next one finishes", func(t *testing.T) {
		gc := startSiteGC(t)
		waitPushScaledDown(t, cs)
		// The sweep is killed as it runs: the laptop's command and the collection's pod.
		waitFor(t, 2*time.Minute, func() bool {
			pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=registry-gc"})
			return err == nil && len(pods.Items) > 0
		})
		gc.kill()
		pods, _ := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=registry-gc"})
		zero := int64(0)
		for _, p := range pods.Items {
			_ = cs.CoreV1().Pods(namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
		assertKeptImagesWhole(t)
		again := startSiteGC(t)
		out, err := again.wait()
		if err != nil {
			t.Fatalf("the next airgap site gc: %v\n%s", err, out)
		}
		t.Logf("the next collection:\n%s", out)
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, registry.PushName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 || dep.Status.ReadyReplicas != 1 {
			t.Errorf("the push endpoint after the next collection: %v replicas, %d ready", dep.Spec.Replicas, dep.Status.ReadyReplicas)
		}
		assertKeptImagesWhole(t)
	})
}

// registryUsage is the dev stack's registryUsage output.
func registryUsage(t *testing.T) capacity.Usage {
	t.Helper()
	raw, err := json.Marshal(e2e.outputs(t, "dev")[sitecontract.OutputRegistryUsage])
	if err != nil {
		t.Fatal(err)
	}
	var u capacity.Usage
	if err := json.Unmarshal(raw, &u); err != nil || u.MeasuredAt == "" {
		t.Fatalf("registryUsage %s: %v", raw, err)
	}
	return u
}

// storeLine is the line of airgap site preview's output about the store.
func storeLine(out string) string {
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(strings.ToLower(line), "store") && strings.Contains(line, "the update sends") {
			return strings.TrimSpace(line)
		}
	}
	return "(no line about the store)"
}

// sitePreviewOnLaptop runs `airgap site preview` on the dev stack from the laptop.
func sitePreviewOnLaptop(t *testing.T) (string, error) {
	t.Helper()
	cmd := exec.Command("nsenter", "--net=/run/netns/"+e2e.site.LaptopNamespace, "--",
		e2e.airgap, "site", "preview", "-s", "dev", "--project", e2e.project, "--policy-pack", e2e.policyPack)
	cmd.Dir, cmd.Env = e2e.project, e2e.pulumiEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// gcSecondsOf reads the collection's time from an up's output ("garbage collection: ... in 12.3s").
func gcSecondsOf(out string) float64 {
	for line := range strings.SplitSeq(out, "\n") {
		_, rest, ok := strings.Cut(line, "garbage collection: ")
		if !ok {
			continue
		}
		_, after, ok := strings.Cut(rest, " in ")
		if !ok {
			continue
		}
		var secs float64
		if _, err := fmt.Sscanf(after, "%fs", &secs); err == nil {
			return secs
		}
	}
	return 0
}

// previousImages is the dev stack's previousImages output.
func previousImages(t *testing.T) []retention.Version {
	t.Helper()
	raw, _ := e2e.outputs(t, "dev")["previousImages"].([]any)
	var out []retention.Version
	for _, r := range raw {
		v, err := retention.ParseVersion(fmt.Sprint(r))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// assertKeptImagesWhole checks that the stack's images and the kept versions pull whole by
// digest.
func assertKeptImagesWhole(t *testing.T) {
	t.Helper()
	digests, _ := e2e.outputs(t, "dev")["imageDigests"].(map[string]any)
	for ref, d := range digests {
		assertPullsByDigest(t, repoOf(ref)+"@"+fmt.Sprint(d))
	}
	for _, v := range previousImages(t) {
		assertPullsByDigest(t, v.Repository+"@"+v.Digest)
	}
}

// repoOf is the site registry's repository of an original reference, by the mirror scheme.
func repoOf(ref string) string {
	t, err := mirror.TargetOf(ref)
	if err != nil {
		return ref
	}
	return t.Repository
}

// assertPullsByDigest pulls repo@digest through the NodePort as the pull identity and checks
// every blob against its digest.
func assertPullsByDigest(t *testing.T, ref string) {
	t.Helper()
	if err := pullByDigest(ref); err != nil {
		t.Errorf("%s does not pull whole through the NodePort: %v", ref, err)
	}
}

func pullByDigest(ref string) error {
	target, err := nodePortRef(ref)
	if err != nil {
		return err
	}
	desc, err := remote.Get(target, nodePull(nodeAccess.pullPassword)...)
	if err != nil {
		return err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		return validate.Index(idx)
	}
	img, err := desc.Image()
	if err != nil {
		return err
	}
	return validate.Image(img)
}

// pushNodePortRef is ref in the site registry through the push endpoint's NodePort.
func pushNodePortRef(t *testing.T, ref string) name.Reference {
	t.Helper()
	port, _ := e2e.outputs(t, "dev")["registryPushNodePort"].(float64)
	r, err := name.ParseReference(fmt.Sprintf("%s:%d/%s", harness.NodeIP, int(port), ref), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// nodePush are the options of a push through the push NodePort as the push identity.
func nodePush() []remote.Option {
	return []remote.Option{remote.WithTransport(nodeTransport()),
		remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: siteconfig.PushUser, Password: nodeAccess.pushPassword}))}
}

// waitPushScaledDown waits until the push endpoint has no pod: a collection is sweeping.
func waitPushScaledDown(t *testing.T, cs *kubernetes.Clientset) {
	t.Helper()
	if !waitFor(t, 2*time.Minute, func() bool {
		dep, err := cs.AppsV1().Deployments(namespace).Get(context.Background(), registry.PushName, metav1.GetOptions{})
		if err != nil || dep.Spec.Replicas == nil || *dep.Spec.Replicas != 0 {
			return false
		}
		pods, err := cs.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=" + registry.PushName})
		return err == nil && len(pods.Items) == 0
	}) {
		t.Fatal("the push endpoint was not scaled down for the collection")
	}
}

// siteGC is `airgap site gc -s dev` running on the laptop.
type siteGC struct {
	cmd *exec.Cmd
	out *strings.Builder
	mu  *sync.Mutex
}

func startSiteGC(t *testing.T) *siteGC {
	t.Helper()
	g := &siteGC{out: &strings.Builder{}, mu: &sync.Mutex{}}
	g.cmd = exec.Command("nsenter", "--net=/run/netns/"+e2e.site.LaptopNamespace, "--",
		e2e.airgap, "site", "gc", "-s", "dev", "--project", e2e.project)
	g.cmd.Dir, g.cmd.Env = e2e.project, e2e.pulumiEnv()
	w := lockedWriter{g.mu, g.out}
	g.cmd.Stdout, g.cmd.Stderr = w, w
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL) })
	return g
}

func (g *siteGC) wait() (string, error) {
	err := g.cmd.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String(), err
}

// kill kills the command as a power cut of the laptop would: no cleanup runs.
func (g *siteGC) kill() {
	_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	_ = g.cmd.Wait()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// pullLoop pulls an image through the NodePort over and over until stopped.
type pullLoop struct {
	pulls, failed atomic.Int64
	mu            sync.Mutex
	errs          []error
	done          chan struct{}
	wg            sync.WaitGroup
}

func startPullLoop(t *testing.T, ref string) *pullLoop {
	t.Helper()
	l := &pullLoop{done: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			select {
			case <-l.done:
				return
			default:
			}
			l.pulls.Add(1)
			if err := pullThroughNodePort(ref, nodeAccess.pullPassword); err != nil {
				l.failed.Add(1)
				l.mu.Lock()
				if len(l.errs) < 5 {
					l.errs = append(l.errs, err)
				}
				l.mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *pullLoop) stop() (pulls, failed int64, errs []error) {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pulls.Load(), l.failed.Load(), slices.Clone(l.errs)
}

// registryStore is where the dev stack's registry keeps its data: its bucket and root
// directory, as the push endpoint's config.yml names them.
type registryStore struct {
	bucket, prefix string
}

func registryBucket(t *testing.T, cs *kubernetes.Clientset) registryStore {
	t.Helper()
	dep, err := cs.AppsV1().Deployments(namespace).Get(context.Background(), registry.PushName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Storage struct {
			S3 struct {
				Bucket        string `json:"bucket"`
				RootDirectory string `json:"rootdirectory"`
			} `json:"s3"`
		} `json:"storage"`
	}
	if err := yaml.Unmarshal([]byte(mountedConfig(t, cs, dep)), &cfg); err != nil {
		t.Fatal(err)
	}
	return registryStore{bucket: cfg.Storage.S3.Bucket, prefix: strings.TrimPrefix(cfg.Storage.S3.RootDirectory, "/")}
}

// bytes is what the registry's part of the bucket holds, uploads in flight included.
func (r registryStore) bytes(t *testing.T) int64 {
	t.Helper()
	c, err := e2e.site.S3Client()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for o := range c.ListObjects(context.Background(), r.bucket, minio.ListObjectsOptions{Prefix: r.prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("listing %s/%s: %v", r.bucket, r.prefix, o.Err)
		}
		total += o.Size
	}
	return total
}
