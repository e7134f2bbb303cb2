//go:build e2e

package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/provider/contract"
	"airgap-site/signing"
)

// imageStack is a test stack of many tiny images (a shared base and a layer of their own)
// from one signed bundle, copied to the real registry on the test bed's S3: the shape of a
// site with many images, where the cost is the engine's and the provider's per image, not
// the bytes.
type imageStack struct {
	*testStack
	refs []string // every image of the bundle; the stack lists the first ones
}

// newImageStack writes a bundle of total images and a stack listing the first n of them.
func newImageStack(tb testing.TB, name string, n, total int) *imageStack {
	tb.Helper()
	imgs := layeredImages(tb, total, 1<<10, 1<<10)
	refs := make([]string, total)
	byRef := map[string]v1.Image{}
	for i := range refs {
		refs[i] = fmt.Sprintf("docker.io/library/app%03d:1", i)
		byRef[refs[i]] = imgs[i]
	}
	dir := filepath.Join(tb.TempDir(), "bundle")
	writeBundle(tb, dir, byRef, nil)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
	s3Registry(tb, addr, "/"+name)
	list := make([]any, n)
	for i := range list {
		list[i] = refs[i]
	}
	st := newTestStack(tb, name, stackOptions{images: map[string]any{
		"bundle": dir, "trustedKeys": []any{dir + ".pub"}, "registry": addr, "list": list,
	}})
	return &imageStack{testStack: st, refs: refs}
}

// previewSteps counts the steps of a preview by operation, and the Image steps apart.
func (is *imageStack) previewSteps(tb testing.TB) (ops, imageOps map[string]int) {
	tb.Helper()
	ops, imageOps = map[string]int{}, map[string]int{}
	for _, st := range previewPlan(tb, is.name) {
		ops[st.Op]++
		if strings.Contains(st.URN, contract.ImageToken+"::") {
			imageOps[st.Op]++
		}
	}
	return ops, imageOps
}

// stateBytes is the size of the stack's exported state.
func (is *imageStack) stateBytes(tb testing.TB) int {
	tb.Helper()
	return len(e2e.mustPulumi(tb, "stack", "export", "-s", is.name))
}

// TestAddingOneImage: adding an image to a stack of 20 previews as exactly one create and no
// update (no image's inputs name its siblings; the site's settings are the provider's), and
// the up that follows creates that one image only.
func TestAddingOneImage(t *testing.T) {
	// Parallel: its own stack, namespace, NodePorts and registry (see tests/doc.go).
	t.Parallel()
	is := newImageStack(t, "scale", 20, 21)
	is.up(t)
	before := is.stateBytes(t)
	is.config(t, "images.list[20]", is.refs[20])
	ops, imageOps := is.previewSteps(t)
	if imageOps["create"] != 1 || ops["create"] != 1 || ops["update"] != 0 || ops["replace"] != 0 || ops["delete"] != 0 {
		t.Errorf("adding one image to 20 previews as %v (images: %v), want 1 create and nothing else", ops, imageOps)
	}
	is.up(t)
	after := is.stateBytes(t)
	t.Logf("state: %d bytes with 20 images, %d with 21 (+%d for one image)", before, after, after-before)
	if after-before > 16<<10 {
		t.Errorf("one more image grew the state by %d bytes, want a few KB", after-before)
	}
	if out, err := is.preview(t, "--expect-no-changes"); err != nil {
		t.Errorf("preview after the up: %v\n%s", err, lastLines(out, 20))
	}

	// A second trusted key (the office's next one) is a setting of the site's provider: one
	// update of the provider, no image step.
	_, pub, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(t.TempDir(), "next.pub")
	if err := os.WriteFile(next, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	is.config(t, "images.trustedKeys[1]", next)
	var provider string
	for _, st := range previewPlan(t, is.name) {
		switch {
		case strings.Contains(st.URN, "pulumi:providers:airgap::"):
			provider = st.Op
		case st.Op != "same":
			t.Errorf("adding a trusted key would %s %s", st.Op, st.URN)
		}
	}
	if provider != "update" {
		t.Errorf("adding a trusted key: the airgap provider's step is %q, want update", provider)
	}
}

// BenchmarkImageStack measures a stack of AIRGAP_BENCH_IMAGES (default 200) tiny images: the
// first up, a no-op preview, the preview that adds one image (its operations) and the state's
// size. It is a benchmark, not a test: `make test` does not run it (docs/BENCHMARKS.md):
//
//	source scripts/env.sh && go test -tags e2e -run '^$' -bench BenchmarkImageStack -benchtime 1x -timeout 60m ./tests/
func BenchmarkImageStack(b *testing.B) {
	n := 200
	if v := os.Getenv("AIRGAP_BENCH_IMAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("AIRGAP_BENCH_IMAGES=%q: want a number of images", v)
		}
	}
	for i := range b.N {
		is := newImageStack(b, fmt.Sprintf("bench-%d-%d", n, i), n, n+1)
		start := time.Now()
		is.up(b)
		up := time.Since(start)
		start = time.Now()
		if out, err := is.preview(b, "--expect-no-changes"); err != nil {
			b.Fatalf("no-op preview: %v\n%s", err, lastLines(out, 20))
		}
		noop := time.Since(start)
		state := is.stateBytes(b)
		is.config(b, fmt.Sprintf("images.list[%d]", n), is.refs[n])
		start = time.Now()
		ops, imageOps := is.previewSteps(b)
		add := time.Since(start)
		b.Logf("%d images: up %.1fs, no-op preview %.1fs, add-one preview %.1fs (%v; images %v), state %d bytes (%.1f KB per image)",
			n, up.Seconds(), noop.Seconds(), add.Seconds(), ops, imageOps, state, float64(state)/1e3/float64(n))
		b.ReportMetric(up.Seconds(), "up-s")
		b.ReportMetric(noop.Seconds(), "noop-preview-s")
		b.ReportMetric(add.Seconds(), "add-preview-s")
		b.ReportMetric(float64(ops["update"]), "add-updates")
		b.ReportMetric(float64(state)/1e6, "state-MB")
	}
}
