package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindPolicyPack(t *testing.T) {
	dir := t.TempDir()
	write := func(path string, mode os.FileMode) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// The kit: bin/airgap and policy/airgap-site-policy.
	kitAirgap := filepath.Join(dir, "kit", "bin", "airgap")
	kitPack := write(filepath.Join(dir, "kit", "policy", PolicyPackName), 0o755)
	// The repository: .state/bin/airgap beside .state/bin/airgap-site-policy.
	repoAirgap := filepath.Join(dir, "state", "bin", "airgap")
	repoPack := write(filepath.Join(dir, "state", "bin", PolicyPackName), 0o755)
	other := write(filepath.Join(dir, "other", "pack"), 0o755)
	notExec := write(filepath.Join(dir, "other", "data"), 0o644)
	noEnv := func(string) (string, bool) { return "", false }
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) { return v, k == "POLICY_PACK" }
	}
	for _, tc := range []struct {
		name, flag string
		env        func(string) (string, bool)
		exe, want  string
		err        string
	}{
		{"flag first", other, env(repoPack), repoAirgap, other, ""},
		{"then POLICY_PACK", "", env(other), repoAirgap, other, ""},
		{"then beside the binary (repository)", "", noEnv, repoAirgap, repoPack, ""},
		{"then beside the binary (kit)", "", noEnv, kitAirgap, kitPack, ""},
		{"nowhere", "", noEnv, filepath.Join(dir, "elsewhere", "airgap"), "", "the policy pack is required"},
		{"a missing flag is not skipped", filepath.Join(dir, "missing"), env(other), repoAirgap, "", "--policy-pack"},
		{"a missing POLICY_PACK is not skipped", "", env(filepath.Join(dir, "missing")), repoAirgap, "", "$POLICY_PACK"},
		{"not executable", notExec, noEnv, repoAirgap, "", "not an executable file"},
	} {
		got, err := findPolicyPack(tc.flag, tc.env, tc.exe)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
