//go:build e2e

package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOfflineKit builds the kit (the office step, with Go), then previews and converges the dev
// stack from the kit alone: no Go toolchain on PATH, no module cache, a fresh HOME and
// PULUMI_HOME, the plugins installed from the kit's own files.
func TestOfflineKit(t *testing.T) {
	s := &e2e
	kit := filepath.Join(t.TempDir(), "kit")
	build := exec.Command("bash", "scripts/kit.sh", kit)
	build.Dir = s.repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make kit: %v\n%s", err, out)
	}

	home := t.TempDir()
	env := []string{
		"PATH=" + filepath.Join(kit, "bin") + ":/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + home,
		"GOPATH=" + filepath.Join(home, "go"), "GOMODCACHE=" + filepath.Join(home, "gomod"), "GOPROXY=off",
		"PULUMI_HOME=" + filepath.Join(kit, "pulumi-home"),
		"PULUMI_SKIP_UPDATE_CHECK=true", "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true",
		"PULUMI_BACKEND_URL=file://" + filepath.Join(kit, "state"),
		"PULUMI_CONFIG_PASSPHRASE=airgap-dev",
		"KUBECONFIG=" + s.site.Kubeconfig,
	}
	run := func(t *testing.T, dir string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		t.Logf("%s %s", filepath.Base(name), strings.Join(args, " "))
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, lastLines(string(out), 30))
		}
		return string(out)
	}
	if out, err := exec.Command("bash", "-c", "PATH="+filepath.Join(kit, "bin")+":/usr/bin:/bin command -v go").CombinedOutput(); err == nil {
		t.Fatalf("go is on the kit's PATH: %s", out)
	}
	if err := os.MkdirAll(filepath.Join(kit, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, kit, filepath.Join(kit, "install.sh"))

	project := filepath.Join(kit, "project")
	pulumi := filepath.Join(kit, "bin", "pulumi")
	// The dev stack is the real node's; from this machine's namespace the kit converges it on
	// the kwok nodes (its own choice of stack file, as a site engineer edits theirs).
	devPath := filepath.Join(project, "stacks", "Pulumi.dev.yaml")
	dev, err := os.ReadFile(devPath)
	if err != nil {
		t.Fatal(err)
	}
	kwok, err := kwokStack(dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(devPath, kwok, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, project, pulumi, "stack", "init", "dev", "--non-interactive")
	run(t, project, pulumi, "config", "set", "-s", "dev", "--path", "objectStore.endpoint", s.site.S3Endpoint)
	run(t, project, pulumi, "config", "set", "-s", "dev", "--path", "registry.namespace", "kit-registry")
	run(t, project, pulumi, "config", "set", "-s", "dev", "--path", "registry.nodePort", "32004")
	policy := filepath.Join(kit, "policy", "airgap-site-policy")
	airgap := filepath.Join(kit, "bin", "airgap")
	out := run(t, project, airgap, "site", "preview", "-s", "dev", "--policy-pack", policy)
	if !strings.Contains(out, "to create") {
		t.Errorf("kit preview plans nothing:\n%s", lastLines(out, 20))
	}
	run(t, project, airgap, "site", "up", "-s", "dev", "--policy-pack", policy)
	out = run(t, project, pulumi, "stack", "output", "-s", "dev", "registryNamespace")
	if strings.TrimSpace(out) != "kit-registry" {
		t.Errorf("registryNamespace = %q", out)
	}
	run(t, project, airgap, "site", "preview", "-s", "dev", "--expect-no-changes", "--policy-pack", policy)
	run(t, project, airgap, "site", "destroy", "-s", "dev")

	// The kit refuses to install when a file was altered.
	f := filepath.Join(kit, "RUNBOOK.md")
	if err := os.WriteFile(f, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(kit, "install.sh"))
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("install.sh accepted a tampered kit:\n%s", out)
	}
}
