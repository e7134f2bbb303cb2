//go:build e2e

package tests

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"airgap-site/bundle"
	"airgap-site/components/registry"
	"airgap-site/mirror"
	"airgap-site/provider/contract"
	"airgap-site/siteconfig"
	"airgap-site/talosconfig"
	"airgap-site/tests/harness"
)

// The node images of the test bundle (tests/nodeimages), under their upstream names.
const (
	registryImage = "docker.io/library/registry:3.1.2"
	pauseImage    = "registry.k8s.io/pause:3.10"
	appImage      = "docker.io/factory/app:1"
)

// TestRealNode is the whole mission on the local site's real node, exactly as at a factory:
// the node's containerd is configured from the stack's Talos patch, the first up runs with the
// laptop as bootstrap endpoint (the registry's own image comes from it), the stack pushes the
// bundle into the registry it just deployed, a second up drops the laptop, and with the
// laptop gone a new pod of the factory app starts by its original name, pulled from the
// in-cluster registry. pulumi runs on the laptop (its network namespace), as at a site.
func TestRealNode(t *testing.T) {
	s := &e2e
	if s.site.RealNode == "" {
		t.Skip("the local site has no real node: network namespaces, kubelet and containerd need root")
	}
	cs := clientset(t)
	b, err := bundle.Open(s.nodeBundle)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]v1.Hash{}
	for _, ref := range []string{registryImage, pauseImage, appImage} {
		d, err := b.Lookup(ref)
		if err != nil {
			t.Fatal(err)
		}
		want[ref] = d.Digest
	}

	s.mustPulumi(t, "stack", "init", "dev")
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.bundle", s.nodeBundle)
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.trustedKeys[0]", s.nodeBundle+".pub")
	defer func() {
		out, err := s.pulumiOnLaptop(t, "destroy", "-s", "dev", "--yes", "--skip-preview")
		if err != nil {
			t.Errorf("destroy: %v\n%s", err, lastLines(out, 20))
		}
	}()
	// The laptop serves the verified bundle over TLS; the stack carries its bootstrap CA.
	laptop := startLaptopServe(t)
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "bootstrap.endpoint", "https://"+harness.LaptopIP+":5000")
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "bootstrap.ca", laptop.caPath)
	configureNode(t)

	t.Run("containerd pulls from the laptop only with the bootstrap patch's CA", func(t *testing.T) {
		testBootstrapCA(t, laptop)
	})

	ok := t.Run("first up bootstraps from the laptop", func(t *testing.T) {
		out := s.mustPulumiOnLaptop(t, "up", "-s", "dev", "--yes", "--skip-preview", "--policy-pack", s.policyPack)
		t.Log(lastLines(out, 14))
		if !strings.Contains(out, "bootstrap.endpoint is set") {
			t.Errorf("the up did not warn that bootstrap.endpoint is set:\n%s", lastLines(out, 40))
		}
		if n := laptop.manifestRequests(registryImage); n == 0 {
			t.Errorf("the registry image was not pulled from the laptop (bootstrap endpoint):\n%s", laptop.log())
		}
		if n := laptop.manifestRequests(pauseImage); n == 0 {
			t.Errorf("the pause image was not pulled from the laptop:\n%s", laptop.log())
		}
	})
	if !ok {
		t.FailNow()
	}
	// The first up generated the site's credentials and the registry is Ready: the full patch
	// no longer names the laptop, although bootstrap.endpoint is still set; the bootstrap
	// patch still does.
	t.Run("the full patch of a Ready registry has no bootstrap endpoint", func(t *testing.T) {
		outputs := s.secretOutputs(t, "dev")
		full, _ := outputs["talosMirrorPatch"].(string)
		boot, _ := outputs["talosBootstrapPatch"].(string)
		if full == "" || strings.Contains(full, harness.LaptopIP) {
			t.Errorf("talosMirrorPatch names the laptop (or is empty) with the registry Ready:\n%s", full)
		}
		if !strings.Contains(boot, "https://"+harness.LaptopIP+":5000") {
			t.Errorf("talosBootstrapPatch lost the bootstrap endpoint:\n%s", boot)
		}
		if patch := sitePatch(t); patch != full {
			t.Errorf("airgap site patch does not print the full patch:\n%s", patch)
		}
	})
	configureNode(t)
	nodeAccess = readAccess(t, "dev")

	t.Run("no generated secret in plaintext in the state", func(t *testing.T) {
		state := s.mustPulumi(t, "stack", "export", "-s", "dev")
		for what, secret := range map[string]string{"pull password": nodeAccess.pullPassword, "push password": nodeAccess.pushPassword, "a private key": "PRIVATE KEY"} {
			if strings.Contains(state, secret) {
				t.Errorf("the state holds %s in plaintext", what)
			}
		}
	})

	t.Run("the API server refuses a pod that is not hardened in the registry namespace", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "not-hardened"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: registryImage}}}}
		_, err := cs.CoreV1().Pods(namespace).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
			t.Errorf("creating an unhardened pod: %v, want Forbidden by the restricted Pod Security Standard", err)
		}
	})

	t.Run("registry pods run on the real node with the stack's pod spec", func(t *testing.T) {
		ctx := context.Background()
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, "registry", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods := registryPods(t, cs)
		if len(pods) != 2 {
			t.Fatalf("%d registry pods, want 2", len(pods))
		}
		tmpl := dep.Spec.Template.Spec.Containers[0]
		if !strings.HasSuffix(tmpl.Image, "@"+want[registryImage].String()) {
			t.Errorf("the Deployment names %s, want the registry image by the bundle's digest %s", tmpl.Image, want[registryImage])
		}
		for _, p := range pods {
			assertPodHardened(t, p)
			if p.Spec.NodeName != s.site.RealNode || p.Status.Phase != corev1.PodRunning || !podReady(&p) {
				t.Errorf("pod %s on %q is %s, ready %v", p.Name, p.Spec.NodeName, p.Status.Phase, podReady(&p))
			}
			c := p.Spec.Containers[0]
			for field, pair := range map[string][2]any{
				"image": {c.Image, tmpl.Image}, "args": {c.Args, tmpl.Args}, "env": {c.Env, tmpl.Env},
				"readinessProbe": {c.ReadinessProbe, tmpl.ReadinessProbe}, "livenessProbe": {c.LivenessProbe, tmpl.LivenessProbe},
				"securityContext": {c.SecurityContext, tmpl.SecurityContext}, "lifecycle": {c.Lifecycle, tmpl.Lifecycle},
				"resources": {c.Resources, tmpl.Resources}, "volumeMounts": {ownMounts(c.VolumeMounts), tmpl.VolumeMounts},
			} {
				if !reflect.DeepEqual(pair[0], pair[1]) {
					t.Errorf("pod %s %s = %+v, the Deployment says %+v", p.Name, field, pair[0], pair[1])
				}
			}
			// The S3 credentials come from the Secret, never from a literal value.
			for _, e := range c.Env {
				if strings.HasPrefix(e.Name, "REGISTRY_STORAGE_S3_") && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("pod %s env %s is not from a Secret", p.Name, e.Name)
				}
			}
			// It runs the registry image of the bundle, byte for byte.
			if len(p.Status.ContainerStatuses) == 0 || !strings.HasSuffix(p.Status.ContainerStatuses[0].ImageID, want[registryImage].String()) {
				t.Errorf("pod %s runs %v, want the bundle's %s", p.Name, p.Status.ContainerStatuses, want[registryImage])
			}
		}
	})

	t.Run("the stack pushed the bundle into the registry", func(t *testing.T) {
		digests, _ := s.outputs(t, "dev")["imageDigests"].(map[string]any)
		for ref, d := range want {
			if digests[ref] != d.String() {
				t.Errorf("imageDigests[%s] = %v, want %s", ref, digests[ref], d)
			}
			if got := nodePortDigest(t, ref); got != d {
				t.Errorf("%s through the NodePort is %s, want %s", ref, got, d)
			}
		}
	})

	t.Run("blob GET through the NodePort answers 200 without a redirect", func(t *testing.T) {
		img, err := b.Image(appImage)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := img.ConfigName()
		req, _ := http.NewRequest(http.MethodGet, nodeRegistryURL("/v2/docker.io/factory/app/blobs/"+cfg.String()), nil)
		req.SetBasicAuth(siteconfig.PullUser, nodeAccess.pullPassword)
		resp, err := nodeHTTP().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
			t.Errorf("blob GET through kube-proxy: %s, Location %q", resp.Status, resp.Header.Get("Location"))
		}
	})

	t.Run("200 unauthenticated requests/s leave pulls working", func(t *testing.T) { testAuthFlood(t, cs, nodeAccess.pullPassword) })

	t.Run("second up drops the laptop and rotates the pull and push passwords", func(t *testing.T) {
		old := nodeAccess
		oldPatch, _ := s.secretOutputs(t, "dev")["talosMirrorPatch"].(string)
		s.mustPulumi(t, "config", "rm", "-s", "dev", "bootstrap")
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "registry.rotation.pullPassword", "1")
		// The push password too: a setting of the site's airgap provider, rotated in place from
		// its seed, so the preview knows it and shows no image step (provider 0.5.0).
		s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "registry.rotation.pushPassword", "1")
		var provider string
		for _, st := range previewPlan(t, "dev") {
			switch {
			case strings.Contains(st.URN, "pulumi:providers:airgap::") && !strings.Contains(st.URN, "::default"):
				provider = st.Op
			case strings.Contains(st.URN, contract.ImageToken+"::") && st.Op != "same":
				t.Errorf("rotating the push password would %s %s", st.Op, st.URN)
			}
		}
		if provider != "update" {
			t.Errorf("rotating the push password: the site's airgap provider's step is %q, want update", provider)
		}
		s.mustPulumiOnLaptop(t, "up", "-s", "dev", "--yes", "--skip-preview", "--policy-pack", s.policyPack)
		patch, _ := s.secretOutputs(t, "dev")["talosMirrorPatch"].(string)
		if strings.Contains(patch, harness.LaptopIP) {
			t.Errorf("the exported patch still names the laptop:\n%s", patch)
		}
		// With the bootstrap removed, what the nodes are given names no laptop either.
		if p := sitePatch(t); strings.Contains(p, harness.LaptopIP) || strings.Contains(p, "bootstrap") {
			t.Errorf("airgap site patch names the laptop after the bootstrap was removed:\n%s", p)
		}
		nodeAccess = readAccess(t, "dev")
		if nodeAccess.pullPassword == old.pullPassword || patch == oldPatch || !strings.Contains(patch, nodeAccess.pullPassword) {
			t.Fatalf("rotating the pull password changed neither the password nor the patch")
		}
		if nodeAccess.ca != old.ca || nodeAccess.pushPassword == old.pushPassword {
			t.Errorf("rotating both passwords changed the CA, or not the push password")
		}
		// The registry rolled onto the new htpasswd: the old password is refused, the new works.
		if err := pullThroughNodePort(appImage, old.pullPassword); !isUnauthorized(err) {
			t.Errorf("the old pull password after the rotation: %v, want 401", err)
		}
		if err := pullThroughNodePort(appImage, nodeAccess.pullPassword); err != nil {
			t.Errorf("the new pull password: %v", err)
		}
		configureNode(t)
	})

	t.Run("the app is pulled from the registry, not the laptop", func(t *testing.T) {
		before := laptop.requests()
		runApp(t, cs, "app-1")
		if after := laptop.requests(); after != before {
			t.Errorf("the laptop served %d requests after bootstrap:\n%s", after-before, laptop.log())
		}
	})

	t.Run("with the laptop gone a new app pod starts by its original name", func(t *testing.T) {
		laptop.stop()
		if out, err := crictlAt(e2e.site.NodeContainerdSocket, "rmi", appImage); err != nil {
			t.Fatalf("removing the cached app image: %v\n%s", err, out)
		}
		runApp(t, cs, "app-2")
	})

	t.Run("killing a registry pod: pulls keep working", func(t *testing.T) {
		// From the steady state: the rotation's rollout above is over (no old pod still in its
		// preStop pause), two pods Ready. Killing one then must not fail a pull.
		steady := waitFor(t, 3*time.Minute, func() bool {
			pods := registryPods(t, cs)
			ready := 0
			for _, p := range pods {
				if p.DeletionTimestamp == nil && podReady(&p) {
					ready++
				}
			}
			return len(pods) == 2 && ready == 2
		})
		if !steady {
			t.Fatalf("the registry did not settle to two Ready pods: %d pods", len(registryPods(t, cs)))
		}
		// And the Service lists both as ready endpoints, which kube-proxy's rules follow a
		// moment later (its sync), and a pull through the NodePort answers.
		listed := waitFor(t, time.Minute, func() bool {
			slices, err := cs.DiscoveryV1().EndpointSlices(namespace).List(context.Background(),
				metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + registry.AppName})
			if err != nil {
				return false
			}
			ready := 0
			for _, sl := range slices.Items {
				for _, ep := range sl.Endpoints {
					if ep.Conditions.Ready != nil && *ep.Conditions.Ready && (ep.Conditions.Terminating == nil || !*ep.Conditions.Terminating) {
						ready++
					}
				}
			}
			return ready == 2
		})
		time.Sleep(2 * time.Second)
		if !listed || !waitFor(t, time.Minute, func() bool { return pullThroughNodePort(appImage, nodeAccess.pullPassword) == nil }) {
			t.Fatal("the registry Service does not route to two Ready pods before the pod is killed")
		}
		victim := registryPods(t, cs)[0].Name
		var requests, failures atomic.Int64
		var firstFailure atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				requests.Add(1)
				if err := pullThroughNodePort(appImage, nodeAccess.pullPassword); err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
			}
		}()
		if err := cs.CoreV1().Pods(namespace).Delete(context.Background(), victim, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// Until the old pod is gone for good (its preStop pause and shutdown included) and two
		// others serve.
		replaced := waitFor(t, 3*time.Minute, func() bool {
			if _, err := cs.CoreV1().Pods(namespace).Get(context.Background(), victim, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false
			}
			ready := 0
			for _, p := range registryPods(t, cs) {
				if podReady(&p) {
					ready++
				}
			}
			return ready == 2
		})
		time.Sleep(2 * time.Second)
		close(stop)
		wg.Wait()
		if !replaced {
			t.Errorf("the Deployment did not replace pod %s with a Ready one", victim)
		}
		t.Logf("%d pulls through the NodePort while pod %s was replaced, %d failed", requests.Load(), victim, failures.Load())
		if failures.Load() != 0 || requests.Load() < 10 {
			t.Errorf("%d of %d pulls failed (first: %v)", failures.Load(), requests.Load(), firstFailure.Load())
		}
	})

	t.Run("preview-no-changes", func(t *testing.T) {
		out, err := s.pulumiOnLaptop(t, "preview", "-s", "dev", "--expect-no-changes", "--diff", "--policy-pack", s.policyPack)
		if err != nil {
			t.Fatalf("second preview reports changes or failed: %v\n%s", err, lastLines(out, 30))
		}
	})

	for _, name := range []string{"app-1", "app-2"} {
		_ = cs.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{})
	}
}

// pulumiOnLaptop runs pulumi on the laptop: inside its network namespace, where the nodes'
// addresses are on the LAN and the API server is relayed to its usual loopback port.
func (s *suite) pulumiOnLaptop(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p := s.pulumiCommand(s.project, args...)
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + s.site.LaptopNamespace, "--", p.Path}, p.Args[1:]...)...)
	cmd.Dir, cmd.Env = s.project, s.pulumiEnv()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("pulumi %s on the laptop (%.1fs)", strings.Join(args, " "), time.Since(start).Seconds())
	return string(out), err
}

func (s *suite) mustPulumiOnLaptop(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.pulumiOnLaptop(t, args...)
	if err != nil {
		t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, lastLines(out, 40))
	}
	return out
}

// configureNode does what Talos does with the stack's mirror patch: it configures the real
// node's containerd from `airgap site patch` (the bootstrap patch before the first up, the
// stack's talosMirrorPatch output after it).
func configureNode(t *testing.T) {
	t.Helper()
	if err := e2e.site.WriteNodeMirrors(context.Background(), []byte(sitePatch(t))); err != nil {
		t.Fatal(err)
	}
}

// sitePatch is what `airgap site patch -s dev` prints.
func sitePatch(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(e2e.airgap, "site", "patch", "-s", "dev", "--project", e2e.project)
	cmd.Env = e2e.pulumiEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	patch, err := cmd.Output()
	if err != nil {
		t.Fatalf("airgap site patch: %v\n%s", err, stderr.String())
	}
	return string(patch)
}

// testBootstrapCA: node-1's containerd, configured from the bootstrap patch, pulls the app
// image from the laptop over TLS; the same patch without the laptop's CA (a node that would
// trust whatever answers at the laptop's address by the system roots) fails the TLS handshake
// before any request reaches the laptop. The site registry does not exist yet, so the laptop
// is the only endpoint that could answer.
func testBootstrapCA(t *testing.T, laptop *laptopServe) {
	patch := []byte(sitePatch(t))
	mirrors, err := talosconfig.Parse(patch)
	if err != nil {
		t.Fatal(err)
	}
	laptopHost := net.JoinHostPort(harness.LaptopIP, "5000")
	var withoutCA talosconfig.Mirrors
	withoutCA.Mirrors = mirrors.Mirrors
	hasCA := false
	for _, h := range mirrors.Hosts {
		if h.Host == laptopHost {
			hasCA = h.CA != ""
			continue
		}
		withoutCA.Hosts = append(withoutCA.Hosts, h)
	}
	if !hasCA {
		t.Fatalf("the bootstrap patch carries no CA for the laptop %s:\n%s", laptopHost, patch)
	}
	version := "v1.11.5"
	if strings.Contains(string(patch), "kind: RegistryMirrorConfig") {
		version = "v1.12.11"
	}
	broken, err := talosconfig.Render(&withoutCA, version)
	if err != nil {
		t.Fatal(err)
	}
	socket := e2e.site.NodeContainerdSocket
	_, _ = crictlAt(socket, "rmi", appImage)
	if err := e2e.site.WriteNodeMirrors(context.Background(), broken); err != nil {
		t.Fatal(err)
	}
	before := laptop.manifestRequests(appImage)
	if out, err := crictlAt(socket, "pull", appImage); err == nil {
		t.Errorf("containerd pulled %s from the laptop without the bootstrap CA:\n%s", appImage, out)
	} else {
		t.Logf("without the bootstrap CA: %s", lastLines(out, 1))
	}
	if n := laptop.manifestRequests(appImage) - before; n != 0 {
		t.Errorf("the laptop answered %d manifest requests to a node without its CA", n)
	}
	if !strings.Contains(laptop.log(), "TLS handshake error") {
		t.Errorf("the laptop saw no failed TLS handshake from the node:\n%s", laptop.log())
	}

	if err := e2e.site.WriteNodeMirrors(context.Background(), patch); err != nil {
		t.Fatal(err)
	}
	if out, err := crictlAt(socket, "pull", appImage); err != nil {
		t.Errorf("containerd with the bootstrap patch could not pull %s from the laptop: %v\n%s\n%s", appImage, err, out, laptop.log())
	}
	if n := laptop.manifestRequests(appImage) - before; n == 0 {
		t.Errorf("the pull with the bootstrap CA did not come from the laptop:\n%s", laptop.log())
	}
	// Later steps pull the app from the registry: nothing cached from the laptop.
	if out, err := crictlAt(socket, "rmi", appImage); err != nil {
		t.Errorf("removing %s: %v\n%s", appImage, err, out)
	}
}

// laptopServe is `airgap serve` on the laptop's address, serving the node bundle verified
// against the test bed's key, over TLS from a bootstrap CA of its own; its log counts what it
// served.
type laptopServe struct {
	cmd     *exec.Cmd
	logPath string
	// caPath is the bootstrap CA it generated, what the stack's bootstrap.ca names.
	caPath string
	once   sync.Once
}

func startLaptopServe(t *testing.T) *laptopServe {
	t.Helper()
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "bootstrap-tls")
	l := &laptopServe{logPath: filepath.Join(dir, "serve.log"), caPath: filepath.Join(tlsDir, "ca.crt")}
	logFile, err := os.Create(l.logPath)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(harness.LaptopIP, "5000")
	l.cmd = exec.Command("nsenter", "--net=/run/netns/"+e2e.site.LaptopNamespace, "--",
		e2e.airgap, "serve", "--bundle", e2e.nodeBundle, "--trusted-key", e2e.nodeBundle+".pub",
		"--tls-dir", tlsDir, "--addr", addr)
	l.cmd.Stdout, l.cmd.Stderr = logFile, logFile
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.stop)
	ok := waitFor(t, 30*time.Second, func() bool {
		c, err := harness.DialIn(context.Background(), e2e.site.LaptopNamespace, addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	if !ok {
		t.Fatalf("airgap serve did not listen on %s:\n%s", addr, l.log())
	}
	return l
}

func (l *laptopServe) stop() {
	l.once.Do(func() {
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGTERM)
		_ = l.cmd.Wait()
	})
}

func (l *laptopServe) log() string {
	b, _ := os.ReadFile(l.logPath)
	return lastLines(string(b), 30)
}

// requests counts the registry API requests served.
func (l *laptopServe) requests() int {
	return l.count(func(string) bool { return true })
}

// manifestRequests counts successful manifest requests for one image.
func (l *laptopServe) manifestRequests(ref string) int {
	target, err := mirror.TargetOf(ref)
	if err != nil {
		return 0
	}
	return l.count(func(line string) bool {
		return strings.Contains(line, " /v2/"+target.Repository+"/manifests/") && strings.Contains(line, " 200 ")
	})
}

func (l *laptopServe) count(match func(string) bool) int {
	f, err := os.Open(l.logPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, " /v2/") && match(line) {
			n++
		}
	}
	return n
}

// nodeHTTP is an HTTP client on the site network: it connects from inside the node's
// namespace, so the NodePort is reached through kube-proxy's rules as containerd reaches it.
func nodeHTTP() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: nodeTransport()}
}

// nodeAccess is the dev stack's access while TestRealNode runs.
var nodeAccess siteAccess

func nodeTransport() *http.Transport {
	t := siteClient{ca: nodeAccess.ca}.transport()
	t.DisableKeepAlives = true
	t.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
		return harness.DialIn(ctx, e2e.site.NodeNamespace, addr)
	}
	return t
}

func nodeRegistryURL(path string) string {
	return fmt.Sprintf("https://%s:%d%s", harness.NodeIP, nodePort, path)
}

// nodePull are the options of a pull through the NodePort as the pull identity.
func nodePull(password string) []remote.Option {
	return []remote.Option{remote.WithTransport(nodeTransport()),
		remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: siteconfig.PullUser, Password: password}))}
}

func isUnauthorized(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusUnauthorized
}

// nodePortDigest is the digest the site registry serves for an original reference.
func nodePortDigest(t *testing.T, ref string) v1.Hash {
	t.Helper()
	target, err := nodePortRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(target, nodePull(nodeAccess.pullPassword)...)
	if err != nil {
		t.Fatalf("HEAD %s: %v", target, err)
	}
	return desc.Digest
}

func nodePortRef(ref string) (name.Reference, error) {
	return name.ParseReference(fmt.Sprintf("%s:%d/%s", harness.NodeIP, nodePort, ref), name.Insecure)
}

// pullThroughNodePort fetches an image's manifest and config blob through the NodePort as the
// pull identity with password, as a containerd pull starts.
func pullThroughNodePort(ref, password string) error {
	target, err := nodePortRef(ref)
	if err != nil {
		return err
	}
	img, err := remote.Image(target, nodePull(password)...)
	if err != nil {
		return err
	}
	_, err = img.RawConfigFile()
	return err
}

func registryPods(t *testing.T, cs *kubernetes.Clientset) []corev1.Pod {
	t.Helper()
	// The pull endpoint's pods: the push endpoint runs one more.
	pods, err := cs.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/name=" + registry.AppName + ",app.kubernetes.io/component=registry",
	})
	if err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

// ownMounts leaves out the service account token mount that admission adds to every pod.
func ownMounts(mounts []corev1.VolumeMount) []corev1.VolumeMount {
	var out []corev1.VolumeMount
	for _, m := range mounts {
		if !strings.HasPrefix(m.Name, "kube-api-access-") {
			out = append(out, m)
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// runApp starts a pod of the factory app on the real node by its original name and waits
// until its readiness probe passes.
func runApp(t *testing.T, cs *kubernetes.Clientset, podName string) {
	t.Helper()
	t.Cleanup(func() { _ = cs.CoreV1().Pods("default").Delete(context.Background(), podName, metav1.DeleteOptions{}) })
	p, err := e2e.site.RunOnRealNode(context.Background(), podName, appImage, 8080)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pod %s Ready on %s, image %s", p.Name, p.Spec.NodeName, p.Status.ContainerStatuses[0].ImageID)
}
