//go:build e2e

package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/provider/contract"
)

// TestBundleFreshness is the rollback attack: an older bundle, validly signed by the office's
// key (made with the real cosign key pair and `airgap bundle --sequence`), carried to a site
// that already accepted a newer one. `pulumi preview` and `pulumi up` refuse it before any
// copy, naming both sequences, and the site registry keeps the newer image; with
// images.allowDowngrade the up goes through and says so, and without it the old bundle is
// refused again (the highest sequence stays in the state).
func TestBundleFreshness(t *testing.T) {
	// Parallel: its own stack, namespace, ports and registry; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	work := t.TempDir()
	keys := cosignKeyPair(t, work, "office")

	vendor := fsRegistry(t)
	ref := vendor + "/factory/alpha:1"
	imagesFile := filepath.Join(work, "images.yaml")
	if err := os.WriteFile(imagesFile, []byte("- "+ref+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	airgapBundle := func(t *testing.T, out string, seq int) {
		t.Helper()
		cmd := exec.Command(s.airgap, "bundle", "--images", imagesFile, "--out", out, "--insecure-registry", vendor,
			"--sign-key", filepath.Join(keys, "cosign.key"), "--sequence", fmt.Sprint(seq))
		cmd.Env = append(cleanEnv(), "COSIGN_PASSWORD=office-password")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("airgap bundle: %v\n%s", err, b)
		}
	}
	digestOfImage := func(img v1.Image) v1.Hash {
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// The vendor's first release, bundled as sequence 100; then a fix, bundled as 200.
	oldDigest := digestOfImage(pushRandom(t, ref))
	older := filepath.Join(work, "older")
	airgapBundle(t, older, 100)
	newDigest := digestOfImage(pushRandom(t, ref))
	newer := filepath.Join(work, "newer")
	airgapBundle(t, newer, 200)

	site := filepath.Join(work, "site-bundle")
	carry := func(t *testing.T, src string) {
		t.Helper()
		if err := os.RemoveAll(site); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", src, site).CombinedOutput(); err != nil {
			t.Fatalf("copying the bundle: %v\n%s", err, out)
		}
	}
	carry(t, newer)

	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s3Registry(t, regAddr, "/fresh-e2e")
	counter := newRegistryCounter(t, regAddr)
	st := newTestStack(t, "fresh", stackOptions{upstreams: []string{"docker.io", vendor},
		images: map[string]any{"bundle": site, "trustedKeys": []string{filepath.Join(keys, "cosign.pub")}, "registry": counter.addr, "list": []string{ref}}})

	inRegistry := func(t *testing.T, want v1.Hash, when string) {
		t.Helper()
		if got, err := registryDigest(regAddr, ref); err != nil || got != want {
			t.Errorf("%s: %s in the site registry is %v (%v), want %s", when, ref, got, err, want)
		}
	}
	if !t.Run("the newer bundle is accepted", func(t *testing.T) {
		st.up(t, "--policy-pack", s.policyPack)
		inRegistry(t, newDigest, "after the first up")
	}) {
		t.FailNow()
	}

	const refusal = "sequence 100, lower than 200"
	t.Run("the older bundle is refused by preview and up, nothing copied", func(t *testing.T) {
		carry(t, older)
		before := counter.snapshot()
		out, err := st.preview(t, "--policy-pack", s.policyPack)
		if err == nil || !strings.Contains(out, refusal) {
			t.Errorf("preview of the older bundle: %v\n%s", err, lastLines(out, 25))
		}
		out, err = st.tryUp(t, "--policy-pack", s.policyPack)
		if err == nil || !strings.Contains(out, refusal) {
			t.Errorf("up with the older bundle: %v\n%s", err, lastLines(out, 25))
		}
		if after := counter.snapshot(); after != before {
			t.Errorf("the site registry saw uploads: %v -> %v", before, after)
		}
		inRegistry(t, newDigest, "after the refused up")
	})

	t.Run("with images.allowDowngrade the older bundle goes through and says so", func(t *testing.T) {
		carry(t, older)
		st.config(t, "images.allowDowngrade", "true")
		out := st.up(t, "--policy-pack", s.policyPack)
		for _, want := range []string{refusal, "images.allowDowngrade is set", "images.allowDowngrade is true"} {
			if !strings.Contains(out, want) {
				t.Errorf("the up does not say %q:\n%s", want, lastLines(out, 30))
			}
		}
		inRegistry(t, oldDigest, "after the allowed downgrade")

		// The highest stays 200: without the flag, the older bundle is refused again.
		st.unset(t, "images.allowDowngrade")
		if out, err := st.preview(t, "--policy-pack", s.policyPack); err == nil || !strings.Contains(out, refusal) {
			t.Errorf("preview without allowDowngrade after the downgrade: %v\n%s", err, lastLines(out, 25))
		}
		// And the newer bundle is accepted as usual.
		carry(t, newer)
		st.up(t, "--policy-pack", s.policyPack)
		inRegistry(t, newDigest, "after the newer bundle again")
	})
}

// TestProviderUpgradeFrom03 and TestProviderUpgradeFrom04: a site whose state was written by
// the program and plugin of an earlier provider (built from this repository's history, at the
// commit before the next version) upgrades with one up: no Image is replaced or updated (each
// moves to the site's explicit provider, whose settings the images held before, as the same
// image), nothing is sent, and a second preview has no changes.
func TestProviderUpgradeFrom03(t *testing.T) { providerUpgrade(t, "0.3.0", "0.4.0") }

func TestProviderUpgradeFrom04(t *testing.T) { providerUpgrade(t, "0.4.0", "0.5.0") }

func providerUpgrade(t *testing.T, version, next string) {
	// Parallel: its own stack, namespace, ports and registry; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	work := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", s.repo}, args...)...).Output()
		if err != nil {
			t.Fatalf("git %s: %v (the test needs the repository's history)", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	// The commit that made the plugin the next version, and the one before it.
	bumps := strings.Fields(git("log", "--format=%H", "-S"+next, "--", "provider/contract/VERSION"))
	if len(bumps) == 0 {
		t.Fatalf("no commit made provider/contract/VERSION %s", next)
	}
	before := git("rev-parse", bumps[len(bumps)-1]+"^")
	if v := git("show", before+":provider/contract/VERSION"); v != version {
		t.Fatalf("the plugin before the bump is %s, want %s", v, version)
	}
	old := filepath.Join(work, "v"+version)
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("git -C %q archive %s | tar -x -C %q", s.repo, before, old)).CombinedOutput(); err != nil {
		t.Fatalf("extracting %s: %v\n%s", before, err, out)
	}
	plugin := filepath.Join(work, "pulumi-resource-airgap")
	build := exec.Command("go", "build", "-o", plugin, "./provider/cmd/pulumi-resource-airgap")
	build.Dir = old
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building plugin %s: %v\n%s", version, err, out)
	}
	install := exec.Command(filepath.Join(s.bin, "pulumi"), "plugin", "install", "resource", "airgap", version, "--file", plugin, "--reinstall")
	install.Env = append(os.Environ(), "PULUMI_HOME="+pulumiHome(), "PULUMI_SKIP_UPDATE_CHECK=true")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("installing plugin %s: %v\n%s", version, err, out)
	}
	oldProject, err := makeProject(s.repo, old, filepath.Join(work, "project-"+version))
	if err != nil {
		t.Fatal(err)
	}

	bundleDir := filepath.Join(work, "bundle")
	writeBundle(t, bundleDir, map[string]v1.Image{
		"docker.io/library/alpha:1": layeredImages(t, 1, 256<<10, 256<<10)[0],
		"docker.io/library/beta:1":  layeredImages(t, 1, 256<<10, 256<<10)[0],
	}, nil)
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tag := strings.ReplaceAll(strings.TrimSuffix(version, ".0"), ".", "") // 03, 04
	nodePort := map[string]int{"0.3.0": 32054, "0.4.0": 32056}[version]
	s3Registry(t, regAddr, "/upgrade-"+tag+"-e2e")
	counter := newRegistryCounter(t, regAddr)
	stack := "upgrade-" + tag
	s.mustPulumi(t, "stack", "init", stack)
	writeStackConfig(t, stack, fmt.Sprintf(`config:
  airgap-site:nodes:
    - {name: node-1, ip: 127.0.0.11, role: controlplane}
  airgap-site:registry: {namespace: upgrade-%s-registry, nodePort: %d, pushNodePort: %d, replicas: 1, plainHTTP: true, image: %s}
  airgap-site:objectStore: {kind: external, endpoint: %q}
  airgap-site:images: {bundle: %q, trustedKeys: [%q], registry: %q, list: [docker.io/library/alpha:1, docker.io/library/beta:1]}
`, tag, nodePort, nodePort+1, pinnedRegistryImage, s.site.S3Endpoint, bundleDir, bundleDir+".pub", counter.addr))
	setSecrets(t, stack, map[string]string{"s3AccessKey": s.site.AccessKey, "s3SecretKey": s.site.SecretKey})
	defer s.pulumi(t, "destroy", "-s", stack, "--yes", "--skip-preview")
	// The same stack file (config, secrets, salt) for the old program's project.
	cfg, err := os.ReadFile(filepath.Join(s.project, "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(oldProject, "Pulumi."+stack+".yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}

	if out, err := s.pulumiIn(t, oldProject, "up", "-s", stack, "--yes", "--skip-preview"); err != nil {
		t.Fatalf("up with provider %s: %v\n%s", version, err, lastLines(out, 30))
	}
	images := func(t *testing.T) map[string]string { // URN -> id, provider
		t.Helper()
		var st struct {
			Deployment struct {
				Resources []struct {
					URN, ID, Type, Provider string
				} `json:"resources"`
			} `json:"deployment"`
		}
		if err := json.Unmarshal([]byte(s.mustPulumi(t, "stack", "export", "-s", stack)), &st); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range st.Deployment.Resources {
			if r.Type == contract.ImageToken || r.Type == contract.AcceptedBundleToken {
				out[r.URN] = r.ID + " " + r.Provider
			}
		}
		return out
	}
	was := images(t)
	hadAccepted := version != "0.3.0" // AcceptedBundle came with 0.4.0
	if want := map[bool]int{true: 3, false: 2}[hadAccepted]; len(was) != want {
		t.Fatalf("state of provider %s: %v, want %d resources", version, was, want)
	}
	for urn, v := range was {
		if !strings.Contains(v, "default_"+strings.ReplaceAll(version, ".", "_")) {
			t.Fatalf("%s was not written by plugin %s: %s", urn, version, v)
		}
	}

	uploads := counter.uploads.Load()
	out := s.mustPulumi(t, "preview", "-s", stack, "--json")
	var plan struct {
		Steps []struct {
			Op  string `json:"op"`
			URN string `json:"urn"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("preview --json: %v\n%s", err, lastLines(out, 20))
	}
	var accepted, provider string
	for _, st := range plan.Steps {
		switch {
		case strings.Contains(st.URN, "airgap:index:Image::") && st.Op != "same":
			t.Errorf("the upgrade would %s %s, want no change", st.Op, st.URN)
		case strings.Contains(st.URN, "airgap:index:AcceptedBundle::"):
			accepted = st.Op
		case strings.Contains(st.URN, "pulumi:providers:airgap::") && !strings.Contains(st.URN, "::default"):
			provider = st.Op
		}
	}
	if accepted == "" {
		accepted = "same" // preview --json lists no step for most resources without a change
	}
	if want := map[bool]string{true: "same", false: "create"}[hadAccepted]; accepted != want {
		t.Errorf("the upgrade would %q the AcceptedBundle, want %q: %+v", accepted, want, plan.Steps)
	}
	if provider != "create" {
		t.Errorf("the upgrade would %q the site's airgap provider, want create: %+v", provider, plan.Steps)
	}
	s.mustPulumi(t, "up", "-s", stack, "--yes", "--skip-preview", "--policy-pack", s.policyPack)
	now := images(t)
	for urn, v := range was {
		if got := strings.Fields(now[urn]); len(got) == 0 || got[0] != strings.Fields(v)[0] {
			t.Errorf("%s: id %v after the upgrade, was %s", urn, got, v)
		}
	}
	if len(now) != 3 {
		t.Errorf("after the upgrade: %v, want the two images and the AcceptedBundle", now)
	}
	if n := counter.uploads.Load() - uploads; n != 0 {
		t.Errorf("the upgrade sent %d blobs", n)
	}
	if out, err := s.pulumi(t, "preview", "-s", stack, "--expect-no-changes", "--policy-pack", s.policyPack); err != nil {
		t.Errorf("preview after the upgrade: %v\n%s", err, lastLines(out, 25))
	}
	// A refresh drops the settings the old provider kept in every image (the push password
	// among them) and records each image's inventory, read from the registry.
	s.mustPulumi(t, "refresh", "-s", stack, "--yes", "--skip-preview")
	var st struct {
		Deployment struct {
			Resources []struct {
				Type            string
				Inputs, Outputs map[string]any
			} `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(s.mustPulumi(t, "stack", "export", "-s", stack)), &st); err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Deployment.Resources {
		if r.Type != contract.ImageToken {
			continue
		}
		for _, legacy := range contract.LegacyImageInputs {
			if _, ok := r.Outputs[legacy]; ok {
				t.Errorf("after the refresh an image still holds %s: %v", legacy, r.Outputs)
			}
			if _, ok := r.Inputs[legacy]; ok {
				t.Errorf("after the refresh an image's inputs still hold %s: %v", legacy, r.Inputs)
			}
		}
		if inv, _ := r.Outputs["inventory"].(map[string]any); len(inv) < 3 {
			t.Errorf("after the refresh an image has no inventory: %v", r.Outputs)
		}
	}
	if out, err := s.pulumi(t, "preview", "-s", stack, "--expect-no-changes", "--policy-pack", s.policyPack); err != nil {
		t.Errorf("preview after the refresh: %v\n%s", err, lastLines(out, 25))
	}
}
