//go:build e2e

package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"airgap-site/provider/contract"
	"airgap-site/tests/harness"
)

// suite is the shared state of one e2e run: one local site, one temp project.
type suite struct {
	repo    string
	bin     string
	site    *harness.Site
	project string // temp project dir: Pulumi.yaml (main: repo) + stack files
	backend string
	// policyPack is the policy pack binary built for this run.
	policyPack string
	// airgap is the operator CLI built for this run.
	airgap string
	// nodeBundle holds the real node's pod images (make setup builds it).
	nodeBundle string
}

var e2e suite

func TestMain(m *testing.M) {
	// The site's relays are this binary started again (see harness.RunRelayIfAsked).
	harness.RunRelayIfAsked()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	repo, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cache := os.Getenv("AIRGAP_CACHE")
	if cache == "" {
		cache = filepath.Join(os.Getenv("HOME"), ".cache", "airgap-site")
	}
	e2e = suite{repo: repo, bin: filepath.Join(cache, "bin"), nodeBundle: filepath.Join(cache, "node-bundle")}
	// As root, the site has a real node; it needs the node's tools and images too.
	root := os.Geteuid() == 0
	tools := []string{"pulumi", "pulumi-language-go", "kube-apiserver", "kwok", "versitygw", "registry"}
	if root {
		tools = append(tools, "kubelet", "kube-proxy", "crictl", filepath.Join(harness.NodeContainerdDir, "containerd"),
			filepath.Join(harness.NodeContainerdDir, "containerd-shim-runc-v2"))
		if _, err := os.Stat(filepath.Join(e2e.nodeBundle, "index.json")); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: the node images are missing in %s: run `make setup` first\n", e2e.nodeBundle)
			return 1
		}
	}
	for _, tool := range tools {
		if _, err := os.Stat(filepath.Join(e2e.bin, tool)); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s missing in %s: run `make setup` first\n", tool, e2e.bin)
			return 1
		}
	}
	// AIRGAP_E2E_TMP (set by scripts/e2e.sh) puts the run where the script can clean it up.
	tmp, err := os.MkdirTemp(os.Getenv("AIRGAP_E2E_TMP"), "airgap-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	siteDir := filepath.Join(tmp, "site")
	// Stop by PID file when the suite returns, or is interrupted (Ctrl-C, a CI kill). A panic
	// or a -timeout skips deferred calls: then the daemons die with this process (Owned), and
	// scripts/e2e.sh stops whatever is left by PID file.
	stop := func() {
		if err := harness.Stop(siteDir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stopping the site:", err)
		}
	}
	defer stop()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "e2e: %v: stopping the site\n", sig)
		stop()
		os.RemoveAll(tmp)
		os.Exit(2)
	}()
	site, err := harness.Start(ctx, harness.Options{
		Dir:        siteDir,
		BinDir:     e2e.bin,
		Nodes:      kwokNodes(root),
		CRDs:       []string{filepath.Join(repo, "tests", "testdata", "crds", "minio-operator-v7.1.1-tenants.yaml")},
		Containerd: root,
		RealNode:   realNode(root),
		Owned:      true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the local site:", err)
		return 1
	}
	e2e.site = site
	if e2e.project, err = makeProject(repo, repo, filepath.Join(tmp, "project")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: preparing the project:", err)
		return 1
	}
	if err := installProvider(repo, tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: installing the airgap provider:", err)
		return 1
	}
	e2e.policyPack = filepath.Join(tmp, "airgap-site-policy")
	e2e.airgap = filepath.Join(tmp, "airgap")
	for pkg, out := range map[string]string{"./policy": e2e.policyPack, "./cmd/airgap": e2e.airgap} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Dir = repo
		if b, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: building %s: %v\n%s", pkg, err, b)
			return 1
		}
	}
	e2e.backend = filepath.Join(tmp, "backend")
	if err := os.MkdirAll(e2e.backend, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// The real node is node-1 (the dev stack's first node); the kwok nodes are the others. A run
// that is not root has no real node: three kwok nodes.
func realNode(root bool) string {
	if root {
		return "node-1"
	}
	return ""
}

func kwokNodes(root bool) []string {
	if root {
		return []string{"node-2", "node-3"}
	}
	return []string{"node-1", "node-2", "node-3"}
}

// makeProject writes a project that runs the program in mainDir (Pulumi.yaml `main`) with
// stack files of its own, starting from the dev stack, so the suite never writes into the
// repository. It returns dir.
func makeProject(repo, mainDir, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(repo, "Pulumi.yaml"))
	if err != nil {
		return "", err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "stackConfigDir:") {
			continue
		}
		out = append(out, line)
		if strings.HasPrefix(line, "runtime:") {
			out = append(out, "main: "+mainDir)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte(strings.Join(out, "\n")), 0o644); err != nil {
		return "", err
	}
	dev, err := os.ReadFile(filepath.Join(repo, "stacks", "Pulumi.dev.yaml"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.dev.yaml"), dev, 0o644); err != nil {
		return "", err
	}
	kwok, err := kwokStack(dev)
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "Pulumi.kwok.yaml"), kwok, 0o644)
}

// Workload images of stacks without a bundle to pin them, by digest as the stack requires.
// Their pods run on kwok nodes, which pull nothing.
const (
	pinnedRegistryImage = "docker.io/library/registry:3.1.2@sha256:5c6f2a8a0d6c3f8e1b5f4c3a2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e"
	pinnedMinioImage    = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z@sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

// kwokStack is the dev stack moved onto the kwok nodes: loopback node addresses (so tests can
// run registries by hand on them), the test bed's S3 on loopback, no placement on the real
// node and no images. Its secrets stay as the dev stack encrypted them. Tests that only need
// a site the API server accepts use it; TestRealNode uses the dev stack itself.
func kwokStack(dev []byte) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(dev, &doc); err != nil {
		return nil, fmt.Errorf("parsing the dev stack: %w", err)
	}
	cfg, _ := doc["config"].(map[string]any)
	if cfg == nil {
		return nil, fmt.Errorf("the dev stack has no config")
	}
	cfg["airgap-site:nodes"] = []any{
		map[string]any{"name": "node-1", "ip": "127.0.0.11", "role": "controlplane"},
		map[string]any{"name": "node-2", "ip": "127.0.0.12", "role": "worker"},
		map[string]any{"name": "node-3", "ip": "127.0.0.13", "role": "worker"},
	}
	if store, ok := cfg["airgap-site:objectStore"].(map[string]any); ok && e2e.site != nil {
		store["endpoint"] = e2e.site.S3Endpoint
	}
	if reg, ok := cfg["airgap-site:registry"].(map[string]any); ok {
		delete(reg, "nodeSelector")
		delete(reg, "tolerations")
		// No bundle pins it: the kwok pods are fakes, any digest names the image.
		reg["image"] = pinnedRegistryImage
	}
	delete(cfg, "airgap-site:images")
	delete(cfg, "airgap-site:bootstrap")
	return yaml.Marshal(doc)
}

// pulumi runs the real CLI in the temp project and returns its combined output.
func (s *suite) pulumi(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return s.pulumiIn(t, s.project, args...)
}

// pulumiIn runs the real CLI in a project directory.
func (s *suite) pulumiIn(t *testing.T, project string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := s.pulumiCommand(project, args...)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	cmd.Dir, cmd.Env = project, s.pulumiEnv()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("pulumi %s (%.1fs)", strings.Join(args, " "), time.Since(start).Seconds())
	return string(out), err
}

// pulumiCommand is the pulumi command for a project, not yet started.
func (s *suite) pulumiCommand(project string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, "pulumi"), append(args, "--non-interactive")...)
	cmd.Dir, cmd.Env = project, s.pulumiEnv()
	return cmd
}

func (s *suite) pulumiEnv() []string {
	return append(os.Environ(),
		"PATH="+s.bin+":"+os.Getenv("PATH"),
		"PULUMI_HOME="+pulumiHome(),
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_BACKEND_URL=file://"+s.backend,
		"PULUMI_CONFIG_PASSPHRASE=airgap-dev",
		// The suite's stacks are copies of the dev stack: the program lets the dev
		// passphrase unlock them only on the test bed (components/site.CheckPassphrase).
		"AIRGAP_TEST_BED=1",
		"KUBECONFIG="+s.site.Kubeconfig,
	)
}

// mustPulumi is pulumi that fails the test on a non-zero exit, showing the output.
func (s *suite) mustPulumi(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.pulumi(t, args...)
	if err != nil {
		t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// outputs returns the stack outputs.
func (s *suite) outputs(t *testing.T, stack string) map[string]any {
	t.Helper()
	return s.outputsWith(t, stack)
}

// secretOutputs are the stack's outputs with secrets decrypted (--show-secrets).
func (s *suite) secretOutputs(t *testing.T, stack string) map[string]any {
	t.Helper()
	return s.outputsWith(t, stack, "--show-secrets")
}

func (s *suite) outputsWith(t *testing.T, stack string, flags ...string) map[string]any {
	t.Helper()
	var m map[string]any
	out := s.mustPulumi(t, append([]string{"stack", "output", "-s", stack, "--json"}, flags...)...)
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("stack outputs: %v\n%s", err, out)
	}
	return m
}

// installProvider builds the airgap provider from this checkout and installs it as plugin
// airgap <contract.Version>, so the suite always runs the code under test.
func installProvider(repo, tmp string) error {
	bin := filepath.Join(tmp, "pulumi-resource-airgap")
	build := exec.Command("go", "build", "-o", bin, "./provider/cmd/pulumi-resource-airgap")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building: %v\n%s", err, out)
	}
	install := exec.Command(filepath.Join(e2e.bin, "pulumi"), "plugin", "install", "resource", contract.Name, contract.Version, "--file", bin, "--reinstall")
	install.Env = append(os.Environ(), "PULUMI_HOME="+pulumiHome(), "PULUMI_SKIP_UPDATE_CHECK=true")
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("pulumi plugin install: %v\n%s", err, out)
	}
	return nil
}

func pulumiHome() string {
	if h := os.Getenv("PULUMI_HOME"); h != "" {
		return h
	}
	cache := os.Getenv("AIRGAP_CACHE")
	if cache == "" {
		cache = filepath.Join(os.Getenv("HOME"), ".cache", "airgap-site")
	}
	return filepath.Join(cache, "pulumi-home")
}

// TestEnvRefusesDevPassphrase: scripts/env.sh gives the dev passphrase to the dev stack only,
// and its pulumi wrapper refuses another stack while that passphrase is set. Whatever gets
// past the wrapper (a child shell, `airgap site`) meets the program's own refusal, before it
// touches anything.
func TestEnvRefusesDevPassphrase(t *testing.T) {
	s := &e2e
	env := filepath.Join(s.repo, "scripts", "env.sh")
	// A stack osaka made from the dev stack, as a careless copy would be.
	project, err := makeProject(s.repo, s.repo, filepath.Join(t.TempDir(), "osaka"))
	if err != nil {
		t.Fatal(err)
	}
	kwok, err := os.ReadFile(filepath.Join(project, "Pulumi.kwok.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "Pulumi.osaka.yaml"), kwok, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := s.pulumiIn(t, project, "stack", "init", "osaka"); err != nil {
		t.Fatalf("stack init osaka: %v\n%s", err, out)
	}
	defer s.pulumiIn(t, project, "stack", "rm", "osaka", "--yes", "--force")
	site := []string{"PULUMI_BACKEND_URL=file://" + s.backend, "PULUMI_HOME=" + pulumiHome(), "KUBECONFIG=" + s.site.Kubeconfig}
	run := func(script string, extra ...string) (string, error) {
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir = project
		var clean []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "PULUMI_CONFIG_PASSPHRASE=") && !strings.HasPrefix(kv, "AIRGAP_STACK=") &&
				!strings.HasPrefix(kv, "AIRGAP_TEST_BED=") {
				clean = append(clean, kv)
			}
		}
		cmd.Env = append(clean, extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	cases := []struct {
		name, script string
		env          []string
		refused      bool
	}{
		{"dev stack gets the dev passphrase", `source ` + env + ` && test "$PULUMI_CONFIG_PASSPHRASE" = airgap-dev`, nil, false},
		{"another stack without a passphrase", `source ` + env, []string{"AIRGAP_STACK=osaka"}, true},
		{"another stack with the dev passphrase", `source ` + env, []string{"AIRGAP_STACK=osaka", "PULUMI_CONFIG_PASSPHRASE=airgap-dev"}, true},
		{"another stack with its own passphrase", `source ` + env + ` && test "$PULUMI_CONFIG_PASSPHRASE" = s3cret`, []string{"AIRGAP_STACK=osaka", "PULUMI_CONFIG_PASSPHRASE=s3cret"}, false},
		{"pulumi -s osaka with the dev passphrase", `source ` + env + ` && pulumi -s osaka config`, nil, true},
		{"pulumi stack init with the dev passphrase", `source ` + env + ` && pulumi stack init --stack=kyoto`, nil, true},
		{"pulumi -sosaka with the dev passphrase", `source ` + env + ` && pulumi -sosaka config`, nil, true},
		{"pulumi -s=osaka with the dev passphrase", `source ` + env + ` && pulumi -s=osaka config`, nil, true},
		// Past the wrapper: the program refuses ("nothing was touched" is its message).
		{"a child shell's pulumi preview -sosaka", `source ` + env + ` && bash -c 'pulumi preview -sosaka --non-interactive'`, site, true},
		{"airgap site preview -sosaka", `source ` + env + ` && ` + s.airgap + ` site preview -sosaka --policy-pack ` + s.policyPack + ``, site, true},
	}
	for _, c := range cases {
		out, err := run(c.script, c.env...)
		refused := err != nil && strings.Contains(out, "refusing the dev passphrase")
		if refused != c.refused {
			t.Errorf("%s: refused=%v, want %v (err %v):\n%s", c.name, refused, c.refused, err, lastLines(out, 20))
		}
		if c.env != nil && c.env[0] == site[0] && !strings.Contains(out, "nothing was touched") {
			t.Errorf("%s: not the program's refusal:\n%s", c.name, lastLines(out, 20))
		}
	}
	// Nothing was created on the site: the stack has no resources at all.
	if out, err := s.pulumiIn(t, project, "stack", "export", "-s", "osaka"); err != nil || strings.Contains(out, "kubernetes:") {
		t.Errorf("stack osaka after the refusals (err %v):\n%s", err, lastLines(out, 20))
	}
}
