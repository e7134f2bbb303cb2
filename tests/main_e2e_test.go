//go:build e2e

package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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
	// programs are the suite's Pulumi programs built once for the run, by their directory
	// (the site program, the repository, and tests/policyfixture): the directory of each
	// one's launcher (see buildProgram and makeProject).
	programs map[string]string
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
	e2e.programs = map[string]string{}
	for i, dir := range []string{repo, filepath.Join(repo, "tests", "policyfixture")} {
		if e2e.programs[dir], err = buildProgram(repo, dir, filepath.Join(tmp, fmt.Sprintf("program-%d", i))); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
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

// buildProgram builds the Pulumi program in dir once, with the command the Go language host
// runs before every preview, up and destroy (go build -o, in the program's directory), and
// writes into out a launcher for it: a main package that changes to dir and executes the
// binary, beside a copy of the repository's go.mod and go.sum (the language host reads the
// required plugins from them). A project whose main is the launcher has the language host
// build a 2 MB binary in a fraction of a second instead of linking the program each run. It
// returns out.
func buildProgram(repo, dir, out string) (string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(out, "program")
	build := exec.Command("go", "build", "-o", bin)
	build.Dir = dir
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the program in %s: %v\n%s", dir, err, b)
	}
	launcher := fmt.Sprintf(`// The launcher of a program the e2e suite built once (tests/main_e2e_test.go buildProgram).
package main

import (
	"os"
	"syscall"
)

func main() {
	if err := os.Chdir(%q); err != nil {
		panic(err)
	}
	panic(syscall.Exec(%q, append([]string{%q}, os.Args[1:]...), os.Environ()))
}
`, dir, bin, bin)
	if err := os.WriteFile(filepath.Join(out, "main.go"), []byte(launcher), 0o644); err != nil {
		return "", err
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(repo, f))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
			return "", err
		}
	}
	return out, nil
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
