//go:build e2e

package tests

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/client-go/kubernetes"

	"airgap-site/components/registry"
	"airgap-site/internal/imagetest"
	"airgap-site/mirror"
	"airgap-site/talosconfig"
)

const (
	ecrHost = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
	// portUpstream is a private registry on a port, as factories run them (in the dev stack).
	portUpstream = "registry.local:5443"
)

// testContainerdPulls is the proof of the mirror scheme with the runtime Talos uses: the
// patch the stack exported is written into containerd as Talos would (hosts directory with
// the site CA, CRI auth config with the pull identity); the pull endpoint runs (real binary,
// deployed config and Secrets) on two of the three node endpoints, the first node being
// down; images the push identity pushed under <upstream>/<path> are pulled through CRI over
// TLS, as the kubelet does, by their original names. A wrong password or a missing CA fails.
func testContainerdPulls(t *testing.T, cs *kubernetes.Clientset, outputs map[string]any, access siteAccess) {
	if e2e.site.ContainerdSocket == "" {
		t.Skip("containerd needs root; this run is not root")
	}
	patch, _ := outputs["talosMirrorPatch"].(string)
	mirrors, err := talosconfig.Parse([]byte(patch))
	if err != nil {
		t.Fatalf("parsing the exported mirror patch: %v\n%s", err, patch)
	}
	if len(mirrors.Hosts) == 0 || mirrors.Hosts[0].CA == "" || mirrors.Hosts[0].Password == "" {
		t.Fatalf("the exported patch gives the nodes no CA or pull credentials:\n%s", patch)
	}
	fallback := newObserver(t)
	configure := func(t *testing.T, m *talosconfig.Mirrors) {
		t.Helper()
		if err := e2e.site.WriteMirrors(context.Background(), m, "http://"+fallback.addr); err != nil {
			t.Fatal(err)
		}
	}
	configure(t, mirrors)
	assertHostsLoopbackOnly(t, e2e.site.HostsDir)

	// The node endpoints, in mirror order; the first one is a node that is down.
	endpoints := mirrors.Mirrors[0].Endpoints
	if len(endpoints) != 3 {
		t.Fatalf("docker.io mirror has %d endpoints, want 3 nodes", len(endpoints))
	}
	pull, push := deployedEndpoint(t, cs, kwokNamespace, registry.AppName), deployedEndpoint(t, cs, kwokNamespace, registry.PushName)
	var stops []func()
	for _, e := range endpoints[1:] {
		stop := runRegistry(t, pull.config, pull.env, e.Host)
		t.Cleanup(stop)
		stops = append(stops, stop)
	}
	pushTo := startRegistryOnNode(t, push.config, push.env)
	// The first endpoint containerd tries is really down, so every pull below falls back.
	if c, err := net.DialTimeout("tcp", endpoints[0].Host, time.Second); err == nil {
		c.Close()
		t.Fatalf("first mirror endpoint %s answers; it must be down for the fallback test", endpoints[0].Host)
	}

	// Original references; each is pushed where the mirror scheme stores it (an upstream with
	// a port, registry.local:5443, as registry.local_5443/...).
	images := []string{"docker.io/library/demo:1", ecrHost + "/factory/mes-api:7", portUpstream + "/factory/mes:7"}
	const spare = "docker.io/library/demo:2" // pulled only by the negative cases
	digests := map[string]v1.Hash{}
	for _, original := range append(images, spare) {
		target, err := mirror.TargetOf(original)
		if err != nil {
			t.Fatal(err)
		}
		img := runnableImage(t)
		ref, _ := name.ParseReference(pushTo+"/"+target.Repository+":"+target.Tag, name.Insecure)
		if err := remote.Write(ref, img, access.push().options()...); err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
		digests[original], _ = img.Digest()
	}
	spareDigest := digests[spare]
	delete(digests, spare)

	for original, digest := range digests {
		t.Run("pull "+original, func(t *testing.T) {
			out, err := crictl(t, "pull", original)
			if err != nil {
				t.Fatalf("CRI pull %s through the mirror: %v\n%s", original, err, out)
			}
			if got := repoDigest(t, original); got != digest.String() {
				t.Errorf("pulled %s as %s, pushed %s", original, got, digest)
			}
		})
	}
	if n := fallback.count.Load(); n != 0 {
		t.Errorf("containerd contacted the upstream fallback %d times while mirrors were up", n)
	}

	// The same patch with one thing wrong, as a node with a stale or mistyped config has it.
	for _, tc := range []struct {
		name   string
		change func(h *talosconfig.Host)
	}{
		{"wrong password", func(h *talosconfig.Host) { h.Password = "not-the-pull-password" }},
		{"without the CA", func(h *talosconfig.Host) { h.CA = "" }},
	} {
		t.Run("pull fails "+tc.name, func(t *testing.T) {
			broken := *mirrors
			broken.Hosts = slices.Clone(mirrors.Hosts)
			for i := range broken.Hosts {
				tc.change(&broken.Hosts[i])
			}
			configure(t, &broken)
			if out, err := crictl(t, "pull", spare); err == nil {
				t.Errorf("pull %s succeeded %s:\n%s", spare, tc.name, out)
			} else {
				t.Logf("refused %s: %s", tc.name, lastLines(out, 1))
			}
		})
	}
	t.Run("the right patch pulls again", func(t *testing.T) {
		configure(t, mirrors)
		if out, err := crictl(t, "pull", spare); err != nil {
			t.Fatalf("pull %s with the exported patch: %v\n%s", spare, err, out)
		}
		if got := repoDigest(t, spare); got != spareDigest.String() {
			t.Errorf("pulled %s as %s, pushed %s", spare, got, spareDigest)
		}
	})

	t.Run("all endpoints dead", func(t *testing.T) {
		for _, stop := range stops {
			stop()
		}
		start := time.Now()
		out, err := crictl(t, "pull", "docker.io/library/demo:not-cached")
		took := time.Since(start)
		if err == nil {
			t.Fatalf("pull succeeded with every endpoint dead:\n%s", out)
		}
		// Dead loopback ports refuse at once; a hang here would mean containerd is waiting
		// on an address outside the machine.
		if took > time.Minute {
			t.Errorf("pull took %s to fail", took)
		}
		t.Logf("failed after %.1fs, upstream fallback contacted %d times (on loopback): %s",
			took.Seconds(), fallback.count.Load(), lastLines(out, 1))
	})
}

// runnableImage is a random image with a platform: containerd refuses images without one.
func runnableImage(t *testing.T) v1.Image {
	return imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 1<<20), imagetest.Layer(t, 1<<20))
}

func crictl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return crictlAt(e2e.site.ContainerdSocket, args...)
}

// crictlAt runs crictl against the containerd listening on socket; the output is stdout and
// stderr when it fails, stdout otherwise.
func crictlAt(socket string, args ...string) (string, error) {
	sock := "unix://" + socket
	cmd := exec.Command(filepath.Join(e2e.bin, "crictl"), append([]string{
		"--runtime-endpoint", sock, "--image-endpoint", sock, "--timeout", "90s"}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func repoDigest(t *testing.T, ref string) string {
	t.Helper()
	out, err := crictl(t, "inspecti", "-o", "json", ref)
	if err != nil {
		t.Fatalf("inspecti %s: %v\n%s", ref, err, out)
	}
	var info struct {
		Status struct {
			RepoDigests []string `json:"repoDigests"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	for _, d := range info.Status.RepoDigests {
		if _, digest, ok := strings.Cut(d, "@"); ok {
			return digest
		}
	}
	return ""
}

// assertHostsLoopbackOnly checks that every URL containerd may contact is on loopback.
func assertHostsLoopbackOnly(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*", "hosts.toml"))
	if len(files) == 0 {
		t.Fatal("no hosts.toml written")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			i := strings.Index(line, "http")
			if i < 0 || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			if !strings.Contains(line[i:], "://127.") {
				t.Errorf("%s: non-loopback address: %s", f, line)
			}
		}
	}
}

// observer is a loopback TCP port that counts and drops connections: the "upstream" of every
// mirror in these tests.
type observer struct {
	addr  string
	count atomic.Int64
}

func newObserver(t *testing.T) *observer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			o.count.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return o
}
