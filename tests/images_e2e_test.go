//go:build e2e

package tests

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airgap-site/provider/contract"
)

// TestImages drives airgap:index:Image through the real engine against the real registry on
// the real S3 server: create, a no-op second up, one changed image, drift repaired after a
// refresh, and bad sources failing cleanly.
func TestImages(t *testing.T) {
	// Parallel: its own stack, namespace, ports and registry; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s3Registry(t, regAddr, "/images-e2e")
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

	st := newTestStack(t, "images", stackOptions{upstreams: []string{"docker.io", "ghcr.io", ecrHost},
		images: map[string]any{"bundle": bundleDir, "trustedKeys": []string{bundleDir + ".pub"}, "registry": counter.addr,
			"list": []string{"docker.io/library/alpha:1", "docker.io/library/beta:1", ecrHost + "/factory/gamma:3", "ghcr.io/org/multi:2"}}})
	stack := st.name

	pullDigest := func(t *testing.T, repo, tag string) v1.Hash {
		t.Helper()
		d, err := registryDigest(regAddr, repo+":"+tag)
		if err != nil {
			t.Fatalf("%s/%s:%s: %v", regAddr, repo, tag, err)
		}
		return d
	}

	t.Run("create", func(t *testing.T) {
		st.up(t, "--policy-pack", s.policyPack)
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
		out := st.up(t)
		if after := counter.snapshot(); after != before {
			t.Errorf("no-op up sent data: uploads/mounts/bytes %v -> %v\n%s", before, after, lastLines(out, 15))
		}
	})

	t.Run("one changed image updates only that image", func(t *testing.T) {
		changed := layeredImages(t, 1, 1<<20, 512<<10)[0]
		writeBundle(t, bundleDir, map[string]v1.Image{"docker.io/library/beta:1": changed}, nil)
		out, err := st.preview(t, "--diff")
		// That image, the AcceptedBundle recording the new bundle's sequence, the Retention
		// keeping the version the tag moves from, and the RegistryUsage measuring after it.
		if err != nil || !strings.Contains(out, "4 to update") || strings.Count(out, "airgap:index:Image: (update)") != 1 ||
			strings.Count(out, "airgap:index:Retention: (update)") != 1 || strings.Count(out, "airgap:index:RegistryUsage: (update)") != 1 {
			t.Fatalf("preview after changing one image: %v\n%s", err, lastLines(out, 20))
		}
		before := counter.uploads.Load()
		st.up(t)
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
		st.up(t)
		if got := pullDigest(t, "docker.io/library/alpha", "1"); got != digest {
			t.Errorf("alpha:1 after repair is %s, want %s", got, digest)
		}
	})

	t.Run("unknown reference fails before anything is copied", func(t *testing.T) {
		before, _ := s.pulumi(t, "stack", "export", "-s", stack)
		st.config(t, "images.list[4]", "docker.io/library/missing:9")
		defer st.unset(t, "images.list[4]")
		out, err := st.tryUp(t)
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
		st.config(t, "images.list[4]", "docker.io/library/delta:1")
		out, err := st.tryUp(t)
		if err == nil || !strings.Contains(out, "corrupt") {
			t.Fatalf("corrupt blob: err %v\n%s", err, lastLines(out, 20))
		}
		// Restored, the next up converges.
		if err := os.WriteFile(blobPath, good, 0o644); err != nil {
			t.Fatal(err)
		}
		st.up(t)
		want, _ := bad.Digest()
		if got := pullDigest(t, "docker.io/library/delta", "1"); got != want {
			t.Errorf("delta:1 is %s, want %s", got, want)
		}
	})
}

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

	st := newTestStack(t, "interrupt", stackOptions{images: map[string]any{"bundle": bundleDir, "trustedKeys": []string{bundleDir + ".pub"},
		"registry": counter.addr, "retrySeconds": 5, "timeoutSeconds": 10, "list": []string{ref}}})
	stack := st.name
	// Destroyed while the last registry started runs: the rounds start theirs after the stack.
	defer st.teardown(t)

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
			st.up(t)
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
