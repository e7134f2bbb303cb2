//go:build e2e

package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"airgap-site/internal/bundletest"
)

// examplePassphrase is the new site's own passphrase (not the dev one): the example is what a
// user copies for a real site.
const examplePassphrase = "osaka-e2e-own-passphrase"

// exampleSite is a project whose stack name was made from stacks/Pulumi.example.yaml as a new
// user does (cp, then pulumi stack init, which rewrites the file and adds encryptionsalt),
// with its own passphrase, the secrets set, and a kubeconfig whose API server nobody listens
// on: an office laptop away from the site.
type exampleSite struct {
	s          *suite
	project    string
	kubeconfig string
}

func newExampleSite(t *testing.T) *exampleSite {
	t.Helper()
	s := &e2e
	project, err := makeProject(s.repo, s.repo, filepath.Join(t.TempDir(), "example"))
	if err != nil {
		t.Fatal(err)
	}
	// An address nobody listens on: a port that was just free on loopback.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "https://" + l.Addr().String()
	l.Close()
	kubeconfig := filepath.Join(project, "site-kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: osaka, cluster: {server: %s, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: not-used}}]
contexts: [{name: osaka, context: {cluster: osaka, user: admin}}]
current-context: osaka
`, server)
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return &exampleSite{s: s, project: project, kubeconfig: kubeconfig}
}

// env is the suite's environment with the site's own passphrase and the unreachable site.
func (e *exampleSite) env() []string {
	return append(e.s.pulumiEnv(), "PULUMI_CONFIG_PASSPHRASE="+examplePassphrase, "KUBECONFIG="+e.kubeconfig)
}

func (e *exampleSite) run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = e.project, e.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *exampleSite) pulumi(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return e.run(t, filepath.Join(e.s.bin, "pulumi"), append(args, "--non-interactive")...)
}

// stack copies the example to Pulumi.<stack>.yaml, inits the stack, sets the secrets the
// example's header lists and then each of extra (config set --path key value); it removes the
// stack at the end of the test.
func (e *exampleSite) stack(t *testing.T, stack string, extra ...string) {
	t.Helper()
	example, err := os.ReadFile(filepath.Join(e.s.repo, "stacks", "Pulumi.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.project, "Pulumi."+stack+".yaml"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := e.pulumi(t, "stack", "init", stack); err != nil {
		t.Fatalf("stack init %s: %v\n%s", stack, err, out)
	}
	t.Cleanup(func() { e.pulumi(t, "stack", "rm", stack, "--yes", "--force") })
	after, err := os.ReadFile(filepath.Join(e.project, "Pulumi."+stack+".yaml"))
	if err != nil || !strings.Contains(string(after), "encryptionsalt") {
		t.Fatalf("pulumi stack init did not rewrite the stack file (err %v):\n%s", err, after)
	}
	sets := [][]string{
		{"--secret", "s3AccessKey", "registry-" + stack + "-e2e"},
		{"--secret", "s3SecretKey", "s3-secret-key-e2e"},
		{"--secret", "minioRootUser", "minio-admin"},
		{"--secret", "minioRootPassword", "minio-root-password-e2e"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		sets = append(sets, []string{"--path", extra[i], extra[i+1]})
	}
	for _, set := range sets {
		if out, err := e.pulumi(t, append([]string{"config", "set", "-s", stack}, set...)...); err != nil {
			t.Fatalf("config set %v: %v\n%s", set, err, out)
		}
	}
}

const unreachableSays = "the site is not reachable (Kubernetes API https://127.0.0.1:"

// TestExamplePreviews: the annotated example, copied to a new stack as a new user does, its
// secrets set, previews at the office with the site unreachable: pulumi preview and airgap
// site preview both exit 0 and say the site was not reached. Then, on new stacks never
// deployed, the first preview names a missing bundle directory, an image that is not in the
// bundle and an unsigned bundle (not only the up at the site).
func TestExamplePreviews(t *testing.T) {
	t.Parallel() // stacks of its own; it never reaches the site
	e := newExampleSite(t)
	s := e.s
	e.stack(t, "osaka")
	out, err := e.pulumi(t, "preview", "-s", "osaka", "--policy-pack", s.policyPack)
	if err != nil {
		t.Errorf("pulumi preview of the example: %v\n%s", err, lastLines(out, 40))
	}
	if !strings.Contains(out, unreachableSays) {
		t.Errorf("pulumi preview of the example does not say %q:\n%s", unreachableSays, lastLines(out, 40))
	}
	out, err = e.run(t, s.airgap, "site", "preview", "-s", "osaka", "--project", e.project, "--policy-pack", s.policyPack)
	if err != nil {
		t.Errorf("airgap site preview of the example: %v\n%s", err, lastLines(out, 40))
	}
	if !strings.Contains(out, unreachableSays) {
		t.Errorf("airgap site preview of the example does not say %q:\n%s", unreachableSays, lastLines(out, 40))
	}

	// Bundles: one signed with the office key (<dir>.pub), one the same but never signed.
	bundles := t.TempDir()
	signed := filepath.Join(bundles, "signed")
	img := layeredImages(t, 1, 64<<10, 16<<10)[0]
	bundletest.Write(t, signed, bundletest.Entry{Ref: "docker.io/library/alpha:1", Image: img})
	signBundle(t, signed)
	unsigned := filepath.Join(bundles, "unsigned")
	bundletest.Write(t, unsigned, bundletest.Entry{Ref: "docker.io/library/alpha:1", Image: img})
	cases := []struct {
		stack, bundle, image string
		want                 []string
	}{
		{"nobundle", filepath.Join(bundles, "missing"), "docker.io/library/alpha:1",
			[]string{`images.bundle: "` + filepath.Join(bundles, "missing") + `" is not a directory`}},
		{"notinbundle", signed, "docker.io/library/beta:1",
			[]string{"looking up docker.io/library/beta:1 in bundle " + signed + ": image not in bundle"}},
		{"unsigned", unsigned, "docker.io/library/alpha:1",
			[]string{"verifying bundle " + unsigned + ": bundle is not signed"}},
	}
	for _, c := range cases {
		t.Run(c.stack, func(t *testing.T) {
			e.stack(t, c.stack, "images.bundle", c.bundle, "images.trustedKeys[0]", signed+".pub", "images.list[0]", c.image)
			out, err := e.pulumi(t, "preview", "-s", c.stack, "--policy-pack", s.policyPack)
			if err == nil {
				t.Errorf("the first preview accepted it:\n%s", lastLines(out, 40))
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("the first preview does not say %q:\n%s", w, lastLines(out, 40))
				}
			}
		})
	}
}

// TestEnvAddsPolicyPack: scripts/env.sh's pulumi runs the policy pack on every preview and up
// unless one is given, and leaves other commands alone (a stand-in pulumi records its
// arguments); without the pack built, a preview is refused.
func TestEnvAddsPolicyPack(t *testing.T) {
	t.Parallel() // a stand-in pulumi only
	s := &e2e
	cache := t.TempDir()
	if err := os.MkdirAll(filepath.Join(cache, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	stub := "#!/bin/sh\necho \"args: $*\"\n"
	if err := os.WriteFile(filepath.Join(cache, "bin", "pulumi"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(s.repo, ".state", "bin", "airgap-site-policy")
	cases := []struct{ cmd, want string }{
		{"pulumi preview -s dev", "args: preview -s dev --policy-pack " + pack},
		{"pulumi -s dev up --yes", "args: -s dev up --yes --policy-pack " + pack},
		{"pulumi update", "args: update --policy-pack " + pack},
		{"pulumi preview --policy-pack /other", "args: preview --policy-pack /other"},
		{"pulumi preview --policy-pack=/other", "args: preview --policy-pack=/other"},
		{"pulumi stack ls", "args: stack ls"},
		{"pulumi config set up 1", "args: config set up 1"},
		{"pulumi destroy", "args: destroy"},
	}
	for _, c := range cases {
		cmd := exec.Command("bash", "-c", "source "+filepath.Join(s.repo, "scripts", "env.sh")+" && "+c.cmd)
		cmd.Env = append(os.Environ(), "AIRGAP_CACHE="+cache, "AIRGAP_STACK=dev", "PULUMI_CONFIG_PASSPHRASE=airgap-dev")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != c.want {
			t.Errorf("%s: got %q (err %v), want %q", c.cmd, out, err, c.want)
		}
	}
	if _, err := os.Stat(pack); err != nil {
		t.Fatalf("make setup has not built the policy pack: %v", err)
	}
	// A checkout where make setup has not built it: a preview is refused, naming it.
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{"env.sh", "policy.sh"} { // env.sh sources policy.sh
		b, err := os.ReadFile(filepath.Join(s.repo, "scripts", script))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, "scripts", script), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "-c", "source "+filepath.Join(repo, "scripts", "env.sh")+" && pulumi preview")
	cmd.Env = append(os.Environ(), "AIRGAP_CACHE="+cache, "AIRGAP_STACK=dev", "PULUMI_CONFIG_PASSPHRASE=airgap-dev")
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "args:") || !strings.Contains(string(out), "policy pack "+filepath.Join(repo, ".state", "bin", "airgap-site-policy")+" is missing") {
		t.Errorf("a preview without the policy pack: err %v:\n%s", err, out)
	}
}
