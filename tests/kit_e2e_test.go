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
	run(t, kit, filepath.Join(kit, "install.sh"), "--key", officePub)
	// A kit that is not as built is refused, before anything in it runs; each case is undone
	// after it, and the kit, as built again, installs.
	t.Run("tampered", func(t *testing.T) { refusesTamperedKit(t, kit, env, officePub) })
	run(t, kit, filepath.Join(kit, "install.sh"), "--key", officePub)

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
}

// refusesTamperedKit runs the kit's install.sh, with the kit's bin/ first on PATH as after
// `source env.sh`, on a kit changed in each way, and expects a refusal naming the file. The
// tools planted in bin/ record that they ran: install.sh must never run them.
func refusesTamperedKit(t *testing.T, kit string, env []string, officePub string) {
	ran := filepath.Join(t.TempDir(), "planted-tool-ran")
	planted := []byte("#!/bin/sh\necho \"$0\" >>" + ran + "\nexit 0\n")
	runbook, sums := filepath.Join(kit, "RUNBOOK.md"), filepath.Join(kit, "SHA256SUMS")
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
		want   []string // what install.sh's output names
		args   []string // install.sh's arguments instead of --key <office key>
	}{
		// Whoever rewrites a file and SHA256SUMS to match cannot sign it.
		{"SHA256SUMS rewritten to match a changed file", func(t *testing.T) {
			write(t, runbook, []byte("tampered"))
			sum := sha256.Sum256([]byte("tampered"))
			write(t, sums, []byte(strings.Replace(string(origSums), sha256Of(t, origRunbook), hex.EncodeToString(sum[:]), 1)))
		}, []string{"SHA256SUMS.sig does not verify"}, nil},
		{"signed by another key", func(t *testing.T) {}, []string{"SHA256SUMS.sig does not verify"}, []string{"--key", stranger + ".pub"}},
		{"no key given", func(t *testing.T) {}, []string{"give the office public key"}, []string{}},
		{"the key inside the kit", func(t *testing.T) {
			pub, _ := os.ReadFile(officePub)
			write(t, filepath.Join(kit, "office.pub"), pub)
		}, []string{"is inside the kit"}, []string{"--key", filepath.Join(kit, "office.pub")}},
		{"changed file", func(t *testing.T) { write(t, runbook, []byte("tampered")) },
			[]string{"./RUNBOOK.md: FAILED"}, nil},
		{"missing file", func(t *testing.T) {
			if err := os.Remove(runbook); err != nil {
				t.Fatal(err)
			}
		}, []string{"./RUNBOOK.md is listed in SHA256SUMS but missing"}, nil},
		{"extra file", func(t *testing.T) { write(t, extra, []byte("#!/bin/sh\n")) },
			[]string{"./plugins/pulumi-resource-extra is in the kit but not listed in SHA256SUMS"}, nil},
		{"planted tools", func(t *testing.T) {
			for _, tool := range tools {
				plant(t, tool)
			}
		}, []string{"./bin/sha256sum is in the kit but not listed", "./bin/bash is in the kit but not listed"}, nil},
		// Listed as if it belonged, bin/sha256sum still does not check the kit: the changed
		// SHA256SUMS no longer verifies (and, unsigned, the change to RUNBOOK.md is found).
		{"planted sha256sum, listed", func(t *testing.T) {
			plant(t, "sha256sum")
			sum := sha256.Sum256(planted)
			write(t, sums, append(append([]byte(nil), origSums...), hex.EncodeToString(sum[:])+"  ./bin/sha256sum\n"...))
			write(t, runbook, []byte("tampered"))
		}, []string{"SHA256SUMS.sig does not verify"}, nil},
		{"planted sha256sum, listed, unsigned kit allowed", func(t *testing.T) {
			plant(t, "sha256sum")
			sum := sha256.Sum256(planted)
			write(t, sums, append(append([]byte(nil), origSums...), hex.EncodeToString(sum[:])+"  ./bin/sha256sum\n"...))
			write(t, runbook, []byte("tampered"))
		}, []string{"./RUNBOOK.md: FAILED"}, []string{"--allow-unsigned"}},
		{"link", func(t *testing.T) {
			if err := os.Symlink("/bin/true", filepath.Join(kit, "bin", "sha256sum")); err != nil {
				t.Fatal(err)
			}
		}, []string{"./bin/sha256sum is in the kit but not listed"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(restore)
			tc.tamper(t)
			args := []string{"--key", officePub}
			if tc.args != nil {
				args = tc.args
			}
			cmd := exec.Command(filepath.Join(kit, "install.sh"), args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
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
