//go:build e2e

package tests

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyViolations previews, with the policy pack, the site program plus one deliberate
// violation of each mandatory policy (tests/policyfixture): every preview must fail, and its
// output must name the policy, the resource and how to fix it.
func TestPolicyViolations(t *testing.T) {
	// Parallel: a project and a stack of its own; its previews never reach the site (see
	// tests/doc.go).
	t.Parallel()
	s := &e2e
	project := stackProject(t, filepath.Join(s.repo, "tests", "policyfixture"), "policy", "kwok")
	mustIn := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := s.pulumiIn(t, project, args...)
		if err != nil {
			t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	mustIn(t, "stack", "init", "policy")

	cases := []struct{ violation, policy, resource, fix string }{
		{"image-unmirrored", "images-from-mirrored-registries", "fixture", "add \"gcr.io\" to talos.upstreams"},
		{"pull-always", "no-image-pull-policy-always", "fixture", "use IfNotPresent"},
		{"registry-redirect", "registry-s3-no-redirect", "fixture", "set storage.redirect.disable: true"},
		{"registry-open", "registry-serves-tls-and-requires-auth", "fixture", "set http.tls.certificate"},
		{"secret-in-configmap", "no-secrets-in-configmaps", "fixture", "credentials belong in a Secret"},
		{"nodeport-mismatch", "registry-nodeport-matches-mirrors", "fixture", "the registry Service's nodePort is 32091"},
		{"talos-url-key", "talos-mirror-patch-well-formed", "airgap-site-policy", "write the registry host[:port]"},
		{"tenant-drives", "minio-tenant-min-drives", "fixture", "MinIO needs at least 4"},
		// Bypass attempts: the workload's own plain-http annotation, a config key overridden
		// from the environment, a writable registry behind the nodes' NodePort.
		{"registry-open-annotated", "registry-serves-tls-and-requires-auth", "fixture", "set http.tls.certificate"},
		{"registry-env-override", "registry-s3-no-redirect", "fixture", "REGISTRY_STORAGE_REDIRECT_DISABLE"},
		{"pull-endpoint-writable", "registry-pull-endpoint-read-only", "fixture", "without storage.maintenance.readonly.enabled: true"},
	}
	for _, tc := range cases {
		t.Run(tc.violation, func(t *testing.T) {
			mustIn(t, "config", "set", "-s", "policy", "fixture:violation", tc.violation)
			out, err := s.pulumiIn(t, project, "preview", "-s", "policy", "--policy-pack", s.policyPack)
			if err == nil {
				t.Fatalf("preview passed with violation %s:\n%s", tc.violation, lastLines(out, 30))
			}
			for _, want := range []string{tc.policy, tc.resource, tc.fix, "mandatory"} {
				if !strings.Contains(out, want) {
					t.Errorf("preview output lacks %q:\n%s", want, lastLines(out, 30))
				}
			}
		})
	}
}
