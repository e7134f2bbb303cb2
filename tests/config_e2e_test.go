//go:build e2e

package tests

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMisspeltKeys: a stack with a misspelt top-level key and a wrongly cased nested key fails
// one preview naming both, through the language host (pulumi preview) and in-process
// (airgap site preview), before any resource is declared.
func TestMisspeltKeys(t *testing.T) {
	t.Parallel() // a stack of its own; it never reaches the site
	s := &e2e
	project := stackProject(t, s.repo, "typo", "dev")
	for _, args := range [][]string{
		{"stack", "init", "typo"},
		{"config", "set", "-s", "typo", "--path", "regsitry.replicas", "3"},
		{"config", "set", "-s", "typo", "--path", "registry.nodeport", "32000"},
	} {
		if out, err := s.pulumiIn(t, project, args...); err != nil {
			t.Fatalf("pulumi %v: %v\n%s", args, err, out)
		}
	}
	defer s.pulumiIn(t, project, "stack", "rm", "typo", "--yes", "--force")
	want := []string{"airgap-site:regsitry: unknown key; did you mean registry?", "registry.nodeport: unknown key; did you mean nodePort?"}
	out, err := s.pulumiIn(t, project, "preview", "-s", "typo", "--policy-pack", s.policyPack)
	if err == nil {
		t.Errorf("pulumi preview accepted the misspelt keys:\n%s", lastLines(out, 30))
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("pulumi preview does not say %q:\n%s", w, lastLines(out, 30))
		}
	}
	cmd := exec.Command(s.airgap, "site", "preview", "-s", "typo", "--project", project, "--policy-pack", s.policyPack)
	cmd.Env = s.pulumiEnv()
	b, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("airgap site preview accepted the misspelt keys:\n%s", lastLines(string(b), 30))
	}
	for _, w := range want {
		if !strings.Contains(string(b), w) {
			t.Errorf("airgap site preview does not say %q:\n%s", w, lastLines(string(b), 30))
		}
	}
}
