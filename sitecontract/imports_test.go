package sitecontract

import (
	"os/exec"
	"strings"
	"testing"
)

// The policy pack, fleet and registrygc read the stack (or the site) from outside: they take
// its names from this package and never import the program or its components (which would
// link the whole program, and the Kubernetes and Docker SDKs, into the pack; registrygc, a
// client-go library, links no Pulumi SDK at all). This package imports nothing of the
// repository.
func TestReadersImportNoComponent(t *testing.T) {
	for pkg, forbidden := range map[string][]string{
		"airgap-site/policy":       {"airgap-site/components/", "airgap-site/cmd/"},
		"airgap-site/fleet":        {"airgap-site/components/", "airgap-site/cmd/"},
		"airgap-site/registrygc":   {"airgap-site/components/", "airgap-site/cmd/", "github.com/pulumi/"},
		"airgap-site/sitecontract": {"airgap-site/"},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep != pkg && strings.HasPrefix(dep, f) {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
