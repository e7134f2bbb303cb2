package siteconfig

import (
	"os"
	"regexp"
	"testing"
)

// TestRegistryVersionIsTheTestedOne: the registry image the stack deploys is the release the
// test bed builds (tools/distribution/go.mod), so the e2e suite tests what sites run.
func TestRegistryVersionIsTheTestedOne(t *testing.T) {
	b, err := os.ReadFile("../tools/distribution/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^require github\.com/distribution/distribution/v3 v(\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("tools/distribution/go.mod does not require github.com/distribution/distribution/v3")
	}
	if string(m[1]) != RegistryVersion {
		t.Errorf("the test bed builds distribution v%s but sites deploy registry:%s; change both together", m[1], RegistryVersion)
	}
	if DefaultRegistryImage != "docker.io/library/registry:"+RegistryVersion {
		t.Errorf("DefaultRegistryImage = %s", DefaultRegistryImage)
	}
}
