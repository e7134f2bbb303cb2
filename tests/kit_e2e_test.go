//go:build e2e

package tests

import (
	"crypto/sha256"
	"encoding/hex"
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
	// Parallel: its own stack, namespace, ports and registry; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	kit := filepath.Join(t.TempDir(), "kit")
	// Signed with the test bed's key (make setup made it) as an office signs with its own.
	cache := filepath.Dir(s.nodeBundle)
	officeKey, officePub := filepath.Join(cache, "node-bundle.key"), filepath.Join(cache, "node-bundle.pub")
	build := exec.Command("bash", "scripts/kit.sh", kit)
	build.Env = append(os.Environ(), "KIT_SIGN_KEY="+officeKey, "COSIGN_PASSWORD=")
	build.Dir = s.repo
	built, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("make kit: %v\n%s", err, built)
	}
	// The check from outside the kit, exactly as make kit printed it for the engineer: system
	// tools and the office key kept outside the kit; nothing from the kit runs.
	verify := verifyCommands(t, string(built), officePub)
	outside := func() (string, error) {
		cmd := exec.Command("/bin/bash", "-c", verify)
		cmd.Dir, cmd.Env = t.TempDir(), []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := outside(); err != nil || !strings.Contains(out, "kit verified") {
		t.Fatalf("the kit as built fails the outside check (err %v):\n%s\n%s", err, out, verify)
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
	// A kit that is not as built is refused by the outside check (and by install.sh), before
	// anything in it runs; each case is undone after it, and the kit, as built again, installs.
	t.Run("tampered", func(t *testing.T) { refusesTamperedKit(t, kit, env, officePub, outside) })
	if out, err := outside(); err != nil {
		t.Fatalf("the restored kit fails the outside check: %v\n%s", err, out)
	}
	run(t, kit, filepath.Join(kit, "install.sh"), "--key", officePub)
	// Each later use re-checks (env.sh runs check.sh) before anything runs.
	t.Run("planted after install", func(t *testing.T) { refusesPlantedAfterInstall(t, kit, env) })

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
	run(t, project, pulumi, "config", "set", "-s", "dev", "--path", "registry.nodePort", "32030")
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
	// What the visit left in PULUMI_HOME does not trip the next use's check.
	run(t, kit, "/bin/bash", "-c", "source ./env.sh")
}

// verifyCommands are the lines make kit printed after "verify the kit from outside it", with
// the office key filled in.
func verifyCommands(t *testing.T, out, officePub string) string {
	t.Helper()
	_, block, ok := strings.Cut(out, "verify the kit from outside it")
	if !ok {
		t.Fatalf("make kit printed no verification commands:\n%s", out)
	}
	var lines []string
	for _, l := range strings.Split(block, "\n")[1:] {
		if !strings.HasPrefix(l, "    ") {
			break
		}
		lines = append(lines, strings.Replace(strings.TrimSpace(l), "OFFICE_PUB=/path/to/office/cosign.pub", "OFFICE_PUB="+officePub, 1))
	}
	if len(lines) < 5 || !strings.Contains(lines[0], "OFFICE_PUB="+officePub) || !strings.Contains(out, "SHA256SUMS digest: ") {
		t.Fatalf("unexpected verification commands:\n%s", out)
	}
	return strings.Join(lines, "\n")
}

// refusesPlantedAfterInstall: on an installed kit, a plugin planted in PULUMI_HOME, a tool
// planted in bin/ or a changed plugin binary stops `source env.sh` before it sets anything up.
func refusesPlantedAfterInstall(t *testing.T, kit string, env []string) {
	sourceEnv := func() (string, error) {
		cmd := exec.Command("/bin/bash", "-c", `source ./env.sh && echo "PATH=$PATH"`)
		cmd.Dir, cmd.Env = kit, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := sourceEnv(); err != nil {
		t.Fatalf("env.sh refuses the installed kit: %v\n%s", err, out)
	}
	home := filepath.Join(kit, "pulumi-home")
	evil := filepath.Join(home, "plugins", "resource-evil-v1.0.0")
	var kubePlugin string
	if m, _ := filepath.Glob(filepath.Join(home, "plugins", "resource-kubernetes-v*", "pulumi-resource-kubernetes")); len(m) == 1 {
		kubePlugin = m[0]
	} else {
		t.Fatalf("installed kubernetes plugin: %v", m)
	}
	original, err := os.ReadFile(kubePlugin)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T)
		undo  func()
		want  string
	}{
		{"a planted plugin in PULUMI_HOME", func(t *testing.T) {
			if err := os.MkdirAll(evil, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(evil, "pulumi-resource-evil"), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, func() { _ = os.RemoveAll(evil) }, "resource-evil-v1.0.0 is a plugin the kit did not install"},
		{"the installed plugin replaced", func(t *testing.T) {
			if err := os.WriteFile(kubePlugin, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, func() { _ = os.WriteFile(kubePlugin, original, 0o755) }, "differs from the kit's plugins/pulumi-resource-kubernetes"},
		{"a tool planted in bin/", func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(kit, "bin", "kubectl"), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, func() { _ = os.Remove(filepath.Join(kit, "bin", "kubectl")) }, "./bin/kubectl is in the kit but not listed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(tc.undo)
			tc.plant(t)
			out, err := sourceEnv()
			if err == nil || !strings.Contains(out, tc.want) || strings.Contains(out, "PATH=") {
				t.Errorf("env.sh did not refuse (err %v), or not naming %q:\n%s", err, tc.want, out)
			}
		})
	}
	if out, err := sourceEnv(); err != nil {
		t.Fatalf("env.sh refuses the restored kit: %v\n%s", err, out)
	}
}

// refusesTamperedKit changes the kit in each way and expects the outside check to fail, and
// the kit's install.sh (run with the kit's bin/ first on PATH, as after `source env.sh`) to
// refuse naming the file. The tools planted in bin/ record that they ran: install.sh must
// never run them.
func refusesTamperedKit(t *testing.T, kit string, env []string, officePub string, outside func() (string, error)) {
	ran := filepath.Join(t.TempDir(), "planted-tool-ran")
	planted := []byte("#!/bin/sh\necho \"$0\" >>" + ran + "\nexit 0\n")
	runbook, sums, install := filepath.Join(kit, "RUNBOOK.md"), filepath.Join(kit, "SHA256SUMS"), filepath.Join(kit, "install.sh")
	origInstall, err := os.ReadFile(install)
	if err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(kit, "plugins", "pulumi-resource-extra")
	tools := []string{"sha256sum", "bash", "env", "find", "dirname"}
	origRunbook, err := os.ReadFile(runbook)
	if err != nil {
		t.Fatal(err)
	}
	origSums, err := os.ReadFile(sums)
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, path string, b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	plant := func(t *testing.T, tool string) { write(t, filepath.Join(kit, "bin", tool), planted) }
	restore := func() {
		_ = os.WriteFile(install, origInstall, 0o755)
		_ = os.RemoveAll(filepath.Join(kit, "pulumi-home"))
		_ = os.RemoveAll(filepath.Join(kit, "state"))
		_ = os.MkdirAll(filepath.Join(kit, "state"), 0o755)
		_ = os.WriteFile(runbook, origRunbook, 0o644)
		_ = os.WriteFile(sums, origSums, 0o644)
		_ = os.Remove(extra)
		_ = os.Remove(filepath.Join(kit, "office.pub"))
		for _, tool := range tools {
			_ = os.Remove(filepath.Join(kit, "bin", tool))
		}
	}
	stranger := filepath.Join(t.TempDir(), "stranger")
	for _, c := range [][]string{
		{"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", stranger + ".key"},
		{"openssl", "pkey", "-in", stranger + ".key", "-pubout", "-out", stranger + ".pub"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T)
		want   []string // what install.sh's output names (nil: install.sh is the tamperer's)
		args   []string // install.sh's arguments instead of --key <office key>
		intact bool     // the kit is as built (only install.sh's arguments differ)
	}{
		// install.sh travels in the kit: whoever changes the kit can replace it with one that
		// vouches for anything. Only the outside check catches that.
		{"install.sh replaced", func(t *testing.T) {
			write(t, install, []byte("#!/bin/sh\necho 'kit installed'\n"))
		}, nil, nil, false},
		{"a plugin planted in pulumi-home", func(t *testing.T) {
			dir := filepath.Join(kit, "pulumi-home", "plugins", "resource-kubernetes-v4.25.0")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "pulumi-resource-kubernetes"), planted)
		}, []string{"./pulumi-home/plugins/resource-kubernetes-v4.25.0/pulumi-resource-kubernetes is in the kit but not listed"}, nil, false},
		{"a state planted", func(t *testing.T) {
			dir := filepath.Join(kit, "state", ".pulumi", "stacks", "airgap-site")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "dev.json"), []byte("{}"))
		}, []string{"./state/.pulumi/stacks/airgap-site/dev.json is in the kit but not listed"}, nil, false},
		// Whoever rewrites a file and SHA256SUMS to match cannot sign it.
		{"SHA256SUMS rewritten to match a changed file", func(t *testing.T) {
			write(t, runbook, []byte("tampered"))
			sum := sha256.Sum256([]byte("tampered"))
			write(t, sums, []byte(strings.Replace(string(origSums), sha256Of(t, origRunbook), hex.EncodeToString(sum[:]), 1)))
		}, []string{"SHA256SUMS.sig does not verify"}, nil, false},
		{"signed by another key", func(t *testing.T) {}, []string{"SHA256SUMS.sig does not verify"}, []string{"--key", stranger + ".pub"}, true},
		{"no key given", func(t *testing.T) {}, []string{"give the office public key"}, []string{}, true},
		{"the key inside the kit", func(t *testing.T) {
			pub, _ := os.ReadFile(officePub)
			write(t, filepath.Join(kit, "office.pub"), pub)
		}, []string{"is inside the kit"}, []string{"--key", filepath.Join(kit, "office.pub")}, false},
		{"changed file", func(t *testing.T) { write(t, runbook, []byte("tampered")) },
			[]string{"./RUNBOOK.md: FAILED"}, nil, false},
		{"missing file", func(t *testing.T) {
			if err := os.Remove(runbook); err != nil {
				t.Fatal(err)
			}
		}, []string{"./RUNBOOK.md is listed in SHA256SUMS but missing"}, nil, false},
		{"extra file", func(t *testing.T) { write(t, extra, []byte("#!/bin/sh\n")) },
			[]string{"./plugins/pulumi-resource-extra is in the kit but not listed in SHA256SUMS"}, nil, false},
		{"planted tools", func(t *testing.T) {
			for _, tool := range tools {
				plant(t, tool)
			}
		}, []string{"./bin/sha256sum is in the kit but not listed", "./bin/bash is in the kit but not listed"}, nil, false},
		// Listed as if it belonged, bin/sha256sum still does not check the kit: the changed
		// SHA256SUMS no longer verifies (and, unsigned, the change to RUNBOOK.md is found).
		{"planted sha256sum, listed", func(t *testing.T) {
			plant(t, "sha256sum")
			sum := sha256.Sum256(planted)
			write(t, sums, append(append([]byte(nil), origSums...), hex.EncodeToString(sum[:])+"  ./bin/sha256sum\n"...))
			write(t, runbook, []byte("tampered"))
		}, []string{"SHA256SUMS.sig does not verify"}, nil, false},
		{"planted sha256sum, listed, unsigned kit allowed", func(t *testing.T) {
			plant(t, "sha256sum")
			sum := sha256.Sum256(planted)
			write(t, sums, append(append([]byte(nil), origSums...), hex.EncodeToString(sum[:])+"  ./bin/sha256sum\n"...))
			write(t, runbook, []byte("tampered"))
		}, []string{"./RUNBOOK.md: FAILED"}, []string{"--allow-unsigned"}, false},
		{"link", func(t *testing.T) {
			if err := os.Symlink("/bin/true", filepath.Join(kit, "bin", "sha256sum")); err != nil {
				t.Fatal(err)
			}
		}, []string{"./bin/sha256sum is in the kit but not listed"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(restore)
			tc.tamper(t)
			if !tc.intact {
				if out, err := outside(); err == nil || strings.Contains(out, "kit verified") {
					t.Errorf("the outside check passed a tampered kit:\n%s", out)
				}
			}
			args := []string{"--key", officePub}
			if tc.args != nil {
				args = tc.args
			}
			cmd := exec.Command(filepath.Join(kit, "install.sh"), args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if tc.want == nil {
				return // the tamperer's install.sh says what it likes
			}
			if err == nil {
				t.Fatalf("install.sh accepted the kit:\n%s", out)
			}
			for _, w := range append(tc.want, "refusing to install") {
				if !strings.Contains(string(out), w) {
					t.Errorf("install.sh output does not say %q:\n%s", w, out)
				}
			}
			if b, err := os.ReadFile(ran); err == nil {
				t.Errorf("install.sh ran tools planted in the kit: %s", b)
			}
		})
	}
}

func sha256Of(t *testing.T, b []byte) string {
	t.Helper()
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
