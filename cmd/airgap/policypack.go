package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// PolicyPackName is the policy pack binary's name: make setup writes .state/bin/airgap-site-policy
// beside .state/bin/airgap, and the kit has bin/airgap and policy/airgap-site-policy.
const PolicyPackName = "airgap-site-policy"

// findPolicyPack says which policy pack `airgap site preview|up` runs: the --policy-pack flag,
// else $POLICY_PACK (env.sh sets it), else the pack beside this binary (the repository's
// .state/bin, or the kit's policy/). There is no running without it: the air-gap invariants
// are checked at every preview and update.
func findPolicyPack(flag string, lookupEnv func(string) (string, bool), executable string) (string, error) {
	var tried []string
	check := func(path, from string) (string, error) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", fmt.Errorf("policy pack %q (%s): %w", path, from, err)
		}
		info, err := os.Stat(abs)
		if err != nil {
			return "", fmt.Errorf("policy pack %q (%s): %w", path, from, err)
		}
		if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("policy pack %q (%s) is not an executable file", path, from)
		}
		return abs, nil
	}
	if flag != "" {
		return check(flag, "--policy-pack")
	}
	if v, ok := lookupEnv("POLICY_PACK"); ok && v != "" {
		return check(v, "$POLICY_PACK")
	}
	if executable != "" {
		dir := filepath.Dir(executable)
		for _, p := range []string{filepath.Join(dir, PolicyPackName), filepath.Join(dir, "..", "policy", PolicyPackName)} {
			if abs, err := check(p, "beside the airgap binary"); err == nil {
				return abs, nil
			}
			tried = append(tried, p)
		}
	}
	return "", fmt.Errorf("the policy pack is required for preview and up, and none was found: pass --policy-pack <%s>, set POLICY_PACK (source env.sh), or keep %s beside the airgap binary (looked for %s)",
		PolicyPackName, PolicyPackName, strings.Join(tried, ", "))
}
