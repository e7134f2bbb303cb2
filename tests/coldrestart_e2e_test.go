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
	"airgap-site/components/registry"
	"airgap-site/tests/harness"
)

// coldRestartLimit is the documented time (docs/RELIABILITY.md) within which the site is back
// after a power cut: the control plane and node-1 up, the registry pods Ready and the app pod
// Running. It bounds a behaviour (the site comes back by itself); the figure measured is
// logged and documented.
const coldRestartLimit = 5 * time.Minute

// TestColdRestart: the dev stack converged on the real node (bootstrapped from the laptop,
// then the laptop gone), the stack's talosImagePinPatch given to node-1; a power cut kills
// every node daemon, every container and the control plane; started again, with no laptop and
// no network, the registry pods come back Ready and the app pod Running by themselves. Then,
// with nothing running the registry, an image GC by kubelet's rule (collectImages) removes the
// unpinned app image but keeps the pinned registry and pause images, and the registry starts
// again from them with nothing to pull from.
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
	// destroyed; this one removes it and keeps its stack file, so either may run first).
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
		// The stack file (Pulumi.dev.yaml, the dev stack's settings) stays for TestRealNode.
		_, _ = s.pulumi(t, "config", "rm", "-s", "dev", "bootstrap")
		s.mustPulumi(t, "stack", "rm", "-s", "dev", "--yes", "--preserve-config")
		// node-1 as this test found it: no pins, no image (TestRealNode counts what its first
		// up pulls from the laptop).
		if err := s.site.ClearNodeImagePins(ctx); err != nil {
			t.Errorf("clearing node-1's pins: %v", err)
		}
		socket := s.site.NodeContainerdSocket
		waitFor(t, time.Minute, func() bool {
			out, err := crictlAt(socket, "ps", "-a", "-q")
			return err == nil && strings.TrimSpace(out) == ""
		})
		// One by one: crictl rmi --prune skips pinned images (and containerd keeps their pin
		// label once set).
		for _, img := range nodeImages(t) {
			if out, err := crictlAt(socket, "rmi", img.ID); err != nil {
				t.Errorf("removing %s from node-1: %v\n%s", img.ID, err, out)
			}
		}
		if imgs := nodeImages(t); len(imgs) != 0 {
			t.Errorf("images left on node-1: %+v", imgs)
		}
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
		var pullErr error
		if !waitFor(t, coldRestartLimit-time.Since(start), func() bool {
			pullErr = pullThroughNodePort(appImage, nodeAccess.pullPassword)
			return pullErr == nil
		}) {
			t.Errorf("pulling through the NodePort after the restart: %v", pullErr)
		}
		t.Logf("cold restart: control plane and node-1 up in %.1fs, registry Ready at %.1fs, app pod Running and Ready at %.1fs, a pull through the NodePort at %.1fs (limit %s)",
			booted.Seconds(), registryAt.Seconds(), appAt.Seconds(), time.Since(start).Seconds(), coldRestartLimit)
		if laptop.requests() != before {
			t.Errorf("the laptop was asked for something after it left")
		}
	})

	t.Run("after image GC the registry still starts from its pinned images", func(t *testing.T) {
		if err := cs.CoreV1().Pods("default").Delete(ctx, "cold-app", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		replicas := scaleRegistry(t, cs, nil)
		restored := false
		defer func() {
			// The stack's destroy needs the push endpoint back, whatever failed here.
			if !restored {
				scaleRegistry(t, cs, replicas)
			}
		}()
		// Nothing runs the registry, the pause or the app image now: only a pin keeps them.
		if !waitFor(t, 2*time.Minute, func() bool {
			pods, _ := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + s.site.RealNode})
			out, _ := crictlAt(s.site.NodeContainerdSocket, "ps", "-a", "-q")
			return pods != nil && len(pods.Items) == 0 && strings.TrimSpace(out) == ""
		}) {
			t.Fatalf("pods or containers still on %s after scaling the registry to zero", s.site.RealNode)
		}
		removed := collectImages(t)
		t.Logf("image GC removed %v", removed)
		imgs := nodeImages(t)
		if imgs.find(appImage, v1.Hash{}) != nil {
			t.Fatalf("the unpinned, unused app image survived the image GC: %+v", imgs)
		}
		if imgs.find(registryImage, regDigest.Digest) == nil {
			t.Fatalf("the image GC removed the pinned registry image: %+v", imgs)
		}
		if imgs.find(pauseImage, v1.Hash{}) == nil {
			t.Fatalf("the image GC removed the pinned pause image: %+v", imgs)
		}
		// The registry is down and the laptop gone: its pods can only start from the node.
		start := time.Now()
		scaleRegistry(t, cs, replicas)
		restored = true
		at := waitRegistryReady(t, cs, start, coldRestartLimit)
		t.Logf("the registry Ready %.1fs after scaling back, from the pinned images", at.Seconds())
		p, err := s.site.RunOnRealNode(ctx, "cold-app", appImage, 8080)
		if err != nil {
			t.Fatalf("the app (collected from the node) from the restarted registry: %v", err)
		}
		t.Logf("the app pulled again from the site registry: %s", p.Status.ContainerStatuses[0].ImageID)
	})
}

// collectImages applies kubelet's image GC rule to node-1 through CRI and returns what it
// removed: every image that is neither pinned nor used by a container (in any state) goes,
// as kubelet's image GC removes them when the image disk passes its threshold
// (pkg/kubelet/images/image_gc_manager.go). Kubelet's own image GC cannot run on this
// machine: cadvisor finds no filesystem info for its disk (README "What the real node takes").
func collectImages(t *testing.T) []string {
	t.Helper()
	socket := e2e.site.NodeContainerdSocket
	out, err := crictlAt(socket, "ps", "-a", "-o", "json")
	if err != nil {
		t.Fatalf("crictl ps: %v\n%s", err, out)
	}
	var ps struct {
		Containers []struct {
			ImageRef string `json:"imageRef"`
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		t.Fatal(err)
	}
	inUse := map[string]bool{}
	for _, c := range ps.Containers {
		inUse[c.ImageRef] = true
	}
	var removed []string
	for _, img := range nodeImages(t) {
		if img.Pinned || inUse[img.ID] {
			continue
		}
		if out, err := crictlAt(socket, "rmi", img.ID); err != nil {
			t.Fatalf("crictl rmi %s: %v\n%s", img.ID, err, out)
		}
		removed = append(removed, strings.Join(append(img.RepoTags, img.RepoDigests...), " "))
	}
	return removed
}

// waitRegistryReady waits until every Deployment of the registry namespace has all its
// replicas Ready, each of its pods running containers started since start (the status the
// API server kept from before a power cut says Ready too), and returns when, since start.
func waitRegistryReady(t *testing.T, cs *kubernetes.Clientset, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	var last string
	ok := waitFor(t, limit-time.Since(start), func() bool {
		ctx := context.Background()
		deps, err := cs.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
		if err != nil || len(deps.Items) == 0 {
			last = fmt.Sprint(err)
			return false
		}
		want := int32(0)
		for _, d := range deps.Items {
			if d.Spec.Replicas != nil {
				want += *d.Spec.Replicas
			}
		}
		pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + registry.AppName})
		if err != nil {
			last = err.Error()
			return false
		}
		ready := int32(0)
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil {
				continue
			}
			if !startedSince(p, start) || !podReady(p) {
				last = fmt.Sprintf("pod %s: %s, Ready %v, containers %+v", p.Name, p.Status.Phase, podReady(p), p.Status.ContainerStatuses)
				return false
			}
			ready++
		}
		if ready != want {
			last = fmt.Sprintf("%d of %d registry pods Ready", ready, want)
			return false
		}
		return true
	})
	if !ok {
		t.Fatalf("the registry was not Ready within %s: %s", limit, last)
	}
	return time.Since(start)
}

// startedSince reports whether every container of a pod runs and was started at or after
// start (second precision, as the API server keeps it).
func startedSince(p *corev1.Pod, start time.Time) bool {
	if len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil || c.State.Running.StartedAt.Time.Before(start.Truncate(time.Second)) {
			return false
		}
	}
	return true
}

// waitPodReady waits until a pod of the default namespace is Running and Ready with its
// containers started since start.
func waitPodReady(t *testing.T, cs *kubernetes.Clientset, name string, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	var p *corev1.Pod
	ok := waitFor(t, limit-time.Since(start), func() bool {
		var err error
		p, err = cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && podReady(p) && startedSince(p, start)
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
	ID          string   `json:"id"`
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
