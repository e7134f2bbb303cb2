//go:build e2e

package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"airgap-site/bundle"
	"airgap-site/tests/harness"
)

// coldRestartLimit is the documented time (docs/RELIABILITY.md) within which the site is back
// after a power cut: the control plane and node-1 up, the registry pods Ready and the app pod
// Running. It bounds a behaviour (the site comes back by itself); the figure measured is
// logged and documented.
const coldRestartLimit = 5 * time.Minute

// kubeletGCLimit bounds the wait for kubelet's forced image GC: it runs when the kubelet
// starts, and again every 5 minutes (kubelet's fixed ImageGCPeriod) when its first pass finds
// no stats yet.
const kubeletGCLimit = 7 * time.Minute

// TestColdRestart: the dev stack converged on the real node (bootstrapped from the laptop,
// then the laptop gone), the stack's talosImagePinPatch given to node-1; a power cut kills
// every node daemon, every container and the control plane; started again, with no laptop and
// no network, the registry pods come back Ready and the app pod Running by themselves. Then,
// with kubelet's image GC forced (thresholds 1%/0%, no minimum age) while nothing runs the
// registry, the unpinned app image is collected but the pinned registry and pause images
// stay, and the registry starts again from them with nothing to pull from.
func TestColdRestart(t *testing.T) {
	s := &e2e
	if s.site.RealNode == "" {
		t.Skip("the local site has no real node: network namespaces, kubelet and containerd need root")
	}
	ctx := context.Background()
	cs := clientset(t)
	b, err := bundle.Open(s.nodeBundle)
	if err != nil {
		t.Fatal(err)
	}
	regDigest, err := b.Lookup(registryImage)
	if err != nil {
		t.Fatal(err)
	}

	// The dev stack on node-1, as TestRealNode converges it (that test leaves the stack
	// destroyed; this one removes it, so either may run first).
	if _, err := s.pulumi(t, "stack", "init", "dev"); err != nil {
		s.mustPulumi(t, "stack", "select", "dev")
	}
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.bundle", s.nodeBundle)
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "images.trustedKeys[0]", s.nodeBundle+".pub")
	defer func() {
		_ = cs.CoreV1().Pods("default").Delete(ctx, "cold-app", metav1.DeleteOptions{})
		if out, err := s.pulumiOnLaptop(t, "destroy", "-s", "dev", "--yes", "--skip-preview"); err != nil {
			t.Errorf("destroy: %v\n%s", err, lastLines(out, 20))
		}
		s.mustPulumi(t, "stack", "rm", "-s", "dev", "--yes")
	}()
	laptop := startLaptopServe(t)
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "bootstrap.endpoint", "https://"+harness.LaptopIP+":5000")
	s.mustPulumi(t, "config", "set", "-s", "dev", "--path", "bootstrap.ca", laptop.caPath)
	configureNode(t)
	s.mustPulumiOnLaptop(t, "up", "-s", "dev", "--yes", "--skip-preview", "--policy-pack", s.policyPack)
	configureNode(t)
	nodeAccess = readAccess(t, "dev")

	t.Run("the stack's pin patch pins the registry image on node-1", func(t *testing.T) {
		patch, _ := s.outputs(t, "dev")["talosImagePinPatch"].(string)
		pinned, err := s.site.WriteNodeImagePins(ctx, []byte(patch))
		if err != nil {
			t.Fatalf("%v\n%s", err, patch)
		}
		want := "docker.io/library/registry@" + regDigest.Digest.String()
		if len(pinned) != 1 || pinned[0] != want {
			t.Errorf("the pin patch pins %v, want [%s]", pinned, want)
		}
		imgs := nodeImages(t)
		if img := imgs.find(registryImage, regDigest.Digest); img == nil || !img.Pinned {
			t.Errorf("the registry image on node-1 is not pinned after containerd restarted: %+v", img)
		}
		if img := imgs.find(pauseImage, v1.Hash{}); img == nil || !img.Pinned {
			t.Errorf("the sandbox image on node-1 is not pinned: %+v", img)
		}
		if img := imgs.find(appImage, v1.Hash{}); img != nil && img.Pinned {
			t.Errorf("the app image is pinned: %+v", img)
		}
	})
	laptop.stop()
	if _, err := s.site.RunOnRealNode(ctx, "cold-app", appImage, 8080); err != nil {
		t.Fatal(err)
	}

	t.Run("after a power cut the site comes back by itself with no laptop", func(t *testing.T) {
		before := laptop.requests()
		if err := s.site.PowerOff(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := s.site.PowerOn(ctx); err != nil {
			t.Fatal(err)
		}
		booted := time.Since(start)
		registryAt := waitRegistryReady(t, cs, start, coldRestartLimit)
		appAt := waitPodReady(t, cs, "cold-app", start, coldRestartLimit)
		t.Logf("cold restart: control plane and node-1 up in %.1fs, registry Ready at %.1fs, app pod Running and Ready at %.1fs (limit %s)",
			booted.Seconds(), registryAt.Seconds(), appAt.Seconds(), coldRestartLimit)
		if laptop.requests() != before {
			t.Errorf("the laptop was asked for something after it left")
		}
		if err := pullThroughNodePort(appImage, nodeAccess.pullPassword); err != nil {
			t.Errorf("pulling through the NodePort after the restart: %v", err)
		}
	})

	t.Run("with image GC forced the registry still starts from its pinned images", func(t *testing.T) {
		if err := cs.CoreV1().Pods("default").Delete(ctx, "cold-app", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		replicas := scaleRegistry(t, cs, nil)
		defer func() {
			if err := s.site.RestartKubelet(ctx, nil); err != nil {
				t.Errorf("restarting kubelet with image GC off: %v", err)
			}
		}()
		// Nothing runs the registry, the pause or the app image now: only a pin keeps them.
		if !waitFor(t, 2*time.Minute, func() bool {
			pods, _ := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + s.site.RealNode})
			return pods != nil && len(pods.Items) == 0
		}) {
			t.Fatalf("pods still on %s after scaling the registry to zero", s.site.RealNode)
		}
		gcStart := time.Now()
		if err := s.site.RestartKubelet(ctx, &harness.ImageGC{HighPercent: 1, LowPercent: 0}); err != nil {
			t.Fatal(err)
		}
		if !waitFor(t, kubeletGCLimit, func() bool { return nodeImages(t).find(appImage, v1.Hash{}) == nil }) {
			t.Fatalf("kubelet's image GC did not collect the unpinned app image in %s", kubeletGCLimit)
		}
		t.Logf("kubelet's image GC collected the unpinned app image %.1fs after its restart", time.Since(gcStart).Seconds())
		imgs := nodeImages(t)
		if imgs.find(registryImage, regDigest.Digest) == nil {
			t.Fatalf("kubelet's image GC removed the pinned registry image: %+v", imgs)
		}
		if imgs.find(pauseImage, v1.Hash{}) == nil {
			t.Fatalf("kubelet's image GC removed the pinned pause image: %+v", imgs)
		}
		// The registry is down and the laptop gone: its pods can only start from the node.
		start := time.Now()
		scaleRegistry(t, cs, replicas)
		at := waitRegistryReady(t, cs, start, coldRestartLimit)
		t.Logf("the registry Ready %.1fs after scaling back, from the pinned images", at.Seconds())
		p, err := s.site.RunOnRealNode(ctx, "cold-app", appImage, 8080)
		if err != nil {
			t.Fatalf("the app (collected from the node) from the restarted registry: %v", err)
		}
		t.Logf("the app pulled again from the site registry: %s", p.Status.ContainerStatuses[0].ImageID)
	})
}

// waitRegistryReady waits until every Deployment of the registry namespace has all its
// replicas Ready and returns when, since start.
func waitRegistryReady(t *testing.T, cs *kubernetes.Clientset, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	var last string
	ok := waitFor(t, limit-time.Since(start), func() bool {
		deps, err := cs.AppsV1().Deployments(namespace).List(context.Background(), metav1.ListOptions{})
		if err != nil || len(deps.Items) == 0 {
			last = fmt.Sprint(err)
			return false
		}
		for _, d := range deps.Items {
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			if d.Status.ObservedGeneration < d.Generation || d.Status.ReadyReplicas != want || d.Status.UpdatedReplicas != want {
				last = fmt.Sprintf("%s: %d of %d Ready", d.Name, d.Status.ReadyReplicas, want)
				return false
			}
		}
		// The pods themselves: a Deployment's status lags the pods after the API server restarts.
		for _, p := range registryPods(t, cs) {
			if !podReady(&p) {
				last = fmt.Sprintf("pod %s not Ready: %s", p.Name, p.Status.Phase)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("the registry was not Ready within %s: %s", limit, last)
	}
	return time.Since(start)
}

// waitPodReady waits until a pod of the default namespace is Running and Ready.
func waitPodReady(t *testing.T, cs *kubernetes.Clientset, name string, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	var p *corev1.Pod
	ok := waitFor(t, limit-time.Since(start), func() bool {
		var err error
		p, err = cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && podReady(p)
	})
	if !ok {
		t.Fatalf("pod %s not Running and Ready within %s: %+v", name, limit, p)
	}
	return time.Since(start)
}

// scaleRegistry scales every Deployment of the registry namespace: to zero when replicas is
// nil (returning the replicas they had), else back to the given ones.
func scaleRegistry(t *testing.T, cs *kubernetes.Clientset, replicas map[string]int32) map[string]int32 {
	t.Helper()
	ctx := context.Background()
	deps, err := cs.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	had := map[string]int32{}
	for _, d := range deps.Items {
		scale, err := cs.AppsV1().Deployments(namespace).GetScale(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		had[d.Name] = scale.Spec.Replicas
		scale.Spec.Replicas = 0
		if replicas != nil {
			scale.Spec.Replicas = replicas[d.Name]
		}
		if _, err := cs.AppsV1().Deployments(namespace).UpdateScale(ctx, d.Name, scale, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	return had
}

// nodeImage is one image in node-1's containerd, as the kubelet sees it (crictl images).
type nodeImage struct {
	RepoTags    []string `json:"repoTags"`
	RepoDigests []string `json:"repoDigests"`
	Pinned      bool     `json:"pinned"`
}

type nodeImageList []nodeImage

// nodeImages lists node-1's images through CRI.
func nodeImages(t *testing.T) nodeImageList {
	t.Helper()
	out, err := crictlAt(e2e.site.NodeContainerdSocket, "images", "-o", "json")
	if err != nil {
		t.Fatalf("crictl images: %v\n%s", err, out)
	}
	var list struct {
		Images []nodeImage `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("crictl images: %v\n%s", err, out)
	}
	return list.Images
}

// find is the image of a reference (by its digest when given, else by its tag), or nil.
func (l nodeImageList) find(ref string, digest v1.Hash) *nodeImage {
	repo := ref[:strings.LastIndex(ref, ":")]
	for i, img := range l {
		names := img.RepoTags
		want := ref
		if digest != (v1.Hash{}) {
			names, want = img.RepoDigests, repo+"@"+digest.String()
		}
		for _, n := range names {
			if n == want {
				return &l[i]
			}
		}
	}
	return nil
}
