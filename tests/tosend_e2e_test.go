//go:build e2e

package tests

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestPreviewBytesToSend: `airgap site preview` says, from the stack's state and the bundle
// alone, how many bytes the next up sends to the site registry, and a counting proxy in front
// of the registry measures what the up then sends: within 1%, for a stack never deployed (two
// images on a shared base: the base once) and after an image on the same base is added (its
// own layer and config only; the others unchanged). A converged stack sends 0.
func TestPreviewBytesToSend(t *testing.T) {
	// Parallel: its own stack, namespace, ports and registry; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	stopRegistry, _, _ := s3Registry(t, regAddr, "/tosend-e2e")
	defer func() { stopRegistry() }()
	counter := newRegistryCounter(t, regAddr)

	bundleDir := filepath.Join(t.TempDir(), "bundle")
	imgs := layeredImages(t, 3, 4<<20, 1<<20)
	alpha, beta, gamma := "docker.io/library/alpha:1", "docker.io/library/beta:1", "ghcr.io/org/gamma:3"
	writeBundle(t, bundleDir, map[string]v1.Image{alpha: imgs[0], beta: imgs[1]}, nil)

	stack := "tosend"
	s.mustPulumi(t, "stack", "init", stack)
	writeStackConfig(t, stack, fmt.Sprintf(`config:
  airgap-site:nodes:
    - {name: node-1, ip: 127.0.0.11, role: controlplane}
  airgap-site:registry: {namespace: tosend-registry, nodePort: 32080, pushNodePort: 32081, replicas: 1, plainHTTP: true, image: %s}
  airgap-site:objectStore: {kind: external, endpoint: %q}
  airgap-site:talos:
    upstreams: [docker.io, ghcr.io]
  airgap-site:images:
    bundle: %q
    trustedKeys: [%q]
    registry: %q
    linkBytesPerSecond: 1000000
    list: [%q, %q]
`, pinnedRegistryImage, s.site.S3Endpoint, bundleDir, bundleDir+".pub", counter.addr, alpha, beta))
	setSecrets(t, stack, map[string]string{"s3AccessKey": s.site.AccessKey, "s3SecretKey": s.site.SecretKey})
	defer s.pulumi(t, "destroy", "-s", stack, "--yes", "--skip-preview")

	// preview is what `airgap site preview` says the up sends. Once the site's provider is
	// configured at preview (after the first up: before it, its push password is not known
	// and the engine calls it for no image), a plain `pulumi preview` says the same
	// (provider/plan.go), or nothing when nothing is sent.
	deployed := false
	preview := func(t *testing.T) (string, int64) {
		t.Helper()
		out, said := bytesToSend(t, stack)
		if !deployed {
			return out, said
		}
		plain := s.mustPulumi(t, "preview", "-s", stack, "--policy-pack", s.policyPack)
		m := sendTotal.FindStringSubmatch(plain)
		switch {
		case said == 0 && m != nil:
			t.Errorf("pulumi preview says the up sends %s bytes; airgap site preview says nothing:\n%s", m[1], lastLines(plain, 20))
		case said > 0 && (m == nil || m[1] != strconv.FormatInt(said, 10)):
			t.Errorf("pulumi preview does not say the %d bytes airgap site preview says:\n%s", said, lastLines(plain, 20))
		}
		return out, said
	}
	// up runs the up and returns the bytes the proxy saw cross.
	up := func(t *testing.T) int64 {
		t.Helper()
		before := counter.bytes.Load()
		s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview", "--policy-pack", s.policyPack)
		return counter.bytes.Load() - before
	}
	within := func(t *testing.T, said, crossed int64) {
		t.Helper()
		if diff := float64(said - crossed); crossed == 0 || diff > 0.01*float64(crossed) || -diff > 0.01*float64(crossed) {
			t.Errorf("preview said %d bytes, the up sent %d through the proxy: not within 1%%", said, crossed)
		}
		t.Logf("preview said %d bytes, the up sent %d", said, crossed)
	}

	if !t.Run("never deployed: everything, the base once", func(t *testing.T) {
		out, said := preview(t)
		for _, want := range []string{alpha, beta, "by 2 of 2 images: about ", "at images.linkBytesPerSecond 1000000"} {
			if !strings.Contains(out, want) {
				t.Errorf("preview does not say %q:\n%s", want, lastLines(out, 12))
			}
		}
		within(t, said, up(t))
	}) {
		t.FailNow()
	}
	deployed = true

	t.Run("converged: nothing", func(t *testing.T) {
		out, said := preview(t)
		if said != 0 || !unchanged(out, alpha) || !unchanged(out, beta) {
			t.Errorf("a converged stack sends %d bytes:\n%s", said, lastLines(out, 12))
		}
	})

	t.Run("an image added: its own layer and config", func(t *testing.T) {
		writeBundle(t, bundleDir, map[string]v1.Image{gamma: imgs[2]}, nil)
		s.mustPulumi(t, "config", "set", "-s", stack, "--path", "images.list[2]", gamma)
		out, said := preview(t)
		if !strings.Contains(out, "by 1 of 3 images") || !unchanged(out, alpha) || !unchanged(out, beta) || unchanged(out, gamma) {
			t.Errorf("preview after adding an image:\n%s", lastLines(out, 12))
		}
		if said > 2<<20 {
			t.Errorf("preview says %d bytes for one image whose own layer is 1 MiB: the base counted again", said)
		}
		within(t, said, up(t))
	})
}

// unchanged reports whether the bytes-to-send report in out says ref is unchanged.
func unchanged(out, ref string) bool {
	_, report, _ := strings.Cut(out, "Bytes the up will send")
	for _, l := range strings.Split(report, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == ref {
			return strings.Contains(l, "unchanged")
		}
	}
	return false
}
