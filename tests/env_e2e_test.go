//go:build e2e

package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnvRefusesDevPassphrase: scripts/env.sh gives the dev passphrase to the dev stack only,
// and its pulumi wrapper refuses another stack while that passphrase is set. Whatever gets
// past the wrapper (a child shell, `airgap site`) meets the program's own refusal, before it
// touches anything.
func TestEnvRefusesDevPassphrase(t *testing.T) {
	// Parallel: a project and a stack of its own (not osaka: TestExamplePreviews has it); it
	// creates nothing on the site (see tests/doc.go).
	t.Parallel()
	s := &e2e
	env := filepath.Join(s.repo, "scripts", "env.sh")
	// A stack nagoya made from the dev stack, as a careless copy would be.
	project := stackProject(t, s.repo, "nagoya", "kwok")
	if out, err := s.pulumiIn(t, project, "stack", "init", "nagoya"); err != nil {
		t.Fatalf("stack init nagoya: %v\n%s", err, out)
	}
	defer s.pulumiIn(t, project, "stack", "rm", "nagoya", "--yes", "--force")
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
		{"another stack without a passphrase", `source ` + env, []string{"AIRGAP_STACK=nagoya"}, true},
		{"another stack with the dev passphrase", `source ` + env, []string{"AIRGAP_STACK=nagoya", "PULUMI_CONFIG_PASSPHRASE=airgap-dev"}, true},
		{"another stack with its own passphrase", `source ` + env + ` && test "$PULUMI_CONFIG_PASSPHRASE" = s3cret`, []string{"AIRGAP_STACK=nagoya", "PULUMI_CONFIG_PASSPHRASE=s3cret"}, false},
		{"pulumi -s nagoya with the dev passphrase", `source ` + env + ` && pulumi -s nagoya config`, nil, true},
		{"pulumi stack init with the dev passphrase", `source ` + env + ` && pulumi stack init --stack=kyoto`, nil, true},
		{"pulumi -snagoya with the dev passphrase", `source ` + env + ` && pulumi -snagoya config`, nil, true},
		{"pulumi -s=nagoya with the dev passphrase", `source ` + env + ` && pulumi -s=nagoya config`, nil, true},
		// Past the wrapper: the program refuses ("nothing was touched" is its message).
		{"a child shell's pulumi preview -snagoya", `source ` + env + ` && bash -c 'pulumi preview -snagoya --non-interactive'`, site, true},
		{"airgap site preview -snagoya", `source ` + env + ` && ` + s.airgap + ` site preview -snagoya --policy-pack ` + s.policyPack + ``, site, true},
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
	if out, err := s.pulumiIn(t, project, "stack", "export", "-s", "nagoya"); err != nil || strings.Contains(out, "kubernetes:") {
		t.Errorf("stack nagoya after the refusals (err %v):\n%s", err, lastLines(out, 20))
	}
}
